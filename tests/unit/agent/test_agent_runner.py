"""The agent's settings (flags over environment over defaults), its backoff, and how it lives through
an engine outage or a revoked key. The engine here is an httpx MockTransport answering in the agent
API's documented shapes; the end-to-end test runs against the real engine."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from certctl_engine.agent.client import AgentClient
from certctl_engine.agent.config import AgentConfig, load_config
from certctl_engine.agent.runner import AgentRunner, AgentStopped, Outage, backoff_delay
from certctl_engine.errors import InvalidInput
from certctl_engine.pki import KeySpec


def test_flags_win_over_the_environment_which_wins_over_defaults(tmp_path: Path) -> None:
    env = {
        "CERTCTL_SERVER_URL": "https://env.example.com:9443/",
        "CERTCTL_AGENT_NAME": "from-env",
        "CERTCTL_AGENT_DIR": str(tmp_path / "env-dir"),
        "CERTCTL_DISCOVERY_DIRS": "/etc/ssl, /srv/certs",
        "CERTCTL_AGENT_POLL_INTERVAL": "45s",
        "CERTCTL_AGENT_KEY_TYPE": "rsa2048",
    }
    config = load_config({"name": "from-flag", "poll_interval": "1m30s", "server_url": None}, env)
    assert config.name == "from-flag" and config.poll_seconds == 90
    assert config.server_url == "https://env.example.com:9443"
    assert config.directory == tmp_path / "env-dir" and config.key_dir == tmp_path / "env-dir" / "keys"
    assert config.discovery_dirs == (Path("/etc/ssl"), Path("/srv/certs"))
    assert config.key_spec == KeySpec.parse("rsa2048")
    assert config.state_file == tmp_path / "env-dir" / "agent.json"
    defaults = load_config({}, {"CERTCTL_AGENT_DIR": str(tmp_path)})
    assert defaults.server_url == "https://127.0.0.1:8080" and defaults.key_spec == KeySpec.parse("ecdsa-p256")
    assert (defaults.heartbeat_seconds, defaults.poll_seconds, defaults.discovery_seconds) == (60, 30, 6 * 3600)


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        ({"poll_interval": "soon"}, "--poll-interval / CERTCTL_AGENT_POLL_INTERVAL 'soon' is not a duration"),
        ({"heartbeat_interval": "0s"}, "must be longer than zero"),
        ({"server_url": "ftp://engine"}, "must be http(s)://HOST:PORT"),
        ({"ca_file": "/nonexistent/ca.crt"}, "CA file '/nonexistent/ca.crt' does not exist"),
        ({"discovery_dirs": "relative/dir"}, "must be an absolute path"),
        ({"key_type": "dsa1024"}, "--key-type / CERTCTL_AGENT_KEY_TYPE"),
        ({"log_level": "loud"}, "log level 'loud'"),
    ],
)
def test_bad_settings_are_refused_naming_the_flag(flags: dict[str, str], words: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_config(flags, {"CERTCTL_AGENT_DIR": str(tmp_path)})
    assert words in caught.value.message


def test_backoff_doubles_from_one_second_up_to_the_ceiling_with_jitter() -> None:
    for failures, base in ((1, 1), (2, 2), (3, 4), (6, 32), (9, 60), (30, 60)):
        for _ in range(20):
            assert 0.75 * base <= backoff_delay(failures, 60) <= base


def test_an_outage_is_logged_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    from certctl_engine.agent.client import EngineUnavailable

    outage = Outage()
    with caplog.at_level(logging.WARNING, logger="certctl.agent"):
        for _ in range(5):
            outage.failed(EngineUnavailable(0, "cannot reach the engine"), 300)
        assert outage.down
        outage.recovered()
        outage.recovered()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("engine unavailable" in m for m in messages) == 1
    assert sum("reachable again" in m and "5 failed attempts" in m for m in messages) == 1


class FlakyEngine:
    """Refuses connections for the first ``down`` calls, then answers like the agent API."""

    def __init__(self, down: int) -> None:
        self.down = down
        self.calls: list[tuple[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append((request.method, request.url.path))
        if len(self.calls) <= self.down:
            raise httpx.ConnectError("connection refused", request=request)
        path = request.url.path
        if path == "/api/v1/agents":
            assert request.headers["x-certctl-bootstrap-token"] == "tok"
            body = json.loads(request.content)
            return httpx.Response(201, json={"agent": {"id": "agent-1", "name": body["name"]}, "api_key": "k-123"})
        assert request.headers["authorization"] == "Bearer k-123"
        if path.endswith("/heartbeat"):
            meta = json.loads(request.content)
            assert {"os", "architecture", "version", "ip_address", "hostname"} <= set(meta)
            return httpx.Response(200, json={"status": "ok"})
        if path.endswith("/work"):
            return httpx.Response(200, json={"jobs": [], "count": 0})
        return httpx.Response(404, json={"error": "no such route"})


def _config(tmp_path: Path, **extra: Any) -> AgentConfig:
    base: dict[str, Any] = {
        "server_url": "http://engine.test",
        "directory": tmp_path / "agent",
        "key_dir": tmp_path / "agent" / "keys",
        "name": "edge-1",
        "bootstrap_token": "tok",
        "heartbeat_seconds": 0.05,
        "poll_seconds": 0.05,
        "max_backoff_seconds": 0.05,
    }
    base.update(extra)
    return AgentConfig(**base)


def test_the_agent_waits_out_an_outage_registers_and_keeps_working(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = FlakyEngine(down=6)
    config = _config(tmp_path)
    runner = AgentRunner(config, AgentClient(config.server_url, transport=httpx.MockTransport(engine)))

    async def scenario() -> None:
        stop = anyio.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(runner.run, stop)
            with anyio.fail_after(10):
                while runner.heartbeats < 3 or runner.polls < 3:
                    await anyio.sleep(0.02)
            stop.set()

    with caplog.at_level(logging.INFO, logger="certctl.agent"):
        anyio.run(scenario)
    state = json.loads(config.state_file.read_text())
    assert state == {"agent_id": "agent-1", "api_key": "k-123", "server_url": "http://engine.test", "name": "edge-1"}
    assert config.state_file.stat().st_mode & 0o777 == 0o600
    assert engine.calls[:6] == [("POST", "/api/v1/agents")] * 6  # registration retried until it got through
    messages = [r.getMessage() for r in caplog.records]
    assert sum("engine unavailable" in m for m in messages) == 1
    assert sum("reachable again" in m for m in messages) == 1


def test_a_revoked_key_stops_the_agent_with_what_to_do(tmp_path: Path) -> None:
    config = _config(tmp_path, bootstrap_token=None)
    config.directory.mkdir(parents=True)
    config.state_file.write_text(json.dumps({"agent_id": "agent-1", "api_key": "old", "server_url": config.server_url}))

    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": "the agent API key is not valid"})

    runner = AgentRunner(config, AgentClient(config.server_url, transport=httpx.MockTransport(refuse)))
    with pytest.raises(AgentStopped) as caught:
        anyio.run(runner.run, anyio.Event())
    assert "the agent API key is not valid" in caught.value.message and str(config.state_file) in caught.value.message
    assert config.state_file.stat().st_mode & 0o777 == 0o600  # tightened on load


def test_an_unregistered_agent_without_a_token_says_which_setting_is_missing(tmp_path: Path) -> None:
    config = _config(tmp_path, bootstrap_token=None)
    runner = AgentRunner(config, AgentClient(config.server_url, transport=httpx.MockTransport(FlakyEngine(0))))
    with pytest.raises(AgentStopped, match="CERTCTL_AGENT_BOOTSTRAP_TOKEN"):
        anyio.run(runner.run, anyio.Event())


def test_a_wrong_bootstrap_token_stops_registration_with_the_engines_words(tmp_path: Path) -> None:
    config = _config(tmp_path, bootstrap_token="wrong")

    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": "the bootstrap token is not valid"})

    runner = AgentRunner(config, AgentClient(config.server_url, transport=httpx.MockTransport(refuse)))
    with pytest.raises(AgentStopped, match="registration refused: the bootstrap token is not valid"):
        anyio.run(runner.run, anyio.Event())
    assert not config.state_file.exists()
