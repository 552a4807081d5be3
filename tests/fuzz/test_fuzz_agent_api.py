"""Agent API bodies from anywhere: every endpoint answers 4xx for bad input, never 500.

Random JSON (objects and not), random bytes, wrong keys and no key go to every agent
endpoint through Starlette's TestClient, with the server's own exceptions turned into
responses as production serves them. Every answer must be one of 200, 201, 202, 400, 401,
404, 409, 413, 422 or 429 with a JSON error for the refusals.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fuzz_samples import certificate_pems
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.testclient import TestClient

from certctl_engine.domain import Actor, JobType
from certctl_engine.engine import Engine
from certctl_engine.http.agent_api import agent_routes

TOKEN = "bootstrap-s3cret"
FUZZER = Actor("fuzzer")
ALLOWED = {200, 201, 202, 400, 401, 404, 409, 413, 422, 429}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec=None, exclude_categories=()), max_size=30)
    | st.sampled_from(["Completed", "Failed", "Running", "-----BEGIN CERTIFICATE REQUEST-----", "abc", "12"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
FIELDS = [
    "name", "hostname", "bootstrap_token", "job_id", "csr_pem", "status", "error", "verified",
    "actual_fingerprint", "certificates", "errors", "directories", "scan_duration_ms", "version", "os",
]  # fmt: skip
objects = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), json_values, max_size=6)
discovery_reports = st.fixed_dictionaries(
    {
        "certificates": st.lists(
            st.fixed_dictionaries(
                {"pem_data": certificate_pems(), "source_path": st.sampled_from(["/etc/ssl/a.pem", "", "x" * 1100])},
                optional={"fingerprint_sha256": st.text(max_size=64), "source_format": json_values},
            ),
            max_size=3,
        )
    },
    optional={"errors": json_values, "directories": json_values, "scan_duration_ms": json_values},
)
"""Discovery reports that look like an agent's, carrying certificates with a few bytes changed."""


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, TestClient, dict[str, str]]]:
    home: Path = tmp_path_factory.mktemp("agent-api-fuzz")
    env = {"CERTCTL_HOME": str(home), "CERTCTL_AGENT_BOOTSTRAP_TOKEN": TOKEN}
    with Engine.open(str(home / "certctl.db"), env=env) as engine:
        engine.issuers.create("Local", "GenericCA", {}, actor=FUZZER, id="iss-local")
        app = Starlette(routes=agent_routes(engine, rate_per_second=10_000, burst=10_000))
        with TestClient(app, raise_server_exceptions=False) as client:
            registered = client.post(
                "/api/v1/agents", json={"name": "fuzz-agent"}, headers={"X-Certctl-Bootstrap-Token": TOKEN}
            )
            assert registered.status_code == 201, registered.text
            body = registered.json()
            context = {"agent_id": body["agent"]["id"], "key": body["api_key"]}
            cert = engine.certificates.create(
                name="web", common_name="web.example.com", issuer_id="iss-local", actor=FUZZER
            )
            job = engine.jobs.create(JobType.RENEWAL, cert.id, actor=FUZZER, agent_id=context["agent_id"])
            context.update(certificate_id=cert.id, job_id=job.id)
            yield engine, client, context


ENDPOINTS = [
    ("POST", "/api/v1/agents"),
    ("POST", "/api/v1/agents/{agent_id}/heartbeat"),
    ("GET", "/api/v1/agents/{agent_id}/work"),
    ("POST", "/api/v1/agents/{agent_id}/csr"),
    ("GET", "/api/v1/agents/{agent_id}/certificates/{certificate_id}"),
    ("POST", "/api/v1/agents/{agent_id}/jobs/{job_id}/status"),
    ("POST", "/api/v1/agents/{agent_id}/jobs/{job_id}/verify"),
    ("POST", "/api/v1/agents/{agent_id}/discoveries"),
]


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, str, bytes]:
    method, template = draw(st.sampled_from(ENDPOINTS))
    auth = draw(st.sampled_from(["key", "key", "key", "none", "wrong", "garbage"]))
    path_ids = {name: draw(st.sampled_from(["REAL", "REAL", "other", "x" * 70])) for name in ("agent", "cert", "job")}
    body = draw(
        st.one_of(
            discovery_reports.map(lambda o: json.dumps(o).encode()),
            objects.map(lambda o: json.dumps(o).encode()),
            json_values.map(lambda v: json.dumps(v).encode()),
            st.binary(max_size=200),
        )
    )
    return method, template + "|" + "|".join(path_ids.values()), auth, body


def _send(api: tuple[Engine, TestClient, dict[str, str]], request: tuple[str, str, str, bytes]) -> Any:
    _, client, context = api
    method, spec, auth, body = request
    template, agent, cert, job = spec.split("|")
    path = template.format(
        agent_id=context["agent_id"] if agent == "REAL" else agent,
        certificate_id=context["certificate_id"] if cert == "REAL" else cert,
        job_id=context["job_id"] if job == "REAL" else job,
    )
    headers = {"Content-Type": "application/json"}
    if auth == "key":
        headers["Authorization"] = f"Bearer {context['key']}"
    elif auth == "wrong":
        headers["Authorization"] = "Bearer cak_not-a-real-key"
    elif auth == "garbage":
        headers["Authorization"] = "Basic Zm9vOmJhcg=="
    if 'agents"' in path or template == "/api/v1/agents":
        headers["X-Certctl-Bootstrap-Token"] = TOKEN if auth == "key" else "wrong"
    return client.request(method, path, content=body if method == "POST" else None, headers=headers)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=requests())
@example(request=("POST", "/api/v1/agents/{agent_id}/discoveries|REAL|REAL|REAL", "key", b'{"scan_duration_ms": "x"}'))
@example(request=("POST", "/api/v1/agents/{agent_id}/discoveries|REAL|REAL|REAL", "key", b'{"directories": 5}'))
@example(request=("POST", "/api/v1/agents|REAL|REAL|REAL", "key", b'{"name": "\\ud800"}'))
@example(request=("POST", "/api/v1/agents/{agent_id}/heartbeat|REAL|REAL|REAL", "key", b'{"hostname": "\\u0000"}'))
def test_agent_endpoints_answer_4xx_for_bad_input_and_never_500(
    api: tuple[Engine, TestClient, dict[str, str]], request: tuple[str, str, str, bytes]
) -> None:
    response = _send(api, request)
    event(f"{request[1].split('|')[0]} -> {response.status_code}")
    assert response.status_code in ALLOWED, f"{request!r} -> {response.status_code}: {response.text[:500]}"
    if response.status_code >= 400:
        assert response.json()["error"].strip()
