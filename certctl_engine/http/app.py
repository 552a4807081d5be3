"""The Starlette application of the headless engine service.

Handlers run the engine's blocking calls in worker threads so the event loop stays free.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from certctl_engine.http import metrics
from certctl_engine.http.agent_api import agent_routes

if TYPE_CHECKING:
    from certctl_engine.engine import Engine
    from certctl_engine.scheduler import Scheduler


def build_app(engine: Engine, scheduler: Scheduler | None = None) -> Starlette:
    started = time.monotonic()

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "healthy"})

    async def ready(request: Request) -> Response:
        try:
            sequence = await anyio.to_thread.run_sync(engine.audit.latest_sequence)
        except Exception as exc:  # the store is unreachable: not ready, and say why
            return JSONResponse({"status": "not ready", "error": f"{type(exc).__name__}: {exc}"}, status_code=503)
        return JSONResponse(
            {"status": "ready", "audit_sequence": sequence, "scheduler_leader": bool(scheduler and scheduler.leading)}
        )

    async def prometheus(request: Request) -> Response:
        text = await anyio.to_thread.run_sync(
            lambda: metrics.render(engine, scheduler, uptime_seconds=time.monotonic() - started)
        )
        return PlainTextResponse(text, media_type=metrics.CONTENT_TYPE)

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/ready", ready, methods=["GET"]),
            Route("/metrics", prometheus, methods=["GET"]),
            *agent_routes(engine),
        ]
    )
