"""The installer sequence every server target shares: plan, check, snapshot, write, test, reload,
check, and roll back (files restored, server reloaded onto them) when any step after the write fails.

A server connector (NGINX, Apache, HAProxy, Caddy) says only what differs: which files a
bundle becomes, how the server tests its configuration and how it reloads. The sequence
follows certbot's installer: ``deploy_cert`` → ``config_test`` → ``restart`` →
``rollback_checkpoints``. Many certificates for one server can go in one batch: one
configuration test and one reload for all of them, and all of them rolled back together.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certctl_engine.connectors.targets.base import DeploymentBundle, DeploymentResult
from certctl_engine.connectors.targets.common import (
    Snapshot,
    base_directory,
    check_key_matches,
    command,
    install_file,
    owner_ids,
    path_inside,
    require_program,
    run_command,
    timeout_seconds,
    unchanged,
)
from certctl_engine.connectors.targets.verify import verify_served_certificate
from certctl_engine.errors import CertctlError, DeployError, InvalidInput

DEFAULT_CHECK_TIMEOUT_SECONDS = 10.0
_CHECK_STREAK = 3


@dataclass(frozen=True, slots=True)
class PlannedFile:
    """One file a deployment wants on disk."""

    field: str
    path: Path
    data: bytes
    secret: bool = False


class ServerConnector:
    """Base of the server targets; subclasses set ``server`` and implement the hooks below.

    Configuration every server target accepts: directory (absolute; every written file
    stays inside it), mode (0644), key_mode (0600), owner, group, test_command and
    reload_command (argument lists that replace the server's defaults),
    post_deploy_command (argument list; failing rolls back), command_timeout_seconds (60),
    check_after_reload (bool) with host, port, server_name and check_timeout_seconds (10):
    after the reload, the served certificate must be the deployed one or everything is
    rolled back.
    """

    server = "server"

    # ------------------------------------------------------------------ hooks
    def validate_server_config(self, config: Mapping[str, Any], directory: Path) -> None:
        """Refuse server-specific fields that cannot work."""

    def plan(self, bundle: DeploymentBundle, config: Mapping[str, Any], directory: Path) -> list[PlannedFile]:
        """The files ``bundle`` becomes on this server."""
        raise NotImplementedError

    def snippet(self, config: Mapping[str, Any]) -> str:
        """The server configuration lines that point at the files this target writes."""
        raise NotImplementedError

    def test_argv(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        """The configuration test (``nginx -t`` and friends); () when the server has none."""
        return command(config, "test_command")

    def reload_argv(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        """The reload command; () when ``reload`` does something other than run a command."""
        return command(config, "reload_command")

    def reload(self, config: Mapping[str, Any], files: Sequence[PlannedFile]) -> None:
        """Make the running server pick up the files now on disk."""
        argv = self.reload_argv(config)
        if argv:
            run_command(argv, what=_describe(argv), timeout=timeout_seconds(config))

    def programs(self, config: Mapping[str, Any]) -> list[tuple[str, ...]]:
        """Every command a deployment may run, checked for existence before anything is written."""
        return [
            argv
            for argv in (self.test_argv(config), self.reload_argv(config), command(config, "post_deploy_command"))
            if argv
        ]

    # ------------------------------------------------------------------ the contract
    def validate_config(self, config: Mapping[str, Any]) -> None:
        directory = base_directory(config)
        owner_ids(config)
        timeout_seconds(config)
        for field in ("test_command", "reload_command", "post_deploy_command"):
            command(config, field)
        if config.get("check_after_reload"):
            if not config.get("host"):
                raise InvalidInput("check_after_reload needs host (and port) to check", field="host")
            _port(config)
        _check_timeout(config)
        self.validate_server_config(config, directory)

    def check(self, config: Mapping[str, Any]) -> str:
        """Ask the server whether its configuration is sound now (``certctl targets test``); nothing is written."""
        self.validate_config(config)
        argv = self.test_argv(config)
        if not argv:
            return f"{self.server} has no configuration test configured"
        require_program(argv, what=f"{self.server} {_describe(argv)}", before_writing=False)
        run_command(argv, what=_describe(argv), timeout=timeout_seconds(config))
        return f"{self.server} accepts its configuration ({_describe(argv)})"

    def deploy(self, bundle: DeploymentBundle, config: Mapping[str, Any]) -> DeploymentResult:
        return self.deploy_batch([(bundle, config)])

    def deploy_batch(self, items: Sequence[tuple[DeploymentBundle, Mapping[str, Any]]]) -> DeploymentResult:
        """Deploy several certificates to one server: one configuration test and one reload for all.

        The configurations must drive the same server (same test and reload); when nothing
        changed, nothing is written and nothing runs.
        """
        if not items:
            raise InvalidInput("a batch needs at least one certificate")
        config = items[0][1]
        for _, other in items:
            self.validate_config(other)
            if (self.test_argv(other), self.reload_argv(other)) != (self.test_argv(config), self.reload_argv(config)):
                raise InvalidInput("a batch must go to one server: every target needs the same test and reload")
        planned: list[tuple[PlannedFile, Mapping[str, Any]]] = []
        for bundle, item_config in items:
            if bundle.key_pem is not None:
                check_key_matches(bundle.certificate_pem, bundle.key_pem.encode(), where=f"version {bundle.version_id}")
            directory = base_directory(item_config)
            if not directory.is_dir():
                raise DeployError(f"directory {directory} does not exist")
            planned.extend((f, item_config) for f in self.plan(bundle, item_config, directory))
        seen: set[Path] = set()
        for planned_file, _ in planned:
            if planned_file.path in seen:
                raise InvalidInput(f"two certificates in one batch would write {planned_file.path}")
            seen.add(planned_file.path)
        changed = [(f, c) for f, c in planned if not unchanged(f.path, f.data)]
        paths = tuple(str(f.path) for f, _ in planned)
        if not changed:
            return DeploymentResult(False, paths, "the files already hold this version; nothing reloaded")
        for argv in self.programs(config):
            require_program(argv, what=f"{self.server} {_describe(argv)}")
        self._write_checked(items, changed)
        return DeploymentResult(
            True, paths, f"wrote {len(changed)} file(s), tested and reloaded {self.server}", {"written": len(changed)}
        )

    # ------------------------------------------------------------------ the sequence
    def _write_checked(
        self,
        items: Sequence[tuple[DeploymentBundle, Mapping[str, Any]]],
        changed: Sequence[tuple[PlannedFile, Mapping[str, Any]]],
    ) -> None:
        config = items[0][1]
        files = [f for f, _ in changed]
        snapshot = Snapshot([f.path for f in files])
        reloaded = False
        try:
            for planned, item_config in changed:
                install_file(
                    planned.path,
                    planned.data,
                    secret=planned.secret,
                    snapshot=snapshot,
                    config=item_config,
                    ids=owner_ids(item_config),
                )
            self._test(config)
            reloaded = True
            self.reload(config, files)
            for bundle, item_config in items:
                self._check(bundle, item_config)
        except Exception as exc:  # whatever went wrong, the previous files go back before anything else
            if isinstance(exc, CertctlError):
                message = exc.message
            elif isinstance(exc, OSError):
                message = f"{exc.strerror or exc}"
            else:
                message = f"{type(exc).__name__}: {exc}"
            raise DeployError(self._roll_back(snapshot, config, files, reloaded, message)) from None

    def _test(self, config: Mapping[str, Any]) -> None:
        argv = self.test_argv(config)
        if argv:
            run_command(argv, what=_describe(argv), timeout=timeout_seconds(config))

    def _check(self, bundle: DeploymentBundle, config: Mapping[str, Any]) -> None:
        post = command(config, "post_deploy_command")
        if post:
            run_command(post, what="post_deploy_command", timeout=timeout_seconds(config))
        if not config.get("check_after_reload"):
            return
        # Reloads are asynchronous: new workers start while the old ones still accept for a
        # moment. Only a run of consecutive handshakes all serving the new leaf counts.
        deadline = time.monotonic() + _check_timeout(config)
        streak = 0
        while True:
            outcome = verify_served_certificate(
                str(config["host"]),
                _port(config),
                bundle.fingerprint_sha256,
                server_name=config.get("server_name") or None,
                timeout=5.0,
            )
            streak = streak + 1 if outcome.verified else 0
            if streak >= _CHECK_STREAK:
                return
            if time.monotonic() >= deadline:
                raise DeployError(f"after the reload {outcome.error or 'the new certificate was not served steadily'}")
            time.sleep(0.1)

    def _roll_back(
        self, snapshot: Snapshot, config: Mapping[str, Any], changed: Sequence[PlannedFile], reloaded: bool, why: str
    ) -> str:
        """Restore the files, reload the server onto them when it may have seen the new ones, and say so."""
        what = f"{self.server} deployment rolled back: {why}"
        try:
            snapshot.restore()
        except CertctlError as exc:
            return f"{what}; restoring the previous files failed too: {exc.message}"
        if not reloaded:
            return f"{what}; the previous files are back"
        try:
            self._test(config)
            self.reload(config, changed)
        except CertctlError as exc:
            return f"{what}; the previous files are back but reloading them failed: {exc.message}"
        return f"{what}; the previous files are back and {self.server} was reloaded onto them"


def file_in(directory: Path, config: Mapping[str, Any], field: str, default: str | None) -> Path | None:
    """The configured file ``field`` inside ``directory`` (``default`` when absent, None when off)."""
    name = config.get(field, default)
    if name in (None, ""):
        return None
    return path_inside(directory, name, field)


def optional_text(config: Mapping[str, Any], field: str) -> str | None:
    value = config.get(field)
    if value in (None, ""):
        return None
    if not isinstance(value, str) or "\x00" in value or "\n" in value:
        raise InvalidInput(f"{field} must be a single line of text", field=field)
    return value


def absolute_path(config: Mapping[str, Any], field: str) -> str | None:
    """An absolute path the server reads (its configuration, prefix, socket), never written by certctl."""
    value = optional_text(config, field)
    if value is not None and not Path(value).is_absolute():
        raise InvalidInput(f"{field} '{value}' must be an absolute path", field=field)
    return value


def _port(config: Mapping[str, Any]) -> int:
    value = config.get("port", 443)
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"port must be a number, not {value!r}", field="port") from None
    if not 0 < port < 65536:
        raise InvalidInput(f"port must be between 1 and 65535, not {port}", field="port")
    return port


def _check_timeout(config: Mapping[str, Any]) -> float:
    value = config.get("check_timeout_seconds", DEFAULT_CHECK_TIMEOUT_SECONDS)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 600:
        raise InvalidInput(
            "check_timeout_seconds must be a number of seconds from 1 to 600", field="check_timeout_seconds"
        )
    return float(value)


def _describe(argv: Sequence[str]) -> str:
    return shlex.join(argv)
