"""The generic Files target: certificate, chain, full chain, key and combined PEM (or a DER
certificate) in one directory, with an optional command after the write."""

from __future__ import annotations

import grp
import os
import pwd
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key

from certctl_engine.connectors.targets.base import DeploymentBundle, DeploymentResult
from certctl_engine.connectors.targets.common import (
    DEFAULT_COMMAND_TIMEOUT_SECONDS,
    Snapshot,
    base_directory,
    command,
    path_inside,
    run_command,
)
from certctl_engine.errors import CertctlError, DeployError, InvalidInput
from certctl_engine.faults import crash_point
from certctl_engine.files import write_atomic

FILE_FIELDS = ("cert_file", "chain_file", "fullchain_file", "key_file", "combined_file")
_SECRET_FILES = ("key_file", "combined_file")


def _mode(config: Mapping[str, Any], field: str, default: int) -> int:
    value = config.get(field, default)
    if isinstance(value, str):
        try:
            value = int(value, 8)
        except ValueError:
            raise InvalidInput(f"{field} must be an octal file mode such as 0640", field=field) from None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0o777:
        raise InvalidInput(f"{field} must be a file mode from 0 to 0777", field=field)
    return value


def _ids(config: Mapping[str, Any]) -> tuple[int, int]:
    """(uid, gid) to give the files, -1 for 'leave as is'."""
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


class FilesConnector:
    """Config: directory (absolute), cert_file, chain_file, fullchain_file, key_file, combined_file (names
    inside it; at least one), format pem|der (DER writes the certificate only), mode (0644), key_mode
    (0600), owner, group, post_deploy_command (argument list), command_timeout_seconds (60)."""

    def validate_config(self, config: Mapping[str, Any]) -> None:
        directory = base_directory(config)
        if not any(config.get(f) for f in FILE_FIELDS):
            raise InvalidInput(f"name at least one file: {', '.join(FILE_FIELDS)}", field="cert_file")
        for field in FILE_FIELDS:
            if config.get(field):
                path_inside(directory, config[field], field)
        if str(config.get("format", "pem")).lower() not in ("pem", "der"):
            raise InvalidInput("format must be pem or der", field="format")
        _mode(config, "mode", 0o644)
        _mode(config, "key_mode", 0o600)
        _ids(config)
        command(config, "post_deploy_command")

    def _files(self, bundle: DeploymentBundle, config: Mapping[str, Any], key: bytes | None) -> dict[str, bytes]:
        der = str(config.get("format", "pem")).lower() == "der"
        leaf = bundle.certificate_pem.encode()
        contents: dict[str, bytes | None] = {
            "cert_file": x509.load_pem_x509_certificate(leaf).public_bytes(Encoding.DER) if der else leaf,
            "chain_file": bundle.chain_pem.encode(),
            "fullchain_file": bundle.fullchain_pem.encode(),
            "key_file": key,
            "combined_file": (bundle.fullchain_pem.encode() + key) if key else None,
        }
        wanted: dict[str, bytes] = {}
        for field in FILE_FIELDS:
            if config.get(field):
                data = contents[field]
                if data is None:
                    continue
                wanted[field] = data
        return wanted

    def _key(self, bundle: DeploymentBundle, config: Mapping[str, Any], directory: Path) -> bytes | None:
        """The key to write: the bundle's, or (agent-made keys) the one on disk, checked against the certificate."""
        if bundle.key_pem is not None:
            return bundle.key_pem.encode()
        if not config.get("key_file") and not config.get("combined_file"):
            return None
        if not config.get("key_file"):
            raise DeployError("combined_file needs the private key, and this version has none certctl holds")
        path = path_inside(directory, config["key_file"], "key_file")
        try:
            data = path.read_bytes()
            key = load_pem_private_key(data, password=None)
        except FileNotFoundError:
            raise DeployError(f"the key stays on this machine but {path} does not exist") from None
        except (ValueError, TypeError) as exc:
            raise DeployError(f"{path} holds no readable private key: {exc}") from None
        served = x509.load_pem_x509_certificate(bundle.certificate_pem.encode()).public_key()
        spki = PublicFormat.SubjectPublicKeyInfo
        if key.public_key().public_bytes(Encoding.DER, spki) != served.public_bytes(Encoding.DER, spki):
            raise DeployError(f"the key in {path} does not belong to the certificate being deployed")
        return data

    def deploy(self, bundle: DeploymentBundle, config: Mapping[str, Any]) -> DeploymentResult:
        self.validate_config(config)
        directory = base_directory(config)
        if not directory.is_dir():
            raise DeployError(f"directory {directory} does not exist")
        key = self._key(bundle, config, directory)
        wanted = self._files(bundle, config, key)
        paths = {field: path_inside(directory, config[field], field) for field in wanted}
        unchanged = all(p.exists() and p.read_bytes() == wanted[f] for f, p in paths.items())
        if unchanged:
            return DeploymentResult(False, tuple(str(p) for p in paths.values()), "the files already hold this version")
        uid, gid = _ids(config)
        snapshot = Snapshot(list(paths.values()))
        try:
            for field, path in paths.items():
                secret = field in _SECRET_FILES
                configured = "key_mode" if secret else "mode"
                mode = _mode(config, configured, 0o600 if secret else 0o644)
                existing = snapshot.mode_of(path)
                if configured not in config and existing is not None:
                    # An existing file keeps its mode; a key never becomes readable by everyone.
                    mode = existing & ~0o007 if secret else existing
                write_atomic(path, wanted[field], mode=mode)
                owner = snapshot.owner_of(path)
                target_uid = uid if uid != -1 else (owner[0] if owner and os.geteuid() == 0 else -1)
                target_gid = gid if gid != -1 else (owner[1] if owner and os.geteuid() == 0 else -1)
                if (target_uid, target_gid) != (-1, -1):
                    os.chown(path, target_uid, target_gid)
                crash_point("deployment.partial")
            post = command(config, "post_deploy_command")
            if post:
                timeout = float(config.get("command_timeout_seconds", DEFAULT_COMMAND_TIMEOUT_SECONDS))
                run_command(post, what="post_deploy_command", timeout=timeout)
        except (CertctlError, OSError) as exc:
            snapshot.restore()
            message = exc.message if isinstance(exc, CertctlError) else f"{exc.strerror or exc}"
            raise DeployError(f"deployment to {directory} rolled back: {message}") from None
        return DeploymentResult(True, tuple(str(p) for p in paths.values()), f"wrote {len(paths)} file(s)")
