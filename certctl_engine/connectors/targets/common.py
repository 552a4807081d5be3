"""What every file-writing target connector does the same way: safe paths, snapshots, atomic writes,
rollback, and commands run as argument lists with a timeout."""

from __future__ import annotations

import contextlib
import grp
import hashlib
import os
import pwd
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key

from certctl_engine.errors import DeployError, InvalidInput
from certctl_engine.files import write_atomic

DEFAULT_COMMAND_TIMEOUT_SECONDS = 60.0


def _check_path_text(value: str, field: str) -> None:
    """Refuse what no file name can hold (a NUL byte, a character the file system encoding lacks)."""
    try:
        encoded = os.fsencode(value)
    except UnicodeEncodeError:
        raise InvalidInput(f"{field} holds characters no file name can have", field=field) from None
    if b"\x00" in encoded:
        raise InvalidInput(f"{field} contains a NUL byte, which no path can hold", field=field)


def base_directory(config: Mapping[str, Any], field: str = "directory") -> Path:
    value = config.get(field)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"the target needs '{field}', an absolute directory", field=field)
    _check_path_text(value, field)
    path = Path(value)
    if not path.is_absolute():
        raise InvalidInput(f"{field} '{value}' must be an absolute path", field=field)
    return path


def path_inside(directory: Path, name: Any, field: str) -> Path:
    """``name`` under ``directory``; absolute names, '..' and symlinks that lead outside are refused."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"{field} must be a file name", field=field)
    _check_path_text(str(directory), field)
    _check_path_text(name, field)
    relative = Path(name)
    if relative.is_absolute() or ".." in relative.parts:
        raise InvalidInput(f"{field} '{name}' must stay inside {directory}", field=field)
    candidate = directory / relative
    resolved = candidate.resolve()
    if not resolved.is_relative_to(directory.resolve()):
        raise InvalidInput(f"{field} '{name}' leads outside {directory} (through a symlink)", field=field)
    return candidate


def command(config: Mapping[str, Any], field: str) -> tuple[str, ...]:
    value = config.get(field)
    if value in (None, "", []):
        return ()
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(
            f"{field} must be a list of arguments (a program and its arguments), never a shell string", field=field
        )
    if not value or not value[0]:
        raise InvalidInput(f"{field} names no program", field=field)
    return tuple(value)


def run_command(argv: Sequence[str], *, what: str, timeout: float = DEFAULT_COMMAND_TIMEOUT_SECONDS) -> str:
    """Run without a shell; DeployError with the exit code and the end of stderr when it fails."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise DeployError(f"{what}: program '{argv[0]}' not found") from None
    except subprocess.TimeoutExpired:
        raise DeployError(f"{what} did not finish within {timeout:g}s: {' '.join(argv)}") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-10:]
        raise DeployError(f"{what} exited with {done.returncode}: " + (" | ".join(tail) or "no output"))
    return done.stdout


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class _Saved:
    path: Path
    data: bytes | None  # None: the file did not exist
    mode: int
    uid: int
    gid: int


class Snapshot:
    """The files a deployment is about to replace, as they were, to put back on failure."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self._saved: list[_Saved] = []
        for path in paths:
            try:
                info = path.stat()
                self._saved.append(_Saved(path, path.read_bytes(), info.st_mode & 0o7777, info.st_uid, info.st_gid))
            except FileNotFoundError:
                self._saved.append(_Saved(path, None, 0, -1, -1))

    def mode_of(self, path: Path) -> int | None:
        for saved in self._saved:
            if saved.path == path and saved.data is not None:
                return saved.mode
        return None

    def owner_of(self, path: Path) -> tuple[int, int] | None:
        for saved in self._saved:
            if saved.path == path and saved.data is not None:
                return saved.uid, saved.gid
        return None

    def restore(self) -> None:
        """Every file back as it was; files that did not exist are removed."""
        for saved in self._saved:
            if saved.data is None:
                with contextlib.suppress(FileNotFoundError):
                    saved.path.unlink()
                continue
            write_atomic(saved.path, saved.data, mode=saved.mode)
            if os.geteuid() == 0:
                with contextlib.suppress(OSError):
                    os.chown(saved.path, saved.uid, saved.gid)


# --------------------------------------------------------------------------- shared by server targets
# (NGINX, Apache, HAProxy, Caddy): programs that must exist, file modes and owners, key reuse.

_PACKAGES = {
    "nginx": "nginx",
    "apachectl": "apache2",
    "apache2": "apache2",
    "haproxy": "haproxy",
    "caddy": "caddy",
    "keytool": "openjdk-17-jre-headless",
    "postfix": "postfix",
    "doveconf": "dovecot-core",
    "doveadm": "dovecot-core",
}


def require_program(argv: Sequence[str], *, what: str, before_writing: bool = True) -> None:
    """DeployError naming the program (and the Debian package that has it) when ``argv[0]`` is not installed.

    Checked before anything is written, so a missing server leaves the files untouched.
    """
    program = argv[0]
    found = shutil.which(program) if os.sep not in program else (program if os.access(program, os.X_OK) else None)
    if found is None:
        package = _PACKAGES.get(Path(program).name)
        hint = f" (install the Debian package {package})" if package else ""
        raise DeployError(
            f"{what}: program '{program}' not found{hint}" + ("; nothing was written" if before_writing else "")
        )


def file_mode(config: Mapping[str, Any], field: str, default: int) -> int:
    """An octal file mode from the configuration (``0640``, ``"0640"`` or ``416``)."""
    value = config.get(field, default)
    if isinstance(value, str):
        try:
            value = int(value, 8)
        except ValueError:
            raise InvalidInput(f"{field} must be an octal file mode such as 0640", field=field) from None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0o777:
        raise InvalidInput(f"{field} must be a file mode from 0 to 0777", field=field)
    return value


def owner_ids(config: Mapping[str, Any]) -> tuple[int, int]:
    """(uid, gid) from ``owner``/``group`` (names or numbers), -1 for 'leave as is'."""
    uid = gid = -1
    owner, group = config.get("owner"), config.get("group")
    try:
        if owner not in (None, ""):
            uid = int(owner) if str(owner).isdigit() else pwd.getpwnam(str(owner)).pw_uid
        if group not in (None, ""):
            gid = int(group) if str(group).isdigit() else grp.getgrnam(str(group)).gr_gid
    except KeyError as exc:
        raise InvalidInput(f"no such user or group {exc.args[0]!r}", field="owner") from None
    if (uid not in (-1, os.geteuid()) or gid not in (-1, os.getegid())) and os.geteuid() != 0:
        raise InvalidInput("owner/group differ from the user certctl runs as, which only root can set", field="owner")
    return uid, gid


def timeout_seconds(config: Mapping[str, Any]) -> float:
    value = config.get("command_timeout_seconds", DEFAULT_COMMAND_TIMEOUT_SECONDS)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 3600:
        raise InvalidInput(
            "command_timeout_seconds must be a number of seconds from 1 to 3600", field="command_timeout_seconds"
        )
    return float(value)


def install_file(
    path: Path, data: bytes, *, secret: bool, snapshot: Snapshot, config: Mapping[str, Any], ids: tuple[int, int]
) -> None:
    """Write one file atomically, keeping the mode and owner of the file it replaces.

    A configured ``mode``/``key_mode`` wins; a new key is 0600 and an existing key never
    becomes readable by everyone. As root, the replaced file's owner and group carry over
    unless ``owner``/``group`` say otherwise.
    """
    configured = "key_mode" if secret else "mode"
    mode = file_mode(config, configured, 0o600 if secret else 0o644)
    existing = snapshot.mode_of(path)
    if configured not in config and existing is not None:
        mode = existing & ~0o007 if secret else existing
    write_atomic(path, data, mode=mode)
    previous = snapshot.owner_of(path) if os.geteuid() == 0 else None
    uid = ids[0] if ids[0] != -1 else (previous[0] if previous else -1)
    gid = ids[1] if ids[1] != -1 else (previous[1] if previous else -1)
    if (uid, gid) != (-1, -1):
        os.chown(path, uid, gid)


def unchanged(path: Path, data: bytes) -> bool:
    """True when ``path`` already holds exactly ``data`` (compared by SHA-256)."""
    try:
        return sha256(path.read_bytes()) == sha256(data)
    except FileNotFoundError:
        return False


def key_on_disk(certificate_pem: str, path: Path) -> bytes:
    """The private key already at ``path`` (agent-made keys never travel), checked against the certificate."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DeployError(f"the key stays on this machine but {path} does not exist") from None
    check_key_matches(certificate_pem, data, where=str(path))
    return data


def check_key_matches(certificate_pem: str, key_pem: bytes, *, where: str = "the bundle") -> None:
    """DeployError unless ``key_pem`` is the private key of the certificate.

    Checked before writing: some servers (httpd's graceful restart) only notice a mismatch
    while reloading, and then stop serving altogether.
    """
    try:
        key = load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise DeployError(f"{where} holds no readable private key: {exc}") from None
    served = x509.load_pem_x509_certificate(certificate_pem.encode()).public_key()
    spki = PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(Encoding.DER, spki) != served.public_bytes(Encoding.DER, spki):
        raise DeployError(f"the key in {where} does not belong to the certificate being deployed; nothing was written")
