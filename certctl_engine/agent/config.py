"""The agent's settings: command-line flags over environment variables over defaults.

Everything is checked here, before the agent starts, so a wrong setting stops it at once
with a message naming the flag and the variable rather than failing later in a loop.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from certctl_engine.errors import InvalidInput
from certctl_engine.pki import DEFAULT_KEY_SPEC, KeySpec

DEFAULT_SERVER_URL = "https://127.0.0.1:8080"
DEFAULT_HEARTBEAT_SECONDS = 60.0
DEFAULT_POLL_SECONDS = 30.0
DEFAULT_DISCOVERY_SECONDS = 6 * 3600.0
DEFAULT_MAX_BACKOFF_SECONDS = 300.0
DEFAULT_TIMEOUT_SECONDS = 30.0
DEFAULT_MAX_FILE_BYTES = 1024 * 1024

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")

# (setting, environment variable, what it is) — the --help epilog is built from this table.
ENVIRONMENT: tuple[tuple[str, str, str], ...] = (
    ("server_url", "CERTCTL_SERVER_URL", f"engine URL (default {DEFAULT_SERVER_URL})"),
    ("bootstrap_token", "CERTCTL_AGENT_BOOTSTRAP_TOKEN", "token for the first registration"),
    ("name", "CERTCTL_AGENT_NAME", "name to register under (default: the host name)"),
    ("directory", "CERTCTL_AGENT_DIR", "state directory (default ~/.local/share/certctl-agent)"),
    ("key_dir", "CERTCTL_KEY_DIR", "private keys (default <state directory>/keys)"),
    ("ca_file", "CERTCTL_AGENT_CA_FILE", "CA certificate(s) to trust for the engine's TLS"),
    ("discovery_dirs", "CERTCTL_DISCOVERY_DIRS", "comma-separated directories to scan for certificates"),
    ("key_type", "CERTCTL_AGENT_KEY_TYPE", "key for new CSRs: ecdsa-p256 (default), ecdsa-p384, rsa2048, ..."),
    ("heartbeat_interval", "CERTCTL_AGENT_HEARTBEAT_INTERVAL", "between heartbeats (default 60s)"),
    ("poll_interval", "CERTCTL_AGENT_POLL_INTERVAL", "between work polls (default 30s)"),
    ("discovery_interval", "CERTCTL_AGENT_DISCOVERY_INTERVAL", "between discovery scans (default 6h)"),
    ("max_backoff", "CERTCTL_AGENT_MAX_BACKOFF", "longest wait while the engine is down (default 5m)"),
    ("log_level", "CERTCTL_LOG_LEVEL", "debug, info (default), warning, error"),
)


def parse_duration(text: str, name: str) -> float:
    """Seconds in a duration like ``500ms``, ``30s``, ``2m``, ``1h30m`` (a bare number is seconds)."""
    value = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return float(value)
    parts = _DURATION.findall(value)
    if not value or "".join(n + u for n, u in parts) != value:
        raise InvalidInput(f"{name} '{text}' is not a duration like 30s, 2m or 1h", field=name)
    factor = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * factor[u] for n, u in parts)


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """Where the engine is, how to trust it, what to scan, and how often to talk to it."""

    server_url: str
    directory: Path
    key_dir: Path
    name: str
    bootstrap_token: str | None = None
    ca_file: Path | None = None
    discovery_dirs: tuple[Path, ...] = ()
    key_spec: KeySpec = DEFAULT_KEY_SPEC
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS
    poll_seconds: float = DEFAULT_POLL_SECONDS
    discovery_seconds: float = DEFAULT_DISCOVERY_SECONDS
    max_backoff_seconds: float = DEFAULT_MAX_BACKOFF_SECONDS
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    log_level: str = "INFO"

    @property
    def state_file(self) -> Path:
        return self.directory / "agent.json"


def _pick(flags: Mapping[str, Any], env: Mapping[str, str], setting: str, variable: str) -> str | None:
    value = flags.get(setting)
    if value not in (None, ""):
        return str(value)
    return env.get(variable) or None


def _seconds(flags: Mapping[str, Any], env: Mapping[str, str], setting: str, variable: str, default: float) -> float:
    text = _pick(flags, env, setting, variable)
    if text is None:
        return default
    seconds = parse_duration(text, f"--{setting.replace('_', '-')} / {variable}")
    if seconds <= 0:
        raise InvalidInput(f"--{setting.replace('_', '-')} / {variable} must be longer than zero", field=setting)
    return seconds


def _server_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            f"server URL '{text}' must be http(s)://HOST:PORT (--server-url / CERTCTL_SERVER_URL)", field="server_url"
        )
    return text.rstrip("/")


def load_config(flags: Mapping[str, Any], env: Mapping[str, str] | None = None) -> AgentConfig:
    """The agent's settings from ``flags`` (parsed options; None means not given) and ``env``."""
    env = os.environ if env is None else env
    variables = {setting: variable for setting, variable, _ in ENVIRONMENT}

    def pick(setting: str) -> str | None:
        return _pick(flags, env, setting, variables[setting])

    directory = Path(pick("directory") or Path.home() / ".local" / "share" / "certctl-agent").expanduser()
    key_dir = Path(pick("key_dir") or directory / "keys").expanduser()
    ca_text = pick("ca_file")
    ca_file = Path(ca_text).expanduser() if ca_text else None
    if ca_file is not None and not ca_file.is_file():
        raise InvalidInput(f"CA file '{ca_file}' does not exist (--ca-file / CERTCTL_AGENT_CA_FILE)", field="ca_file")
    dirs_text = pick("discovery_dirs") or ""
    discovery_dirs = tuple(Path(d.strip()).expanduser() for d in dirs_text.split(",") if d.strip())
    for d in discovery_dirs:
        if not d.is_absolute():
            raise InvalidInput(f"discovery directory '{d}' must be an absolute path", field="discovery_dirs")
    key_text = pick("key_type")
    try:
        key_spec = KeySpec.parse(key_text) if key_text else DEFAULT_KEY_SPEC
    except InvalidInput as exc:
        raise InvalidInput(f"--key-type / CERTCTL_AGENT_KEY_TYPE: {exc.message}", field="key_type") from None
    level = (pick("log_level") or "info").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise InvalidInput(f"log level '{level.lower()}' must be debug, info, warning or error", field="log_level")
    name = pick("name") or socket.gethostname()
    if not name.strip() or len(name) > 255:
        raise InvalidInput("the agent name must be 1 to 255 characters", field="name")
    return AgentConfig(
        server_url=_server_url(pick("server_url") or DEFAULT_SERVER_URL),
        directory=directory,
        key_dir=key_dir,
        name=name.strip(),
        bootstrap_token=pick("bootstrap_token"),
        ca_file=ca_file,
        discovery_dirs=discovery_dirs,
        key_spec=key_spec,
        heartbeat_seconds=_seconds(flags, env, "heartbeat_interval", variables["heartbeat_interval"],
                                   DEFAULT_HEARTBEAT_SECONDS),
        poll_seconds=_seconds(flags, env, "poll_interval", variables["poll_interval"], DEFAULT_POLL_SECONDS),
        discovery_seconds=_seconds(flags, env, "discovery_interval", variables["discovery_interval"],
                                   DEFAULT_DISCOVERY_SECONDS),
        max_backoff_seconds=_seconds(flags, env, "max_backoff", variables["max_backoff"],
                                     DEFAULT_MAX_BACKOFF_SECONDS),
        log_level=level,
    )  # fmt: skip


def environment_help() -> str:
    """The environment variables, for the --help epilog."""
    width = max(len(v) for _, v, _ in ENVIRONMENT)
    lines = ["environment (a flag wins over its variable):"]
    lines += [f"  {variable.ljust(width)}  {text}" for _, variable, text in ENVIRONMENT]
    return "\n".join(lines)
