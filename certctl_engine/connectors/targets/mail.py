"""Mail servers: Postfix (``postfix check``, then ``postfix reload``) and Dovecot (``doveconf -n``,
then ``doveadm reload``), each from the certificate and key files its TLS settings name.

Postfix reads its key as root before it drops privileges, so the key stays 0600. Postfix
commands write their diagnostics to standard error only when it is a terminal (otherwise
only to syslog or ``maillog_file``), so they run here with standard error on a
pseudo-terminal: a failing ``postfix check`` or ``postfix reload`` reports Postfix's own
words. Dovecot's tools always write to standard error.

Both servers pick up new files only in processes started after the reload (Postfix's
smtpd, Dovecot's login processes); a post-deploy check on a STARTTLS port is therefore left
to ``post_deploy_command``, while ``check_after_reload`` suits implicit-TLS ports (465, 993).
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import shlex
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from certctl_engine.connectors.targets.base import DeploymentBundle, DeploymentResult
from certctl_engine.connectors.targets.common import base_directory, command, key_on_disk, timeout_seconds
from certctl_engine.connectors.targets.server import (
    PlannedFile,
    ServerConnector,
    absolute_path,
    file_in,
    optional_text,
)
from certctl_engine.errors import DeployError, InvalidInput

_PACKAGES = {"postfix": "postfix", "doveconf": "dovecot-core", "doveadm": "dovecot-core"}
_OUTPUT_LIMIT = 64 * 1024

POSTFIX_LAYOUTS = {
    "separate": {"fullchain_file": "fullchain.pem", "key_file": "privkey.pem"},
    "chain_files": {"chain_files_file": "postfix-chain.pem"},
}


def require_mail_program(argv: Sequence[str], *, what: str) -> None:
    """DeployError naming the program and the Debian package that has it, before anything is written."""
    program = argv[0]
    found = shutil.which(program) if os.sep not in program else (program if os.access(program, os.X_OK) else None)
    if found is None:
        package = _PACKAGES.get(Path(program).name)
        hint = f" (install the Debian package {package})" if package else ""
        raise DeployError(f"{what}: program '{program}' not found{hint}; nothing was written")


class _MailConnector(ServerConnector):
    """Checks every program (with its Debian package) before planning, so a missing one writes nothing."""

    def deploy_batch(self, items: Sequence[tuple[DeploymentBundle, Mapping[str, Any]]]) -> DeploymentResult:
        for _, config in items:
            self.validate_config(config)
            for argv in self.programs(config):
                require_mail_program(argv, what=f"{self.server} {shlex.join(argv)}")
        return super().deploy_batch(items)

    def key_for(self, bundle: DeploymentBundle, config: Mapping[str, Any], directory: Path) -> bytes:
        if bundle.key_pem is not None:
            return bundle.key_pem.encode()
        key_path = file_in(directory, config, "key_file", None)
        if key_path is None:
            raise DeployError("this version's key stays on the machine: name it in key_file")
        return key_on_disk(bundle.certificate_pem, key_path)


class PostfixConnector(_MailConnector):
    """Config (beyond the common server fields): layout separate|chain_files (separate: fullchain_file
    fullchain.pem for smtpd_tls_cert_file, key_file privkey.pem for smtpd_tls_key_file; chain_files:
    chain_files_file postfix-chain.pem, the key followed by its full chain, for smtpd_tls_chain_files,
    Postfix >= 3.4; key_file then only reads an agent-made key), postfix_binary (postfix),
    postfix_config_dir (``postfix -c DIR``). Test: ``postfix [-c DIR] check``; reload:
    ``postfix [-c DIR] reload``."""

    server = "postfix"

    def _layout(self, config: Mapping[str, Any]) -> dict[str, str]:
        layout = str(config.get("layout", "separate")).lower()
        if layout not in POSTFIX_LAYOUTS:
            raise InvalidInput("layout must be separate or chain_files", field="layout")
        return POSTFIX_LAYOUTS[layout]

    def validate_server_config(self, config: Mapping[str, Any], directory: Path) -> None:
        self.paths(config)
        file_in(directory, config, "key_file", None)
        absolute_path(config, "postfix_config_dir")
        optional_text(config, "postfix_binary")

    def paths(self, config: Mapping[str, Any]) -> dict[str, Path]:
        directory = base_directory(config)
        found = {field: file_in(directory, config, field, default) for field, default in self._layout(config).items()}
        return {field: path for field, path in found.items() if path is not None}

    def _base(self, config: Mapping[str, Any]) -> list[str]:
        argv = [optional_text(config, "postfix_binary") or "postfix"]
        conf = absolute_path(config, "postfix_config_dir")
        return [*argv, "-c", conf] if conf else argv

    def test_argv(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        return command(config, "test_command") or (*self._base(config), "check")

    def reload_argv(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        return command(config, "reload_command") or (*self._base(config), "reload")

    def snippet(self, config: Mapping[str, Any]) -> str:
        paths = self.paths(config)
        if "chain_files_file" in paths:
            return f"smtpd_tls_chain_files = {paths['chain_files_file']}\n"
        return f"smtpd_tls_cert_file = {paths['fullchain_file']}\nsmtpd_tls_key_file = {paths['key_file']}\n"

    def plan(self, bundle: DeploymentBundle, config: Mapping[str, Any], directory: Path) -> list[PlannedFile]:
        paths = self.paths(config)
        if "chain_files_file" in paths:
            data = self.key_for(bundle, config, directory) + bundle.fullchain_pem.encode()
            return [PlannedFile("chain_files_file", paths["chain_files_file"], data, secret=True)]
        key = (
            bundle.key_pem.encode()
            if bundle.key_pem is not None
            else key_on_disk(bundle.certificate_pem, paths["key_file"])
        )
        return [
            PlannedFile("fullchain_file", paths["fullchain_file"], bundle.fullchain_pem.encode()),
            PlannedFile("key_file", paths["key_file"], key, secret=True),
        ]

    # Postfix speaks on standard error only to a terminal: every command runs with one.
    def check(self, config: Mapping[str, Any]) -> str:
        self.validate_config(config)
        argv = self.test_argv(config)
        require_mail_program(argv, what=f"postfix {shlex.join(argv)}")
        run_with_terminal(argv, what=shlex.join(argv), timeout=timeout_seconds(config))
        return f"postfix accepts its configuration ({shlex.join(argv)})"

    def _test(self, config: Mapping[str, Any]) -> None:
        argv = self.test_argv(config)
        run_with_terminal(argv, what=shlex.join(argv), timeout=timeout_seconds(config))

    def reload(self, config: Mapping[str, Any], files: Sequence[PlannedFile]) -> None:
        argv = self.reload_argv(config)
        run_with_terminal(argv, what=shlex.join(argv), timeout=timeout_seconds(config))


class DovecotConnector(_MailConnector):
    """Config (beyond the common server fields): fullchain_file (fullchain.pem, for ``ssl_cert = <FILE``),
    key_file (privkey.pem, for ``ssl_key = <FILE``), doveconf_binary (doveconf), doveadm_binary (doveadm),
    dovecot_conf (``-c FILE`` for both). Test: ``doveconf [-c FILE] -n``; reload: ``doveadm [-c FILE] reload``."""

    server = "dovecot"
    DEFAULTS = {"fullchain_file": "fullchain.pem", "key_file": "privkey.pem"}

    def validate_server_config(self, config: Mapping[str, Any], directory: Path) -> None:
        self.paths(config)
        absolute_path(config, "dovecot_conf")
        optional_text(config, "doveconf_binary")
        optional_text(config, "doveadm_binary")

    def paths(self, config: Mapping[str, Any]) -> dict[str, Path]:
        directory = base_directory(config)
        found = {field: file_in(directory, config, field, default) for field, default in self.DEFAULTS.items()}
        return {field: path for field, path in found.items() if path is not None}

    def _with_conf(self, program: str, config: Mapping[str, Any]) -> list[str]:
        conf = absolute_path(config, "dovecot_conf")
        return [program, "-c", conf] if conf else [program]

    def test_argv(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        doveconf = optional_text(config, "doveconf_binary") or "doveconf"
        return command(config, "test_command") or (*self._with_conf(doveconf, config), "-n")

    def reload_argv(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        doveadm = optional_text(config, "doveadm_binary") or "doveadm"
        return command(config, "reload_command") or (*self._with_conf(doveadm, config), "reload")

    def snippet(self, config: Mapping[str, Any]) -> str:
        paths = self.paths(config)
        return f"ssl = required\nssl_cert = <{paths['fullchain_file']}\nssl_key = <{paths['key_file']}\n"

    def plan(self, bundle: DeploymentBundle, config: Mapping[str, Any], directory: Path) -> list[PlannedFile]:
        paths = self.paths(config)
        key = (
            bundle.key_pem.encode()
            if bundle.key_pem is not None
            else key_on_disk(bundle.certificate_pem, paths["key_file"])
        )
        return [
            PlannedFile("fullchain_file", paths["fullchain_file"], bundle.fullchain_pem.encode()),
            PlannedFile("key_file", paths["key_file"], key, secret=True),
        ]


def run_with_terminal(argv: Sequence[str], *, what: str, timeout: float) -> str:
    """Run ``argv`` (no shell) with standard error on a pseudo-terminal; DeployError with its words on failure."""
    leader, follower = pty.openpty()
    try:
        try:
            process = subprocess.Popen(
                list(argv), stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, start_new_session=True
            )
        except FileNotFoundError:
            raise DeployError(f"{what}: program '{argv[0]}' not found") from None
        finally:
            os.close(follower)
        output = bytearray()
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait()
                raise DeployError(f"{what} did not finish within {timeout:g}s")
            ready, _, _ = select.select([leader], [], [], min(remaining, 0.2))
            if ready:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:  # EIO: every writer has closed the terminal
                    chunk = b""
                if not chunk:
                    break
                if len(output) < _OUTPUT_LIMIT:
                    output += chunk
            elif process.poll() is not None:
                break
        code = process.wait(max(deadline - time.monotonic(), 0.1))
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise DeployError(f"{what} did not finish within {timeout:g}s") from None
    finally:
        os.close(leader)
    text = output.decode(errors="replace").replace("\r\n", "\n")
    if code != 0:
        tail = [line.strip() for line in text.splitlines() if line.strip()][-10:]
        raise DeployError(f"{what} exited with {code}: " + (" | ".join(tail) or "no output"))
    return text
