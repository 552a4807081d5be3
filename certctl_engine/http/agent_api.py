"""The agent API of the engine service (the inventory's paths, under /api/v1/agents).

Every call but registration carries ``Authorization: Bearer <agent API key>``; the key
decides which agent is calling, and the agent id in the path must be that agent. Bodies are
JSON and bounded; the answer to bad input says what was wrong, and the engine's refusals
keep their status (401, 404, 409...). Engine calls run in worker threads.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from certctl_engine.domain import Agent
from certctl_engine.errors import CertctlError, Conflict, InvalidInput, NotFound, Unauthorized
from certctl_engine.serialize import to_jsonable

if TYPE_CHECKING:
    from certctl_engine.engine import Engine

MAX_BODY_BYTES = 1024 * 1024
DEFAULT_RATE_PER_SECOND = 20.0
DEFAULT_BURST = 60

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="certctl"'}
_STATUS = {Unauthorized: 401, NotFound: 404, Conflict: 409, InvalidInput: 400}


class _Bucket:
    """Token bucket per API key: ``rate`` calls a second on average, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> float:
        """0 when allowed, else the seconds to wait."""
        now = time.monotonic()
        tokens, last = self.tokens.get(key, (float(self.burst), now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1:
            self.tokens[key] = (tokens, now)
            return (1 - tokens) / self.rate
        self.tokens[key] = (tokens - 1, now)
        return 0.0


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


def _refusal(exc: CertctlError) -> JSONResponse:
    for kind, status in _STATUS.items():
        if isinstance(exc, kind):
            headers = _CHALLENGE if status == 401 else {}
            return _error(status, exc.message, **headers)
    return _error(422, exc.message)


async def _json(request: Request) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _TooLarge
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            raise _TooLarge
    if not body:
        return {}
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidInput("the body must be a JSON object")
    return value


class _TooLarge(Exception):
    pass


def agent_routes(
    engine: Engine, *, rate_per_second: float = DEFAULT_RATE_PER_SECOND, burst: int = DEFAULT_BURST
) -> list[Route]:
    buckets = _Bucket(rate_per_second, burst)

    def guarded(
        handler: Callable[[Request, Agent | None, dict[str, Any]], Awaitable[Response]], *, register: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                agent: Agent | None = None
                if not register:
                    header = request.headers.get("authorization", "")
                    if not header.lower().startswith("bearer ") or not header[7:].strip():
                        return _error(
                            401, "Authorization header required", **{"WWW-Authenticate": 'Bearer realm="certctl"'}
                        )
                    key = header[7:].strip()
                    wait = buckets.take(key[:16])
                    if wait:
                        return _error(429, "too many requests", **{"Retry-After": str(max(1, int(wait + 0.999)))})
                    agent = await anyio.to_thread.run_sync(engine.agents.authenticate, key)
                    if request.path_params.get("agent_id") not in (None, agent.id):
                        return _error(404, f"no agent '{request.path_params['agent_id']}' for this key")
                body = await _json(request) if request.method == "POST" else {}
                return await handler(request, agent, body)
            except _TooLarge:
                return _error(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
            except CertctlError as exc:
                return _refusal(exc)

        return endpoint

    def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))

    # Heartbeats are the most frequent write. On SQLite they queue here, one at a time and in order, rather
    # than in SQLite's sleeping busy handler, where many threads contending for the write lock wait far
    # longer than the writes take. (Only heartbeats: a slow CA behind a CSR must never hold them up.)
    heartbeats = anyio.CapacityLimiter(1) if engine.store.is_sqlite else None

    async def register(request: Request, _: Agent | None, body: dict[str, Any]) -> Response:
        token = request.headers.get("x-certctl-bootstrap-token") or str(body.get("bootstrap_token") or "")
        registration = await run(
            engine.agents.register,
            str(body.get("name") or ""),
            bootstrap_token=token,
            hostname=str(body.get("hostname") or ""),
        )
        return JSONResponse(
            {"agent": to_jsonable(registration.agent), "api_key": registration.api_key}, status_code=201
        )

    async def heartbeat(request: Request, agent: Agent | None, body: dict[str, Any]) -> Response:
        assert agent is not None
        agent_id = agent.id
        updated = await anyio.to_thread.run_sync(lambda: engine.agents.heartbeat(agent_id, body), limiter=heartbeats)
        return JSONResponse({"status": "ok", "agent": to_jsonable(updated)})

    async def work(request: Request, agent: Agent | None, _: dict[str, Any]) -> Response:
        assert agent is not None
        items = await run(engine.agents.work, agent.id)
        jobs = [to_jsonable(item) for item in items]
        return JSONResponse({"jobs": jobs, "count": len(jobs)})

    async def csr(request: Request, agent: Agent | None, body: dict[str, Any]) -> Response:
        assert agent is not None
        job_id, csr_pem = body.get("job_id"), body.get("csr_pem")
        if not isinstance(job_id, str) or not isinstance(csr_pem, str):
            raise InvalidInput("send job_id and csr_pem (a PEM certificate signing request)")
        version = await run(engine.agents.submit_csr, agent.id, job_id, csr_pem)
        return JSONResponse({"status": "csr_signed", "version_id": version.id}, status_code=202)

    async def certificate(request: Request, agent: Agent | None, _: dict[str, Any]) -> Response:
        assert agent is not None
        return JSONResponse(await run(engine.agents.certificate_for, agent.id, request.path_params["certificate_id"]))

    async def job_status(request: Request, agent: Agent | None, body: dict[str, Any]) -> Response:
        assert agent is not None
        status = body.get("status")
        if not isinstance(status, str):
            raise InvalidInput("send status: Running, Completed or Failed")
        error = body.get("error")
        job = await run(engine.agents.report, agent.id, request.path_params["job_id"], status, error)
        return JSONResponse({"status": "updated", "job_status": job.status.value})

    async def verification(request: Request, agent: Agent | None, body: dict[str, Any]) -> Response:
        assert agent is not None
        verified, actual, error = body.get("verified"), body.get("actual_fingerprint") or "", body.get("error")
        if not isinstance(verified, bool) or not isinstance(actual, str) or not isinstance(error, str | None):
            raise InvalidInput("send verified (true/false), actual_fingerprint and error (text or null)")
        status = await run(
            engine.agents.report_verification, agent.id, request.path_params["job_id"], verified, actual, error
        )
        return JSONResponse({"status": "recorded", "verification_status": status.value})

    async def discoveries(request: Request, agent: Agent | None, body: dict[str, Any]) -> Response:
        assert agent is not None
        entries, errors = body.get("certificates") or [], body.get("errors") or []
        directories, duration = body.get("directories") or [], body.get("scan_duration_ms") or 0
        if not isinstance(entries, list) or not isinstance(errors, list) or not isinstance(directories, list):
            raise InvalidInput("certificates, errors and directories must be lists")
        if isinstance(duration, bool) or not isinstance(duration, int):
            raise InvalidInput("scan_duration_ms must be a whole number of milliseconds")
        result = await run(
            engine.agents.report_discoveries,
            agent.id,
            entries,
            [str(e) for e in errors],
            [str(d) for d in directories],
            duration,
        )
        return JSONResponse(to_jsonable(result), status_code=202)

    base = "/api/v1/agents"
    return [
        Route(base, guarded(register, register=True), methods=["POST"]),
        Route(f"{base}/{{agent_id}}/heartbeat", guarded(heartbeat), methods=["POST"]),
        Route(f"{base}/{{agent_id}}/work", guarded(work), methods=["GET"]),
        Route(f"{base}/{{agent_id}}/csr", guarded(csr), methods=["POST"]),
        Route(f"{base}/{{agent_id}}/certificates/{{certificate_id}}", guarded(certificate), methods=["GET"]),
        Route(f"{base}/{{agent_id}}/jobs/{{job_id}}/status", guarded(job_status), methods=["POST"]),
        Route(f"{base}/{{agent_id}}/jobs/{{job_id}}/verify", guarded(verification), methods=["POST"]),
        Route(f"{base}/{{agent_id}}/discoveries", guarded(discoveries), methods=["POST"]),
    ]
