"""NGINX: the full chain and key files (optionally the leaf and chain apart, and a managed
``ssl_certificate`` snippet to include), ``nginx -t``, then ``nginx -s reload``.

``nginx -s reload`` only signals the master, which starts new workers on the new files and
lets the old ones drain; a configuration that fails to load there is logged, not reported.
``nginx -t`` beforehand catches what would fail, and ``check_after_reload`` proves the
new certificate is served.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from certctl_engine.connectors.targets.base import DeploymentBundle
from certctl_engine.connectors.targets.common import base_directory, command, key_on_disk
from certctl_engine.connectors.targets.server import PlannedFile, ServerConnector, absolute_path, file_in, optional_text

DEFAULTS = {"fullchain_file": "fullchain.pem", "key_file": "privkey.pem", "cert_file": None, "chain_file": None}


class NginxConnector(ServerConnector):
    """Config (beyond the common server fields): fullchain_file (fullchain.pem), key_file (privkey.pem),
    cert_file, chain_file (off unless named), snippet_file (a managed file with the ssl_certificate
    lines, off unless named), nginx_binary (nginx), nginx_conf (-c), nginx_prefix (-p)."""

    server = "nginx"

    def validate_server_config(self, config: Mapping[str, Any], directory: Path) -> None:
        for field in (*DEFAULTS, "snippet_file"):
            file_in(directory, config, field, DEFAULTS.get(field))
        absolute_path(config, "nginx_conf")
        absolute_path(config, "nginx_prefix")
        self._base(config)

    def _base(self, config: Mapping[str, Any]) -> list[str]:
        argv = [optional_text(config, "nginx_binary") or "nginx"]
        prefix, conf = absolute_path(config, "nginx_prefix"), absolute_path(config, "nginx_conf")
        if prefix:
            argv += ["-p", prefix]
        if conf:
            argv += ["-c", conf]
        return argv

    def test_argv(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        return command(config, "test_command") or (*self._base(config), "-t", "-q")

    def reload_argv(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        return command(config, "reload_command") or (*self._base(config), "-s", "reload")

    def paths(self, config: Mapping[str, Any]) -> dict[str, Path]:
        directory = base_directory(config)
        found = {field: file_in(directory, config, field, default) for field, default in DEFAULTS.items()}
        found["snippet_file"] = file_in(directory, config, "snippet_file", None)
        return {field: path for field, path in found.items() if path is not None}

    def snippet(self, config: Mapping[str, Any]) -> str:
        paths = self.paths(config)
        return f"ssl_certificate {paths['fullchain_file']};\nssl_certificate_key {paths['key_file']};\n"

    def plan(self, bundle: DeploymentBundle, config: Mapping[str, Any], directory: Path) -> list[PlannedFile]:
        paths = self.paths(config)
        key = (
            bundle.key_pem.encode()
            if bundle.key_pem is not None
            else key_on_disk(bundle.certificate_pem, paths["key_file"])
        )
        contents = {
            "fullchain_file": bundle.fullchain_pem.encode(),
            "key_file": key,
            "cert_file": bundle.certificate_pem.encode(),
            "chain_file": bundle.chain_pem.encode(),
            "snippet_file": ("# managed by certctl: rewritten on every deployment\n" + self.snippet(config)).encode(),
        }
        return [PlannedFile(f, p, contents[f], secret=f == "key_file") for f, p in paths.items()]
