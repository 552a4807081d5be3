"""The agent reports what its TLS check saw after a deployment: recorded on its own deployment jobs only,
judged against the deployed version's fingerprint, bad input refused with a clear message."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from certctl_engine.domain import Actor, JobStatus, JobType
from certctl_engine.engine import Engine
from certctl_engine.http.agent_api import agent_routes
from certctl_engine.store.models import JobModel

TOKEN = "bootstrap-s3cret"
ALICE = Actor("alice")


@pytest.fixture
def api(store_url: str, store_env: dict[str, str]) -> Iterator[tuple[Engine, TestClient]]:
    env = {**store_env, "CERTCTL_AGENT_BOOTSTRAP_TOKEN": TOKEN}
    with Engine.open(store_url, env=env) as engine:
        engine.issuers.create("Local", "GenericCA", {}, actor=ALICE, id="iss-local")
        with TestClient(Starlette(routes=agent_routes(engine, rate_per_second=1000, burst=1000))) as client:
            yield engine, client


def _register(client: TestClient, name: str) -> tuple[str, dict[str, str]]:
    body = client.post("/api/v1/agents", json={"name": name}, headers={"X-Certctl-Bootstrap-Token": TOKEN}).json()
    return body["agent"]["id"], {"Authorization": f"Bearer {body['api_key']}"}


def test_verification_reports(api: tuple[Engine, TestClient], tmp_path: Path) -> None:
    engine, client = api
    agent_id, auth = _register(client, "web-1")
    other_id, other_auth = _register(client, "web-2")
    engine.targets.create(
        "files", "Files", {"directory": str(tmp_path), "cert_file": "c.pem"}, agent_id=agent_id, actor=ALICE, id="tgt-1"
    )
    cert_id = engine.certificates.create(
        name="web", common_name="web.example.com", issuer_id="iss-local", target_ids=["tgt-1"], actor=ALICE
    ).id
    version = engine.issuance.issue(cert_id, actor=ALICE)
    (item,) = client.get(f"/api/v1/agents/{agent_id}/work", headers=auth).json()["jobs"]
    url = f"/api/v1/agents/{agent_id}/jobs/{item['job_id']}/verify"

    bad = client.post(url, json={"verified": "yes"}, headers=auth)
    assert bad.status_code == 400 and "verified (true/false)" in bad.json()["error"]
    stolen = client.post(
        f"/api/v1/agents/{other_id}/jobs/{item['job_id']}/verify",
        json={"verified": True, "actual_fingerprint": version.fingerprint_sha256},
        headers=other_auth,
    )
    assert stolen.status_code == 404

    # A claim of success with another fingerprint is recorded as a failure, saying why.
    lie = client.post(url, json={"verified": True, "actual_fingerprint": "ab" * 32, "error": None}, headers=auth)
    assert lie.status_code == 200 and lie.json()["verification_status"] == "failed"
    assert "is not the deployed" in str(JobModel.get_by_id(item["job_id"]).verification_error)

    ok = client.post(
        url, json={"verified": True, "actual_fingerprint": version.fingerprint_sha256.upper()}, headers=auth
    )
    assert ok.status_code == 200 and ok.json()["verification_status"] == "success"
    row = JobModel.get_by_id(item["job_id"])
    assert row.verification_fingerprint == version.fingerprint_sha256 and row.verification_error is None
    events = engine.audit.list(actor=agent_id, action="job_verification_success").items
    assert [e.resource_id for e in events] == [item["job_id"]]

    # Only deployments are verified.
    job = engine.jobs.create(JobType.RENEWAL, cert_id, actor=ALICE)
    engine.jobs.transition(job.id, JobStatus.RUNNING, actor=ALICE)
    engine.jobs.await_csr(job.id, actor=ALICE, agent_id=agent_id)
    wrong = client.post(
        f"/api/v1/agents/{agent_id}/jobs/{job.id}/verify",
        json={"verified": False, "actual_fingerprint": "", "error": "refused"},
        headers=auth,
    )
    assert wrong.status_code == 409 and "only deployments are verified" in wrong.json()["error"]


def test_a_failed_csr_attempt_reported_by_the_agent_counts_and_keeps_the_error(
    api: tuple[Engine, TestClient],
) -> None:
    engine, client = api
    agent_id, auth = _register(client, "web-1")
    cert_id = engine.certificates.create(
        name="edge", common_name="edge.example.com", issuer_id="iss-local", actor=ALICE
    ).id
    job = engine.jobs.active_for(cert_id, JobType.ISSUANCE)
    engine.jobs.transition(job.id, JobStatus.RUNNING, actor=ALICE)
    engine.jobs.await_csr(job.id, actor=ALICE, agent_id=agent_id)
    failed = client.post(
        f"/api/v1/agents/{agent_id}/jobs/{job.id}/status",
        json={"status": "Failed", "error": "cannot write the key: disk full"},
        headers=auth,
    )
    assert failed.status_code == 200, failed.text
    after = engine.jobs.get(job.id)
    assert after.status in (JobStatus.PENDING, JobStatus.FAILED)  # retried after a backoff, or out of attempts
    assert after.last_error == "cannot write the key: disk full"
    assert client.get(f"/api/v1/agents/{agent_id}/work", headers=auth).json()["count"] == 0  # no longer asked
