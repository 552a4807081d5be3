"""Health, readiness and Prometheus metrics of the engine service, over real HTTP requests (ASGI)."""

from __future__ import annotations

import re

import httpx
import pytest

from certctl_engine.demo import seed_demo
from certctl_engine.engine import Engine
from certctl_engine.http import build_app
from certctl_engine.scheduler import Scheduler

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_health_ready_and_metrics(engine: Engine) -> None:
    seed_demo(engine)
    app = build_app(engine, Scheduler(engine))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://certctl") as client:
        assert (await client.get("/health")).json() == {"status": "healthy"}
        ready = (await client.get("/ready")).json()
        assert ready["status"] == "ready" and ready["audit_sequence"] == engine.audit.latest_sequence()
        response = await client.get("/metrics")
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = response.text
        assert "# TYPE certctl_certificates gauge" in text
        assert 'certctl_certificates{status="Active"} 17' in text
        assert 'certctl_jobs{status="AwaitingApproval",type="Renewal"} 2' in text
        assert 'certctl_agents{status="Offline"} 1' in text
        # Every sample line is "name{labels} number" or "name number".
        for line in text.splitlines():
            if not line.startswith("#"):
                assert re.fullmatch(r"[a-z_0-9]+(\{[^}]*\})? -?[0-9.e+]+", line), line
        assert (await client.post("/metrics")).status_code == 405
