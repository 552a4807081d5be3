"""A throwaway PostgreSQL cluster on loopback for the test session.

``PostgresServer().start()`` runs initdb into a fresh temporary directory and
starts a server on 127.0.0.1 on a free port, with its socket in that directory,
so it never touches a system cluster. ``stop()`` kills it and removes the
directory. As root, initdb and pg_ctl run as the ``postgres`` user, since
PostgreSQL refuses to run as root.

Environment:

* ``CERTCTL_TEST_POSTGRES_URL``: admin URL of an existing server to use instead
  (e.g. ``postgresql://postgres@db:5432/postgres``); nothing is started then.
* ``CERTCTL_PG_BIN``: directory holding ``initdb`` and ``pg_ctl``.
* ``CI`` (non-empty) or ``CERTCTL_REQUIRE_POSTGRES=1``: a missing PostgreSQL
  fails the PostgreSQL tests instead of skipping them (see ``postgres_required``).
"""

from __future__ import annotations

import atexit
import glob
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

INSTALL_HINT = "install it with: apt-get install postgresql"
_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_START_ATTEMPTS = 3


class PostgresUnavailable(Exception):
    """PostgreSQL cannot be used here; the message says what is missing and how to fix it."""


def postgres_required() -> bool:
    """True when a missing PostgreSQL must fail the tests rather than skip them."""
    return bool(os.environ.get("CI")) or os.environ.get("CERTCTL_REQUIRE_POSTGRES") == "1"


def find_pg_bindir() -> Path:
    """The directory holding initdb and pg_ctl, or PostgresUnavailable."""
    explicit = os.environ.get("CERTCTL_PG_BIN")
    if explicit:
        bindir = Path(explicit)
        if not (bindir / "pg_ctl").is_file() or not (bindir / "initdb").is_file():
            raise PostgresUnavailable(f"CERTCTL_PG_BIN={explicit} holds no pg_ctl and initdb; {INSTALL_HINT}")
        return bindir

    def version_key(path: str) -> tuple[int, ...]:
        version = Path(path).parent.parent.name  # /usr/lib/postgresql/<ver>/bin/pg_ctl
        return tuple(int(part) for part in re.findall(r"\d+", version))

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=version_key)
    for pg_ctl in reversed(candidates):
        bindir = Path(pg_ctl).parent
        if (bindir / "initdb").is_file():
            return bindir

    on_path = shutil.which("pg_ctl")
    if on_path:
        bindir = Path(on_path).resolve().parent
        if (bindir / "initdb").is_file():
            return bindir

    raise PostgresUnavailable(
        "PostgreSQL server binaries (pg_ctl, initdb) not found in /usr/lib/postgresql/*/bin "
        f"or on PATH; {INSTALL_HINT} (or set CERTCTL_PG_BIN to their directory)"
    )


def _psycopg2():
    try:
        import psycopg2
    except ImportError as exc:
        raise PostgresUnavailable(
            "the Python driver psycopg2 is not installed; install it with: pip install -e '.[test,postgres]'"
        ) from exc
    return psycopg2


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no server log)"
    return "\n".join(text.splitlines()[-lines:])


class PostgresServer:
    """A PostgreSQL server for tests: a throwaway local cluster, or an existing server."""

    host: str
    port: int

    def __init__(self) -> None:
        self.external_url = os.environ.get("CERTCTL_TEST_POSTGRES_URL") or None
        self.bindir: Path | None = None
        self.basedir: Path | None = None
        self._running = False
        if self.external_url:
            parts = urlsplit(self.external_url)
            self.host = parts.hostname or "localhost"
            self.port = parts.port or 5432
        else:
            self.host = "127.0.0.1"
            self.port = _free_port()

    # -- URLs -----------------------------------------------------------------

    @property
    def admin_url(self) -> str:
        if self.external_url:
            return self.external_url
        return f"postgresql://postgres@{self.host}:{self.port}/postgres"

    def url_for(self, name: str) -> str:
        """The URL of database ``name`` on this server."""
        parts = urlsplit(self.admin_url)
        return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> None:
        _psycopg2()
        if self.external_url:
            self._check_connection()
            return
        if self._running:
            return
        self.bindir = find_pg_bindir()
        as_server_user = self._as_server_user()
        last_error: RuntimeError | None = None
        for _ in range(_START_ATTEMPTS):
            try:
                self._start_cluster(as_server_user)
            except _PortTaken as exc:  # another process grabbed the port: retry on a new one
                last_error = exc
                self.port = _free_port()
                continue
            atexit.register(self.stop)
            return
        assert last_error is not None
        raise last_error

    def stop(self) -> None:
        if self.external_url or self.basedir is None:
            return
        basedir, self.basedir = self.basedir, None
        if self._running:
            self._running = False
            assert self.bindir is not None
            pg_ctl_stop = [
                str(self.bindir / "pg_ctl"),
                "stop",
                "-D",
                str(basedir / "data"),
                "-m",
                "immediate",
            ]
            subprocess.run(
                self._as_server_user()([*pg_ctl_stop, "-w"]),
                cwd=basedir,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=60,
                check=False,
            )
        shutil.rmtree(basedir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- databases ------------------------------------------------------------

    def create_database(self, name: str | None = None) -> str:
        """Create a fresh database (a unique name when None) and return its URL."""
        if name is None:
            name = f"certctl_test_{uuid.uuid4().hex[:16]}"
        self._check_name(name)
        from psycopg2 import sql

        with self._admin_connection() as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(sql.Identifier(name)))
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, disconnecting its sessions (PG >= 13)."""
        self._check_name(name)
        from psycopg2 import sql

        with self._admin_connection() as conn, conn.cursor() as cur:
            force = sql.SQL(" WITH (FORCE)") if conn.server_version >= 130000 else sql.SQL("")
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)) + force)

    # -- internals ------------------------------------------------------------

    @staticmethod
    def _check_name(name: str) -> None:
        if not _NAME_RE.match(name):
            raise ValueError(f"invalid test database name {name!r}: use [a-z_][a-z0-9_]*")

    def _admin_connection(self):
        psycopg2 = _psycopg2()
        conn = psycopg2.connect(self.admin_url, connect_timeout=10)
        conn.autocommit = True
        return _Closing(conn)

    def _check_connection(self) -> None:
        psycopg2 = _psycopg2()
        try:
            with self._admin_connection():
                pass
        except psycopg2.OperationalError as exc:
            raise PostgresUnavailable(
                f"cannot connect to CERTCTL_TEST_POSTGRES_URL={self.admin_url}: {exc}".strip()
            ) from exc

    @staticmethod
    def _as_server_user() -> Callable[[list[str]], list[str]]:
        """A function wrapping a command so that it runs as the postgres user when we are root."""
        if os.geteuid() != 0:
            return lambda argv: argv
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable(
                "running as root, but there is no 'postgres' OS user to run the server as "
                f"(PostgreSQL refuses to run as root); {INSTALL_HINT}, which creates it"
            ) from None
        if shutil.which("runuser"):
            return lambda argv: ["runuser", "-u", "postgres", "--", *argv]
        if shutil.which("su"):
            return lambda argv: ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(argv)]
        raise PostgresUnavailable(
            "running as root, but neither runuser nor su is available to run PostgreSQL as 'postgres'"
        )

    def _start_cluster(self, as_server_user: Callable[[list[str]], list[str]]) -> None:
        assert self.bindir is not None
        basedir = Path(tempfile.mkdtemp(prefix="certctl-pg-"))
        self.basedir = basedir
        datadir, log = basedir / "data", basedir / "postgres.log"
        if os.geteuid() == 0:
            import pwd

            entry = pwd.getpwnam("postgres")
            os.chown(basedir, entry.pw_uid, entry.pw_gid)

        def run(argv: list[str], what: str) -> None:
            try:
                result = subprocess.run(
                    as_server_user(argv),
                    cwd=basedir,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                self.stop()
                raise RuntimeError(f"PostgreSQL {what} timed out; server log:\n{_tail(log)}") from exc
            if result.returncode != 0:
                log_tail = _tail(log)
                self.stop()
                message = (
                    f"PostgreSQL {what} failed (exit {result.returncode}): {' '.join(argv)}\n"
                    f"{result.stdout}{result.stderr}\nserver log:\n{log_tail}"
                )
                if "Address already in use" in log_tail:
                    raise _PortTaken(message)
                raise RuntimeError(message)

        run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(datadir),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "--no-locale",
            ],
            "initdb",
        )
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-p {self.port}",
                f"-k {shlex.quote(str(basedir))}",
                "-c fsync=off",
                "-c full_page_writes=off",
                "-c synchronous_commit=off",
                "-c max_connections=200",
            ]
        )
        self._running = True  # from here on stop() must run pg_ctl stop
        run(
            [
                str(self.bindir / "pg_ctl"),
                "start",
                "-D",
                str(datadir),
                "-w",
                "-t",
                "60",
                "-l",
                str(log),
                "-o",
                options,
            ],
            "start",
        )


class _PortTaken(RuntimeError):
    pass


class _Closing:
    """``with`` support that closes a psycopg2 connection (its own ``with`` only ends a transaction)."""

    def __init__(self, conn) -> None:
        self.conn = conn

    def __enter__(self):
        return self.conn

    def __exit__(self, *exc_info: object) -> None:
        self.conn.close()
