"""Caddy: the full chain and key files that a ``tls CERT KEY`` directive names, ``caddy validate``,
then a forced reload through ``caddy reload`` or the admin API's ``POST /load``.

Caddy skips a reload whose configuration text is unchanged, and a certificate renewal
changes only the files the configuration names, so every reload here is forced
(``--force``, or ``Cache-Control: must-revalidate`` on ``/load``).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from certctl_engine.connectors.targets.base import DeploymentBundle
from certctl_engine.connectors.targets.common import base_directory, command, key_on_disk, timeout_seconds
from certctl_engine.connectors.targets.server import (
    PlannedFile,
    ServerConnector,
    absolute_path,
    file_in,
    optional_text,
)
from certctl_engine.errors import DeployError, InvalidInput

DEFAULTS = {"fullchain_file": "fullchain.pem", "key_file": "privkey.pem"}
_CONTENT_TYPES = {"caddyfile": "text/caddyfile", "json": "application/json"}


class CaddyConnector(ServerConnector):
    """Config (beyond the common server fields): fullchain_file (fullchain.pem), key_file (privkey.pem),
    caddy_binary (caddy), caddy_config (the configuration file, required), caddy_adapter (caddyfile;
    json for a JSON configuration), admin_address (host:port of the admin endpoint for ``caddy reload
    --address``), admin_api (http://host:port: reload by POST /load instead of running caddy)."""

    server = "caddy"

    def validate_server_config(self, config: Mapping[str, Any], directory: Path) -> None:
        self.paths(config)
        if not absolute_path(config, "caddy_config"):
            raise InvalidInput(
                "caddy_config, the absolute path of Caddy's configuration, is required", field="caddy_config"
            )
        optional_text(config, "caddy_binary")
        optional_text(config, "admin_address")
        self._adapter(config)
        api = optional_text(config, "admin_api")
        if api is not None:
            parts = urlsplit(api)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
                raise InvalidInput("admin_api must be a URL such as http://127.0.0.1:2019", field="admin_api")

    def _adapter(self, config: Mapping[str, Any]) -> str:
        adapter = str(config.get("caddy_adapter") or "caddyfile").lower()
        if adapter not in _CONTENT_TYPES:
            raise InvalidInput("caddy_adapter must be caddyfile or json", field="caddy_adapter")
        return adapter

    def paths(self, config: Mapping[str, Any]) -> dict[str, Path]:
        directory = base_directory(config)
        found = {field: file_in(directory, config, field, default) for field, default in DEFAULTS.items()}
        return {field: path for field, path in found.items() if path is not None}

    def _with_config(self, config: Mapping[str, Any], verb: str) -> list[str]:
        argv = [optional_text(config, "caddy_binary") or "caddy", verb, "--config", str(config["caddy_config"])]
        adapter = self._adapter(config)
        return [*argv, "--adapter", adapter] if adapter != "json" else argv

    def test_argv(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        return command(config, "test_command") or tuple(self._with_config(config, "validate"))

    def reload_argv(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        if config.get("admin_api"):
            return ()
        argv = self._with_config(config, "reload")
        address = optional_text(config, "admin_address")
        default = (*argv, *(["--address", address] if address else []), "--force")
        return command(config, "reload_command") or default

    def reload(self, config: Mapping[str, Any], files: Sequence[PlannedFile]) -> None:
        api = optional_text(config, "admin_api")
        if api is None:
            super().reload(config, files)
            return
        body = Path(str(config["caddy_config"])).read_bytes()
        request = urllib.request.Request(
            api.rstrip("/") + "/load",
            data=body,
            method="POST",
            headers={"Content-Type": _CONTENT_TYPES[self._adapter(config)], "Cache-Control": "must-revalidate"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_seconds(config)) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace").strip()
            raise DeployError(f"caddy admin API POST /load answered {exc.code}: {detail or exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeployError(f"caddy admin API {api} unreachable: {reason}") from None

    def snippet(self, config: Mapping[str, Any]) -> str:
        paths = self.paths(config)
        return f"tls {paths['fullchain_file']} {paths['key_file']}\n"

    def plan(self, bundle: DeploymentBundle, config: Mapping[str, Any], directory: Path) -> list[PlannedFile]:
        paths = self.paths(config)
        key = (
            bundle.key_pem.encode()
            if bundle.key_pem is not None
            else key_on_disk(bundle.certificate_pem, paths["key_file"])
        )
        contents = {"fullchain_file": bundle.fullchain_pem.encode(), "key_file": key}
        return [PlannedFile(f, p, contents[f], secret=f == "key_file") for f, p in paths.items()]
