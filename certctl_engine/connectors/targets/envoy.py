"""Envoy: an SDS file holding one TLS certificate Secret, which Envoy watches (path-based SDS), and,
unless the certificate and key travel inline in it, the full chain and key files it names.

The file follows Envoy's filesystem subscription format (the DiscoveryResponse shape shown in
"Secret discovery service (SDS)", https://www.envoyproxy.io/docs/envoy/latest/configuration/
security/secret): ``{"resources": [{"@type": "type.googleapis.com/envoy.extensions.
transport_sockets.tls.v3.Secret", "name": ..., "tls_certificate": {"certificate_chain": DataSource,
"private_key": DataSource}}]}``, where a DataSource (``envoy.config.core.v3.DataSource``) is
``filename``, ``inline_string`` or ``inline_bytes`` (base64, the proto3 JSON form of bytes).
Envoy picks the parser from the extension, so the file is JSON and ends in ``.json``. Envoy
accepts the file only when its Secret ``name`` equals the ``name`` of the listener's
``SdsSecretConfig`` ("Unexpected SDS secret (expecting …)" otherwise), and that name must not
be empty (``SdsSecretConfig.name`` has ``min_len: 1``).

How Envoy notices a change (``PathConfigSource`` and ``TlsCertificate`` in the v3 API): it
watches the SDS file's path for moves ("in general only moves are atomic"), and for a Secret
loaded from a file it also watches the parent directories of ``certificate_chain`` and
``private_key`` files for moves, re-reading the pair together. Every file here is written to a
temporary name and renamed over the old one, so each change is one move Envoy sees whole. With
``data_source`` ``inline_string`` or ``inline_bytes`` the SDS file alone carries the chain and the
key, one rename switches both at once, and the file is 0600 like any key.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from certctl_engine.connectors.targets.base import DeploymentBundle, DeploymentResult
from certctl_engine.connectors.targets.common import base_directory, key_on_disk, path_inside
from certctl_engine.connectors.targets.server import PlannedFile, ServerConnector
from certctl_engine.errors import InvalidInput

SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
DATA_SOURCES = ("filename", "inline_string", "inline_bytes")
_FILE_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def secret_name(config: Mapping[str, Any]) -> str:
    """The Secret's name: required, since Envoy rejects a file whose name differs from the listener's."""
    name = config.get("secret_name")
    if not isinstance(name, str) or not name:
        raise InvalidInput(
            "the Envoy target needs 'secret_name', the name the listener's SdsSecretConfig asks for "
            "(Envoy refuses an empty one)",
            field="secret_name",
        )
    if name != name.strip() or not name.isprintable():
        raise InvalidInput(
            "secret_name must not hold control characters or surrounding spaces: Envoy compares it "
            "byte for byte with the SdsSecretConfig name",
            field="secret_name",
        )
    return name


class EnvoyConnector(ServerConnector):
    """Config (beyond the common server fields): secret_name (required), sds_file (the SDS file, .json;
    default {secret_name}.json when the name is a plain file name), data_source (filename: the file
    references fullchain_file and key_file; inline_string or inline_bytes: the PEMs go into the SDS
    file), fullchain_file ({secret_name}.crt), key_file ({secret_name}.key; with inline data, read
    only when the key never left this machine)."""

    server = "envoy"

    def validate_server_config(self, config: Mapping[str, Any], directory: Path) -> None:
        self.paths(config)

    def data_source(self, config: Mapping[str, Any]) -> str:
        value = config.get("data_source", "filename")
        if value not in DATA_SOURCES:
            raise InvalidInput(f"data_source must be one of {', '.join(DATA_SOURCES)}", field="data_source")
        return str(value)

    def _default(self, config: Mapping[str, Any], field: str, suffix: str) -> Any:
        """The configured name for ``field``, else one made from the secret name (when that is file-safe)."""
        if field in config:
            return config[field]
        name = secret_name(config)
        if not _FILE_SAFE.fullmatch(name):
            raise InvalidInput(f"secret_name '{name}' is not a plain file name: give {field} explicitly", field=field)
        return f"{name}{suffix}"

    def paths(self, config: Mapping[str, Any]) -> dict[str, Path]:
        """Every file this target may touch (with inline data, only sds_file is written)."""
        directory = base_directory(config)
        secret_name(config)
        sds = path_inside(directory, self._default(config, "sds_file", ".json"), "sds_file")
        if sds.suffix != ".json":
            raise InvalidInput(
                "sds_file must end in .json: Envoy picks its parser from the extension", field="sds_file"
            )
        found = {
            "fullchain_file": path_inside(directory, self._default(config, "fullchain_file", ".crt"), "fullchain_file"),
            "key_file": path_inside(directory, self._default(config, "key_file", ".key"), "key_file"),
            "sds_file": sds,
        }
        if len(set(found.values())) != len(found):
            raise InvalidInput("fullchain_file, key_file and sds_file must be three different files")
        self.data_source(config)
        return found

    def sds_document(self, config: Mapping[str, Any], fullchain_pem: bytes, key_pem: bytes) -> dict[str, Any]:
        """The SDS file's content: one Secret with the certificate chain and the private key."""
        source = self.data_source(config)
        paths = self.paths(config)
        if source == "filename":
            chain: dict[str, str] = {"filename": str(paths["fullchain_file"])}
            key: dict[str, str] = {"filename": str(paths["key_file"])}
        elif source == "inline_string":
            chain, key = {"inline_string": fullchain_pem.decode()}, {"inline_string": key_pem.decode()}
        else:
            chain = {"inline_bytes": base64.b64encode(fullchain_pem).decode()}
            key = {"inline_bytes": base64.b64encode(key_pem).decode()}
        secret = {
            "@type": SECRET_TYPE,
            "name": secret_name(config),
            "tls_certificate": {"certificate_chain": chain, "private_key": key},
        }
        return {"resources": [secret]}

    def snippet(self, config: Mapping[str, Any]) -> str:
        """The lines for a listener's ``common_tls_context`` that load the Secret from the SDS file."""
        paths = self.paths(config)
        return (
            "tls_certificate_sds_secret_configs:\n"
            f"- name: {json.dumps(secret_name(config))}\n"
            "  sds_config:\n"
            "    resource_api_version: V3\n"
            "    path_config_source:\n"
            f"      path: {json.dumps(str(paths['sds_file']))}\n"
        )

    def deploy_batch(self, items: Sequence[tuple[DeploymentBundle, Mapping[str, Any]]]) -> DeploymentResult:
        """As every server target, but said plainly: Envoy needs no configuration test or reload."""
        result = super().deploy_batch(items)
        if not result.changed:
            return result
        written = result.details.get("written", len(result.files))
        message = f"wrote {written} file(s); Envoy reloads the secret when it sees the moves"
        return dataclasses.replace(result, message=message)

    def plan(self, bundle: DeploymentBundle, config: Mapping[str, Any], directory: Path) -> list[PlannedFile]:
        paths = self.paths(config)
        key = (
            bundle.key_pem.encode()
            if bundle.key_pem is not None
            else key_on_disk(bundle.certificate_pem, paths["key_file"])
        )
        fullchain = bundle.fullchain_pem.encode()
        document = json.dumps(self.sds_document(config, fullchain, key), indent=2) + "\n"
        inline = self.data_source(config) != "filename"
        planned = [] if inline else [PlannedFile("fullchain_file", paths["fullchain_file"], fullchain)]
        if not inline:
            planned.append(PlannedFile("key_file", paths["key_file"], key, secret=True))
        planned.append(PlannedFile("sds_file", paths["sds_file"], document.encode(), secret=inline))
        return planned
