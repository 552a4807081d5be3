"""Traefik: the full chain and key files plus a file-provider dynamic configuration file that lists
them under ``tls.certificates``, which Traefik watches and reloads by itself.

The file follows Traefik's documented dynamic configuration (v2 and v3, "TLS / Certificates
definition", https://doc.traefik.io/traefik/https/tls/): an array of tables
``[[tls.certificates]]`` with ``certFile``, ``keyFile`` and optionally ``stores``, and the
default certificate as ``[tls.stores.default.defaultCertificate]`` (any store other than
``default`` is ignored by Traefik). It is TOML, which the file provider reads like YAML
(https://doc.traefik.io/traefik/providers/file/); one file per target, so the certificates
of several targets in one watched directory never overwrite each other.

Traefik's file provider watches its ``directory`` (or ``filename``) with fsnotify and
reloads on any change, skipping files that do not end in ``.toml``/``.yml``/``.yaml``.
Every file here is written to a temporary name beginning with a dot and renamed over the
old one, so Traefik never reads half a file. The certificate and key are written first and
the configuration file last; that file carries the certificate's SHA-256 fingerprint, so
every new version changes it and the final rename is what makes Traefik read the complete
new pair. Pointing ``providers.file.directory`` at a ``config_directory`` that holds only
the configuration files makes that rename the only event Traefik acts on.

Traefik has no configuration test and needs no reload command; ``post_deploy_command``
(an argument list) and ``check_after_reload`` verify the result, and any failure puts every
file back as it was.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certctl_engine.connectors.targets.base import DeploymentBundle, DeploymentResult
from certctl_engine.connectors.targets.common import base_directory, key_on_disk, path_inside
from certctl_engine.connectors.targets.server import PlannedFile, ServerConnector
from certctl_engine.errors import DeployError, InvalidInput

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_STORE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def toml_string(value: str) -> str:
    """``value`` as a TOML basic string: quotes, backslashes and every control character escaped."""
    out = ['"']
    for char in value:
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


class TraefikConnector(ServerConnector):
    """Config (beyond the common server fields): name (required; letters, digits, '.', '_', '-':
    the default file names come from it), fullchain_file ({name}.crt), key_file ({name}.key),
    config_directory (absolute; the directory Traefik's file provider watches, default directory),
    config_file ({name}.toml, inside config_directory), stores (a list of TLS store names for the
    certificate), default_certificate (bool: also make it the default store's default certificate)."""

    server = "traefik"

    def validate_server_config(self, config: Mapping[str, Any], directory: Path) -> None:
        self.paths(config)
        self._stores(config)
        value = config.get("default_certificate", False)
        if not isinstance(value, bool):
            raise InvalidInput("default_certificate must be true or false", field="default_certificate")

    def _name(self, config: Mapping[str, Any]) -> str:
        name = config.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise InvalidInput(
                "the Traefik target needs 'name' (up to 100 letters, digits, '.', '_' or '-', starting with a "
                "letter or digit): it names this target's files so that targets sharing a directory stay apart",
                field="name",
            )
        return name

    def _stores(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        value = config.get("stores")
        if value in (None, []):
            return ()
        if not isinstance(value, (list, tuple)) or not all(isinstance(s, str) and _STORE.fullmatch(s) for s in value):
            raise InvalidInput("stores must be a list of TLS store names (letters, digits, '_', '-')", field="stores")
        return tuple(value)

    def paths(self, config: Mapping[str, Any]) -> dict[str, Path]:
        directory = base_directory(config)
        name = self._name(config)
        config_directory = base_directory(config, "config_directory") if config.get("config_directory") else directory
        found = {
            "fullchain_file": path_inside(directory, config.get("fullchain_file", f"{name}.crt"), "fullchain_file"),
            "key_file": path_inside(directory, config.get("key_file", f"{name}.key"), "key_file"),
            "config_file": path_inside(config_directory, config.get("config_file", f"{name}.toml"), "config_file"),
        }
        if found["config_file"].suffix != ".toml":
            raise InvalidInput("config_file must end in .toml (the format certctl writes)", field="config_file")
        if len(set(found.values())) != len(found):
            raise InvalidInput("fullchain_file, key_file and config_file must be three different files")
        return found

    def dynamic_configuration(self, config: Mapping[str, Any], fingerprint: str) -> str:
        """The TOML that Traefik's file provider reads: this target's certificate under tls.certificates."""
        paths = self.paths(config)
        cert, key = toml_string(str(paths["fullchain_file"])), toml_string(str(paths["key_file"]))
        lines = [
            "# managed by certctl: rewritten on every deployment",
            f"# certificate sha256 {fingerprint}",
            "",
            "[[tls.certificates]]",
            f"  certFile = {cert}",
            f"  keyFile = {key}",
        ]
        stores = self._stores(config)
        if stores:
            lines.append("  stores = [" + ", ".join(toml_string(s) for s in stores) + "]")
        if config.get("default_certificate"):
            lines += ["", "[tls.stores.default.defaultCertificate]", f"  certFile = {cert}", f"  keyFile = {key}"]
        return "\n".join(lines) + "\n"

    def snippet(self, config: Mapping[str, Any]) -> str:
        """Traefik's static configuration lines that enable the file provider on the watched directory."""
        directory = self.paths(config)["config_file"].parent
        return f"[providers.file]\n  directory = {toml_string(str(directory))}\n  watch = true\n"

    def deploy_batch(self, items: Sequence[tuple[DeploymentBundle, Mapping[str, Any]]]) -> DeploymentResult:
        """As every server target, but said plainly: Traefik needs no configuration test or reload."""
        result = super().deploy_batch(items)
        if not result.changed:
            return result
        written = result.details.get("written", len(result.files))
        return dataclasses.replace(result, message=f"wrote {written} file(s); its file provider watch picks them up")

    def plan(self, bundle: DeploymentBundle, config: Mapping[str, Any], directory: Path) -> list[PlannedFile]:
        paths = self.paths(config)
        if not paths["config_file"].parent.is_dir():
            raise DeployError(f"config_directory {paths['config_file'].parent} does not exist")
        key = (
            bundle.key_pem.encode()
            if bundle.key_pem is not None
            else key_on_disk(bundle.certificate_pem, paths["key_file"])
        )
        leaf = x509.load_pem_x509_certificate(bundle.certificate_pem.encode())
        fingerprint = hashlib.sha256(leaf.public_bytes(Encoding.DER)).hexdigest()
        files: Sequence[tuple[str, bytes, bool]] = (
            ("fullchain_file", bundle.fullchain_pem.encode(), False),
            ("key_file", key, True),
            ("config_file", self.dynamic_configuration(config, fingerprint).encode(), False),
        )
        return [PlannedFile(field, paths[field], data, secret=secret) for field, data, secret in files]
