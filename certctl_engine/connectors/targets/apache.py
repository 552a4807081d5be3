"""Apache httpd: certificate, chain and key files (or the full chain and key), ``apachectl
configtest``, then a graceful restart.

A graceful restart re-reads the configuration in the parent; a configuration that fails
there stops httpd altogether, so the configuration test always runs first and a failure
there never reaches the running server.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from certctl_engine.connectors.targets.base import DeploymentBundle
from certctl_engine.connectors.targets.common import base_directory, command, key_on_disk
from certctl_engine.connectors.targets.server import (
    PlannedFile,
    ServerConnector,
    absolute_path,
    file_in,
    optional_text,
)
from certctl_engine.errors import InvalidInput

LAYOUTS = {
    "separate": {"cert_file": "cert.pem", "chain_file": "chain.pem", "key_file": "privkey.pem"},
    "fullchain": {"fullchain_file": "fullchain.pem", "key_file": "privkey.pem"},
}


class ApacheConnector(ServerConnector):
    """Config (beyond the common server fields): layout separate|fullchain (separate: cert_file cert.pem,
    chain_file chain.pem, key_file privkey.pem; fullchain: fullchain_file fullchain.pem, key_file, for
    SSLCertificateFile holding the chain, httpd >= 2.4.8), apache_binary (apachectl), apache_conf
    (-f; with it the commands become ``BIN -f CONF -t`` and ``BIN -f CONF -k graceful``)."""

    server = "apache"

    def _layout(self, config: Mapping[str, Any]) -> dict[str, str]:
        layout = str(config.get("layout", "separate")).lower()
        if layout not in LAYOUTS:
            raise InvalidInput("layout must be separate or fullchain", field="layout")
        return LAYOUTS[layout]

    def validate_server_config(self, config: Mapping[str, Any], directory: Path) -> None:
        self.paths(config)
        absolute_path(config, "apache_conf")
        optional_text(config, "apache_binary")

    def paths(self, config: Mapping[str, Any]) -> dict[str, Path]:
        directory = base_directory(config)
        found = {field: file_in(directory, config, field, default) for field, default in self._layout(config).items()}
        missing = [field for field, path in found.items() if path is None]
        if missing:
            raise InvalidInput(f"the {config.get('layout', 'separate')} layout needs {missing[0]}", field=missing[0])
        return {field: path for field, path in found.items() if path is not None}

    def _base(self, config: Mapping[str, Any]) -> list[str]:
        argv = [optional_text(config, "apache_binary") or "apachectl"]
        conf = absolute_path(config, "apache_conf")
        return [*argv, "-f", conf] if conf else argv

    def test_argv(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        base = self._base(config)
        return command(config, "test_command") or (*base, "-t" if len(base) > 1 else "configtest")

    def reload_argv(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        base = self._base(config)
        return command(config, "reload_command") or (
            (*base, "-k", "graceful") if len(base) > 1 else (*base, "graceful")
        )

    def snippet(self, config: Mapping[str, Any]) -> str:
        paths = self.paths(config)
        lines = ["SSLEngine on"]
        if "fullchain_file" in paths:
            lines.append(f"SSLCertificateFile {paths['fullchain_file']}")
        else:
            lines += [f"SSLCertificateFile {paths['cert_file']}", f"SSLCertificateChainFile {paths['chain_file']}"]
        lines.append(f"SSLCertificateKeyFile {paths['key_file']}")
        return "\n".join(lines) + "\n"

    def plan(self, bundle: DeploymentBundle, config: Mapping[str, Any], directory: Path) -> list[PlannedFile]:
        paths = self.paths(config)
        key = (
            bundle.key_pem.encode()
            if bundle.key_pem is not None
            else key_on_disk(bundle.certificate_pem, paths["key_file"])
        )
        contents = {
            "cert_file": bundle.certificate_pem.encode(),
            "chain_file": bundle.chain_pem.encode(),
            "fullchain_file": bundle.fullchain_pem.encode(),
            "key_file": key,
        }
        return [PlannedFile(f, p, contents[f], secret=f == "key_file") for f, p in paths.items()]
