"""The generic Files target: certificate, chain, full chain, key and combined PEM (or a DER
certificate) in one directory, with an optional command after the write."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certctl_engine.connectors.targets.base import DeploymentBundle, DeploymentResult
from certctl_engine.connectors.targets.common import (
    DEFAULT_COMMAND_TIMEOUT_SECONDS,
    Snapshot,
    base_directory,
    command,
    file_mode,
    install_file,
    key_on_disk,
    owner_ids,
    path_inside,
    run_command,
)
from certctl_engine.errors import CertctlError, DeployError, InvalidInput
from certctl_engine.faults import crash_point

FILE_FIELDS = ("cert_file", "chain_file", "fullchain_file", "key_file", "combined_file")
_SECRET_FILES = ("key_file", "combined_file")


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
        file_mode(config, "mode", 0o644)
        file_mode(config, "key_mode", 0o600)
        owner_ids(config)
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
        return key_on_disk(bundle.certificate_pem, path_inside(directory, config["key_file"], "key_file"))

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
        snapshot = Snapshot(list(paths.values()))
        try:
            ids = owner_ids(config)
            for field, path in paths.items():
                install_file(
                    path, wanted[field], secret=field in _SECRET_FILES, snapshot=snapshot, config=config, ids=ids
                )
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
