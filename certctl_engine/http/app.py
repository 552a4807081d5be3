"""The Starlette application of the headless engine service.

Handlers run the engine's blocking calls in worker threads so the event loop stays free.
Besides health, metrics and the agent API it serves the protocol endpoints relying parties
and devices use without certctl's faces: OCSP (``/ocsp/<issuer>``), CRLs
(``/crl/<issuer>.crl``) and, when enabled, EST (``/.well-known/est/``). With
``CERTCTL_PUBLIC_URL`` set, local CA issuers get this service's CRL and OCSP URLs, so the
certificates they issue point here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from certctl_engine.domain import Actor
from certctl_engine.http import metrics
from certctl_engine.http.agent_api import agent_routes
from certctl_engine.http.crl_distribution import crl_routes
from certctl_engine.http.est import ESTConfig, est_routes
from certctl_engine.http.ocsp_responder import OCSPEndpoint
from certctl_engine.services.est import ESTService
from certctl_engine.services.public_urls import PublicURLService

if TYPE_CHECKING:
    from certctl_engine.engine import Engine
    from certctl_engine.scheduler import Scheduler


def protocol_endpoints(engine: Engine, env: Mapping[str, str]) -> tuple[list[Route], Middleware]:
    """CRL and (when enabled) EST routes, and the OCSP middleware; a bad EST or public URL setting stops
    the service here."""
    public_url = (env.get("CERTCTL_PUBLIC_URL") or "").strip()
    if public_url:
        PublicURLService(engine.context, engine.issuers).apply(public_url, actor=Actor.system("engine-service"))
    responder = engine.ocsp
    routes = crl_routes(engine.crl_publisher, now=engine.context.now)
    est = est_setup(engine, env)
    if est is not None:
        routes += est_routes(*est)
    return routes, Middleware(OCSPEndpoint, responder=responder, now=engine.context.now)


def est_setup(engine: Engine, env: Mapping[str, str]) -> tuple[ESTService, ESTConfig] | None:
    """The EST service and its configuration, or None when EST is off; a bad setting is refused."""
    config = ESTConfig.from_env(env)
    if config is None:
        return None
    est = ESTService(engine.context, engine.audit, engine.certificates, engine.issuance, engine.profiles, engine.ca)
    return est, config


def build_app(engine: Engine, scheduler: Scheduler | None = None, *, env: Mapping[str, str] | None = None) -> Starlette:
    started = time.monotonic()
    protocols, ocsp = protocol_endpoints(engine, os.environ if env is None else env)

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
            *protocols,
        ],
        middleware=[ocsp],
    )
