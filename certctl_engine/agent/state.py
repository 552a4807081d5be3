"""The agent's identity on disk: its id and API key, in one 0600 file of its state directory.

Written atomically once, after registration, so a crash never leaves a half identity; a
file for another engine URL is refused rather than silently sent to the wrong server.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from certctl_engine.agent.client import Credentials
from certctl_engine.errors import InvalidInput
from certctl_engine.files import write_atomic


def load_state(path: Path, server_url: str) -> Credentials | None:
    """The stored identity, None when the agent has not registered yet."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"agent state file {path} is unreadable ({exc}); remove it to register again") from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("agent_id"), str)
        or not isinstance(data.get("api_key"), str)
    ):
        raise InvalidInput(f"agent state file {path} holds no agent_id and api_key; remove it to register again")
    if data.get("server_url") not in (None, server_url):
        raise InvalidInput(
            f"agent state file {path} belongs to {data['server_url']}, not {server_url}; "
            "use another --dir for another engine"
        )
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)  # the API key is a secret: keep it the owner's only
    return Credentials(data["agent_id"], data["api_key"])


def save_state(path: Path, server_url: str, name: str, credentials: Credentials) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    body = {"agent_id": credentials.agent_id, "api_key": credentials.api_key, "server_url": server_url, "name": name}
    write_atomic(path, json.dumps(body, indent=2).encode() + b"\n", mode=0o600)
