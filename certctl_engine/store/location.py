"""Where the store lives: resolving ``--db`` / ``CERTCTL_DATABASE_URL`` into a location.

Accepted forms: a file path (``./certctl.db``), ``sqlite:///absolute/path.db``,
``sqlite:///:memory:`` and ``postgresql://user[:password]@host[:port]/dbname`` (also
``postgres://``). Anything else is refused with a message naming the accepted forms.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from certctl_engine.errors import InvalidInput, StoreError

ACCEPTED_FORMS = "a file path, sqlite:///PATH or postgresql://USER@HOST:PORT/DBNAME"
DATABASE_URL_ENV = "CERTCTL_DATABASE_URL"


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """A resolved store location; ``path`` for SQLite, connection parts for PostgreSQL."""

    backend: str  # "sqlite" | "postgresql"
    path: Path | None = None
    host: str = ""
    port: int = 5432
    user: str = ""
    password: str = ""
    database: str = ""
    home: Path | None = None  # where files that belong with the store live (e.g. the key file)

    @property
    def is_sqlite(self) -> bool:
        return self.backend == "sqlite"

    @property
    def in_memory(self) -> bool:
        return self.is_sqlite and self.path is not None and str(self.path) == ":memory:"

    def describe(self) -> str:
        """Human description without the password."""
        if self.is_sqlite:
            return f"sqlite:{self.path}"
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def data_dir(self) -> Path:
        """Directory for files that belong with this store (e.g. the secret key file)."""
        if self.is_sqlite and not self.in_memory and self.path is not None:
            return self.path.parent
        return self.home if self.home is not None else default_data_dir()


def default_data_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$CERTCTL_HOME``, else ``$XDG_DATA_HOME/certctl``, else ``~/.local/share/certctl``."""
    env = os.environ if env is None else env
    if env.get("CERTCTL_HOME"):
        return Path(env["CERTCTL_HOME"]).expanduser()
    if env.get("XDG_DATA_HOME"):
        return Path(env["XDG_DATA_HOME"]).expanduser() / "certctl"
    return Path.home() / ".local" / "share" / "certctl"


def resolve_location(url_or_path: str | None, env: Mapping[str, str] | None = None) -> StoreLocation:
    """Turn what the user gave (or the environment, or the default) into a location."""
    env = os.environ if env is None else env
    raw = url_or_path if url_or_path else env.get(DATABASE_URL_ENV, "")
    raw = raw.strip()
    location = _resolve(raw, env)
    return dataclasses.replace(location, home=default_data_dir(env))


def _resolve(raw: str, env: Mapping[str, str]) -> StoreLocation:
    if not raw:
        return StoreLocation("sqlite", path=default_data_dir(env) / "certctl.db")
    if "://" not in raw:
        if raw == ":memory:":
            return StoreLocation("sqlite", path=Path(":memory:"))
        return StoreLocation("sqlite", path=Path(raw).expanduser().absolute())
    scheme = raw.split("://", 1)[0].lower()
    if scheme == "sqlite":
        rest = raw.split("://", 1)[1]
        if not rest.startswith("/") or rest == "/":
            raise InvalidInput(
                f"malformed store URL '{raw}': a SQLite URL needs a path, e.g. sqlite:///var/lib/certctl.db",
                field="db",
            )
        path = rest[1:]
        if path == ":memory:":
            return StoreLocation("sqlite", path=Path(":memory:"))
        return StoreLocation("sqlite", path=Path(unquote(path)).expanduser().absolute())
    if scheme in ("postgresql", "postgres"):
        return _postgres_location(raw)
    raise InvalidInput(f"unsupported store URL scheme '{scheme}' in '{raw}'; use {ACCEPTED_FORMS}", field="db")


def _postgres_location(raw: str) -> StoreLocation:
    parts = urlsplit(raw)
    try:
        port = parts.port or 5432
    except ValueError:
        raise InvalidInput(f"malformed store URL '{_redact(raw)}': the port is not a number", field="db") from None
    database = unquote(parts.path.lstrip("/"))
    if not parts.hostname:
        raise InvalidInput(f"malformed store URL '{_redact(raw)}': no host; use {ACCEPTED_FORMS}", field="db")
    if not database or "/" in database:
        raise InvalidInput(
            f"malformed store URL '{_redact(raw)}': name one database after the host, e.g. /certctl",
            field="db",
        )
    return StoreLocation(
        "postgresql",
        host=parts.hostname,
        port=port,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        database=database,
    )


def _redact(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.password:
        return raw.replace(f":{parts.password}@", ":***@")
    return raw


def ensure_directory(path: Path) -> None:
    """Create the store's directory or say clearly why it cannot be."""
    try:
        # Owner-only: the store holds the inventory and the key file that unlocks its secrets.
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot create the data directory {path}: {exc.strerror or exc}; "
            f"pass --db PATH or set {DATABASE_URL_ENV} to a writable place"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise StoreError(
            f"the data directory {path} is not writable; pass --db PATH or set {DATABASE_URL_ENV} to a writable place"
        )
