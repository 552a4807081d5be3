"""The agent API over HTTP: registration, keys kept hashed, isolation between agents, CSRs, bad input."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from frozen_clock import Clock
from starlette.applications import Starlette
from starlette.testclient import TestClient

from certctl_engine.agent.keystore import KeyStore
from certctl_engine.domain import Actor, AgentStatus, JobStatus, JobType
from certctl_engine.engine import Engine
from certctl_engine.http.agent_api import agent_routes
from certctl_engine.store.models import AgentModel

TOKEN = "bootstrap-s3cret"
ALICE = Actor("alice")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api(store_url: str, store_env: dict[str, str], clock: Clock) -> Iterator[tuple[Engine, TestClient]]:
    env = {**store_env, "CERTCTL_AGENT_BOOTSTRAP_TOKEN": TOKEN}
    with Engine.open(store_url, env=env, clock=clock) as engine:
        engine.issuers.create("Local", "GenericCA", {}, actor=ALICE, id="iss-local")
        app = Starlette(routes=agent_routes(engine, rate_per_second=1000, burst=1000))
        with TestClient(app) as client:
            yield engine, client


def _register(client: TestClient, name: str) -> tuple[str, dict[str, str]]:
    response = client.post("/api/v1/agents", json={"name": name, "hostname": f"{name}.lan"}, headers={
        "X-Certctl-Bootstrap-Token": TOKEN
    })  # fmt: skip
    assert response.status_code == 201, response.text
    body = response.json()
    return body["agent"]["id"], {"Authorization": f"Bearer {body['api_key']}"}


def test_registration_needs_the_bootstrap_token_and_keys_are_stored_hashed(
    api: tuple[Engine, TestClient],
) -> None:
    _engine, client = api
    assert client.post("/api/v1/agents", json={"name": "x"}).status_code == 401
    wrong = client.post("/api/v1/agents", json={"name": "x"}, headers={"X-Certctl-Bootstrap-Token": "nope"})
    assert wrong.status_code == 401 and "bootstrap token" in wrong.json()["error"]
    agent_id, auth = _register(client, "web-1")
    key = auth["Authorization"][7:]
    row = AgentModel.get_by_id(agent_id)
    assert row.api_key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in str(row.__data__.values())
    assert (
        client.post("/api/v1/agents", json={"name": "web-1"}, headers={"X-Certctl-Bootstrap-Token": TOKEN}).status_code
        == 409
    )


def test_heartbeat_auth_and_staleness(api: tuple[Engine, TestClient], clock: Clock) -> None:
    engine, client = api
    agent_id, auth = _register(client, "web-1")
    missing = client.post(f"/api/v1/agents/{agent_id}/heartbeat", json={})
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    bad = client.post(f"/api/v1/agents/{agent_id}/heartbeat", json={}, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    ok = client.post(
        f"/api/v1/agents/{agent_id}/heartbeat",
        json={"os": "linux", "architecture": "amd64", "version": "1.2.3", "ip_address": "10.0.0.7"},
        headers=auth,
    )
    assert ok.status_code == 200 and ok.json()["agent"]["os"] == "linux"
    other_id, _ = _register(client, "web-2")
    assert client.post(f"/api/v1/agents/{other_id}/heartbeat", json={}, headers=auth).status_code == 404
    clock.now += timedelta(minutes=6)
    assert set(engine.agents.mark_stale_offline(actor=Actor.system())) == {agent_id, other_id}
    assert engine.agents.get(agent_id).status is AgentStatus.OFFLINE
    client.post(f"/api/v1/agents/{agent_id}/heartbeat", json={}, headers=auth)
    assert engine.agents.get(agent_id).status is AgentStatus.ONLINE


def test_deployment_work_is_the_agents_own(api: tuple[Engine, TestClient], tmp_path: Path) -> None:
    engine, client = api
    agent_id, auth = _register(client, "web-1")
    other_id, other_auth = _register(client, "web-2")
    engine.targets.create(
        "agent files", "Files", {"directory": str(tmp_path), "cert_file": "c.pem"}, agent_id=agent_id, actor=ALICE,
        id="tgt-agent",
    )  # fmt: skip
    cert_id = engine.certificates.create(
        name="web", common_name="web.example.com", issuer_id="iss-local", target_ids=["tgt-agent"], actor=ALICE
    ).id
    engine.issuance.issue(cert_id, actor=ALICE)
    assert engine.deployments.process_due(actor=ALICE).completed == 0  # the engine leaves it to the agent
    assert client.get(f"/api/v1/agents/{other_id}/work", headers=other_auth).json()["count"] == 0
    work = client.get(f"/api/v1/agents/{agent_id}/work", headers=auth).json()
    (item,) = work["jobs"]
    assert item["type"] == "Deployment" and item["status"] == "Running" and item["target_type"] == "Files"
    assert client.get(f"/api/v1/agents/{agent_id}/work", headers=auth).json()["count"] == 0  # taken once
    pem = client.get(f"/api/v1/agents/{agent_id}/certificates/{cert_id}", headers=auth)
    assert pem.status_code == 200 and "BEGIN CERTIFICATE" in pem.json()["certificate_pem"]
    assert "PRIVATE KEY" not in pem.text
    assert client.get(f"/api/v1/agents/{other_id}/certificates/{cert_id}", headers=other_auth).status_code == 404
    stolen = client.post(
        f"/api/v1/agents/{other_id}/jobs/{item['job_id']}/status", json={"status": "Completed"}, headers=other_auth
    )
    assert stolen.status_code == 404
    done = client.post(f"/api/v1/agents/{agent_id}/jobs/{item['job_id']}/status", json={"status": "Completed"},
                       headers=auth)  # fmt: skip
    assert done.status_code == 200 and engine.jobs.get(item["job_id"]).status is JobStatus.COMPLETED
    again = client.post(f"/api/v1/agents/{agent_id}/jobs/{item['job_id']}/status", json={"status": "Running"},
                        headers=auth)  # fmt: skip
    assert again.status_code == 409  # the state machine still holds


def test_a_csr_from_the_agent_completes_the_job_and_no_key_is_stored(
    api: tuple[Engine, TestClient], tmp_path: Path
) -> None:
    engine, client = api
    agent_id, auth = _register(client, "web-1")
    cert_id = engine.certificates.create(
        name="edge", common_name="edge.example.com", sans=("edge.example.com",), issuer_id="iss-local", actor=ALICE
    ).id
    job = engine.jobs.active_for(cert_id, JobType.ISSUANCE)
    engine.jobs.transition(job.id, JobStatus.RUNNING, actor=ALICE)
    engine.jobs.await_csr(job.id, actor=ALICE, agent_id=agent_id)
    (item,) = client.get(f"/api/v1/agents/{agent_id}/work", headers=auth).json()["jobs"]
    assert item["status"] == "AwaitingCSR" and item["common_name"] == "edge.example.com"
    keys = KeyStore(tmp_path / "keys")
    prepared = keys.prepare_csr(cert_id, item["common_name"], tuple(item["sans"]))
    bad = client.post(f"/api/v1/agents/{agent_id}/csr", json={"job_id": job.id, "csr_pem": "garbage"}, headers=auth)
    assert bad.status_code == 400 and "certificate signing request" in bad.json()["error"]
    assert engine.jobs.get(job.id).status is JobStatus.AWAITING_CSR  # still waiting after a bad CSR
    signed = client.post(f"/api/v1/agents/{agent_id}/csr", json={"job_id": job.id, "csr_pem": prepared.csr_pem},
                         headers=auth)  # fmt: skip
    assert signed.status_code == 202, signed.text
    assert engine.jobs.get(job.id).status is JobStatus.COMPLETED
    version = engine.certificates.current_version(cert_id)
    assert version is not None and not version.has_private_key
    assert keys.key_for(cert_id, version.pem_chain)  # the agent's key matches what was signed
    assert prepared.key_path.stat().st_mode & 0o777 == 0o600


def test_bad_requests(api: tuple[Engine, TestClient]) -> None:
    _engine, client = api
    agent_id, auth = _register(client, "web-1")
    url = f"/api/v1/agents/{agent_id}/heartbeat"
    huge = client.post(
        url, content=b"{" + b" " * (1024 * 1024 + 10) + b"}", headers={**auth, "Content-Type": "application/json"}
    )
    assert huge.status_code == 413
    broken = client.post(url, content=b"{not json", headers={**auth, "Content-Type": "application/json"})
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]
    assert client.post(url, json=["a", "list"], headers=auth).status_code == 400
    assert client.post(url, json={"os": 42}, headers=auth).status_code == 400
    assert client.post(f"/api/v1/agents/{agent_id}/jobs/job-nope/status", json={"status": "Completed"},
                       headers=auth).status_code == 404  # fmt: skip


def test_rate_limit_answers_429_with_retry_after(api: tuple[Engine, TestClient]) -> None:
    engine, client = api
    agent_id, auth = _register(client, "web-1")
    limited = TestClient(Starlette(routes=agent_routes(engine, rate_per_second=0.5, burst=3)))
    codes: list[Any] = [limited.get(f"/api/v1/agents/{agent_id}/work", headers=auth) for _ in range(5)]
    assert [r.status_code for r in codes] == [200, 200, 200, 429, 429]
    assert int(codes[-1].headers["retry-after"]) >= 1


@pytest.fixture
def keygen_api(store_url: str, store_env: dict[str, str], clock: Clock) -> Iterator[tuple[Engine, TestClient]]:
    env = {**store_env, "CERTCTL_AGENT_BOOTSTRAP_TOKEN": TOKEN, "CERTCTL_KEYGEN_MODE": "agent"}
    with Engine.open(store_url, env=env, clock=clock) as engine:
        engine.issuers.create("Local", "GenericCA", {}, actor=ALICE, id="iss-local")
        with TestClient(Starlette(routes=agent_routes(engine))) as client:
            yield engine, client


def test_in_agent_keygen_mode_a_renewal_waits_for_the_agents_csr(
    keygen_api: tuple[Engine, TestClient], tmp_path: Path
) -> None:
    engine, client = keygen_api
    agent_id, auth = _register(client, "edge-1")
    engine.targets.create(
        "edge files", "Files", {"directory": str(tmp_path), "cert_file": "c.pem"}, agent_id=agent_id, actor=ALICE,
        id="tgt-edge",
    )  # fmt: skip
    cert_id = engine.certificates.create(
        name="edge", common_name="edge.example.com", issuer_id="iss-local", target_ids=["tgt-edge"], actor=ALICE
    ).id
    job = engine.jobs.active_for(cert_id, JobType.ISSUANCE)
    run = engine.renewal.process_due()
    assert run.awaiting_csr == 1 and run.completed == 0
    waiting = engine.jobs.get(job.id)
    assert waiting.status is JobStatus.AWAITING_CSR and waiting.agent_id == agent_id
    assert engine.certificates.current_version(cert_id) is None  # nothing signed, no key made by the engine
    items = client.get(f"/api/v1/agents/{agent_id}/work", headers=auth).json()["jobs"]
    csr_item = next(i for i in items if i["job_id"] == job.id)
    prepared = KeyStore(tmp_path / "keys").prepare_csr(cert_id, csr_item["common_name"], tuple(csr_item["sans"]))
    signed = client.post(f"/api/v1/agents/{agent_id}/csr", json={"job_id": job.id, "csr_pem": prepared.csr_pem},
                         headers=auth)  # fmt: skip
    assert signed.status_code == 202
    version = engine.certificates.current_version(cert_id)
    assert version is not None and not version.has_private_key
    # The new version is queued for deployment to the agent's target.
    deployments = [i for i in client.get(f"/api/v1/agents/{agent_id}/work", headers=auth).json()["jobs"]
                   if i["type"] == "Deployment"]  # fmt: skip
    assert [d["version_id"] for d in deployments] == [version.id]


def test_an_unknown_keygen_mode_is_refused_at_open(tmp_path: Path) -> None:
    from certctl_engine.errors import InvalidInput

    env = {"CERTCTL_HOME": str(tmp_path), "CERTCTL_KEYGEN_MODE": "cloud"}
    with pytest.raises(InvalidInput, match="CERTCTL_KEYGEN_MODE must be one of server, agent"):
        Engine.open(str(tmp_path / "c.db"), env=env)
    Engine.open(str(tmp_path / "c.db"), env={"CERTCTL_HOME": str(tmp_path)}).close()  # the store was released
