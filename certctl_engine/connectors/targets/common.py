"""What every file-writing target connector does the same way: safe paths, snapshots, atomic writes,
rollback, and commands run as argument lists with a timeout."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certctl_engine.errors import DeployError, InvalidInput
from certctl_engine.files import write_atomic

DEFAULT_COMMAND_TIMEOUT_SECONDS = 60.0


def base_directory(config: Mapping[str, Any], field: str = "directory") -> Path:
    value = config.get(field)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"the target needs '{field}', an absolute directory", field=field)
    path = Path(value)
    if not path.is_absolute():
        raise InvalidInput(f"{field} '{value}' must be an absolute path", field=field)
    return path


def path_inside(directory: Path, name: Any, field: str) -> Path:
    """``name`` under ``directory``; absolute names, '..' and symlinks that lead outside are refused."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"{field} must be a file name", field=field)
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
