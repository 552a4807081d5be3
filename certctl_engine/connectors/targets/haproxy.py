"""HAProxy: one combined PEM (full chain then key), optionally listed in a crt-list, checked with
``haproxy -c -f``, then picked up by a reload or, without one, through the runtime API.

Three ways to make the running HAProxy take the new file, in this order of preference:

- ``stats_socket``: the runtime API (``set ssl cert`` + ``commit ssl cert``) swaps the
  certificate in the running process with no reload at all; the file on disk is written
  too, so a restart serves the same certificate.
- ``master_pid_file``: SIGUSR2 to the master of a master-worker HAProxy (``-W``), which
  re-reads the configuration and starts new workers.
- ``reload_command``: any argument list (``systemctl reload haproxy``).
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

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
from certctl_engine.pki import is_valid_dns_name

_RESPONSE_LIMIT = 64 * 1024


class HAProxyConnector(ServerConnector):
    """Config (beyond the common server fields): combined_file (haproxy.pem), key_file (only to read an
    agent-made key that stays on the machine), crt_list_file (off unless named) with sni_filters (names for
    the crt-list line), haproxy_binary (haproxy), haproxy_conf (for ``haproxy -c -f``), and one of
    stats_socket (absolute path of an admin-level socket; runtime_cert_name defaults to the combined
    file's path), master_pid_file, reload_command."""

    server = "haproxy"

    def validate_server_config(self, config: Mapping[str, Any], directory: Path) -> None:
        self.paths(config)
        file_in(directory, config, "key_file", None)
        absolute_path(config, "haproxy_conf")
        optional_text(config, "haproxy_binary")
        optional_text(config, "runtime_cert_name")
        absolute_path(config, "stats_socket")
        absolute_path(config, "master_pid_file")
        self._filters(config)
        if not (config.get("stats_socket") or config.get("master_pid_file") or command(config, "reload_command")):
            raise InvalidInput(
                "HAProxy needs a way to pick up the file: stats_socket, master_pid_file or reload_command",
                field="reload_command",
            )
        if not config.get("haproxy_conf") and not command(config, "test_command"):
            raise InvalidInput("haproxy_conf (for haproxy -c -f) or test_command is required", field="haproxy_conf")

    def _filters(self, config: Mapping[str, Any]) -> list[str]:
        filters = config.get("sni_filters") or []
        if not isinstance(filters, list) or not all(
            isinstance(f, str) and is_valid_dns_name(f.lstrip("!")) for f in filters
        ):
            raise InvalidInput("sni_filters must be a list of host names (a leading ! excludes)", field="sni_filters")
        return list(filters)

    def paths(self, config: Mapping[str, Any]) -> dict[str, Path]:
        directory = base_directory(config)
        found = {
            "combined_file": file_in(directory, config, "combined_file", "haproxy.pem"),
            "crt_list_file": file_in(directory, config, "crt_list_file", None),
        }
        return {field: path for field, path in found.items() if path is not None}

    def test_argv(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        conf = absolute_path(config, "haproxy_conf")
        default = (optional_text(config, "haproxy_binary") or "haproxy", "-c", "-f", conf) if conf else ()
        return command(config, "test_command") or default

    def reload_argv(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        if config.get("stats_socket") or config.get("master_pid_file"):
            return ()
        return command(config, "reload_command")

    def reload(self, config: Mapping[str, Any], files: Sequence[PlannedFile]) -> None:
        if config.get("stats_socket"):
            self._runtime_update(config, files)
        elif config.get("master_pid_file"):
            self._signal_master(str(config["master_pid_file"]))
        else:
            super().reload(config, files)

    def snippet(self, config: Mapping[str, Any]) -> str:
        paths = self.paths(config)
        if "crt_list_file" in paths:
            return f"bind :443 ssl crt-list {paths['crt_list_file']}\n"
        return f"bind :443 ssl crt {paths['combined_file']}\n"

    def plan(self, bundle: DeploymentBundle, config: Mapping[str, Any], directory: Path) -> list[PlannedFile]:
        paths = self.paths(config)
        if bundle.key_pem is not None:
            key = bundle.key_pem.encode()
        else:
            key_path = file_in(directory, config, "key_file", None)
            if key_path is None:
                raise DeployError("this version's key stays on the machine: name it in key_file")
            key = key_on_disk(bundle.certificate_pem, key_path)
        planned = [PlannedFile("combined_file", paths["combined_file"], bundle.fullchain_pem.encode() + key, True)]
        if "crt_list_file" in paths:
            line = " ".join([str(paths["combined_file"]), *self._filters(config)])
            planned.append(PlannedFile("crt_list_file", paths["crt_list_file"], (line + "\n").encode()))
        return planned

    # ------------------------------------------------------------------ picking the file up
    def _signal_master(self, pid_file: str) -> None:
        try:
            pid = int(Path(pid_file).read_text().split()[0])
            os.kill(pid, signal.SIGUSR2)
        except FileNotFoundError:
            raise DeployError(f"master_pid_file {pid_file} does not exist: is HAProxy running (with -W)?") from None
        except (ValueError, IndexError):
            raise DeployError(f"master_pid_file {pid_file} holds no process id") from None
        except ProcessLookupError:
            raise DeployError(f"no HAProxy master runs with the pid in {pid_file}") from None
        except PermissionError:
            raise DeployError(f"not allowed to signal the HAProxy master named in {pid_file}") from None

    def _runtime_update(self, config: Mapping[str, Any], files: Sequence[PlannedFile]) -> None:
        """Hand each combined PEM now on disk to the running HAProxy: set, then commit (abort on refusal)."""
        combined = [f.path for f in files if f.field == "combined_file"]
        configured = optional_text(config, "runtime_cert_name")
        sock, timeout = str(config["stats_socket"]), timeout_seconds(config)
        for path in combined:
            name = configured if configured and len(combined) == 1 else str(path)
            pem = path.read_text().strip()
            answer = _ask(sock, f"set ssl cert {name} <<\n{pem}\n\n", timeout)
            if "transaction created" not in answer.lower() and "transaction updated" not in answer.lower():
                raise DeployError(f"haproxy refused set ssl cert {name}: {answer.strip() or 'no answer'}")
            answer = _ask(sock, f"commit ssl cert {name}\n", timeout)
            if "success" not in answer.lower():
                _ask(sock, f"abort ssl cert {name}\n", timeout)
                raise DeployError(f"haproxy refused commit ssl cert {name}: {answer.strip() or 'no answer'}")


def _ask(path: str, request: str, timeout: float) -> str:
    """One runtime API command over the stats socket (which answers, then closes)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(path)
            conn.sendall(request.encode())
            chunks: list[bytes] = []
            while sum(len(c) for c in chunks) < _RESPONSE_LIMIT:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                chunks.append(chunk)
    except OSError as exc:
        raise DeployError(f"haproxy stats socket {path}: {exc.strerror or exc}") from None
    return " | ".join(line for line in b"".join(chunks).decode(errors="replace").splitlines() if line.strip())
