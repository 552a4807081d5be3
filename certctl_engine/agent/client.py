"""The agent's side of the engine's agent API (``/api/v1/agents``), over httpx.

Two kinds of failure matter to the caller and are told apart here:

    CertctlError
     └── AgentAPIError          the engine answered and refused (4xx): ``status``, ``message``
          └── EngineUnavailable the engine could not be reached, timed out, was overloaded
                                (429) or failed (5xx): try again later, with backoff

A refusal is about the request and is reported (a job fails with the engine's message);
unavailability is about the moment and is retried.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from certctl_engine.errors import CertctlError

API = "/api/v1/agents"
KEEPALIVE_SECONDS = 60.0  # `certctl engine` keeps idle connections 75 s: longer, so the agent closes first


class AgentAPIError(CertctlError):
    """The engine refused a call; ``status`` is its HTTP status, ``message`` its own words."""

    kind = "agent_api"

    def __init__(self, status: int, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class EngineUnavailable(AgentAPIError):
    """The engine is down, unreachable, overloaded or failing: the call may succeed later."""

    kind = "engine_unavailable"


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who this agent is to the engine: its id and the API key it got at registration."""

    agent_id: str
    api_key: str


def trust(ca_file: Path | None) -> ssl.SSLContext:
    """Verification against ``ca_file`` (the engine's tls/ca.crt), else the system's CAs."""
    return ssl.create_default_context(cafile=str(ca_file)) if ca_file else ssl.create_default_context()


class AgentClient:
    """One agent's calls to the engine; a single connection pool, kept open between calls."""

    def __init__(
        self,
        server_url: str,
        *,
        verify: ssl.SSLContext | bool = True,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=server_url,
            verify=verify,
            timeout=timeout,
            transport=transport,
            # Heartbeats and polls (every 60 s and 30 s by default) reuse one connection instead of a TLS
            # handshake each.
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=1, keepalive_expiry=KEEPALIVE_SECONDS),
            headers={"User-Agent": "certctl-agent/0.1.0"},
        )
        self.credentials: Credentials | None = None

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AgentClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ plumbing
    def _path(self, suffix: str) -> str:
        if self.credentials is None:
            raise AgentAPIError(401, "the agent is not registered yet")
        return f"{API}/{self.credentials.agent_id}{suffix}"

    async def _call(
        self, method: str, path: str, *, json: Mapping[str, Any] | None = None, auth: bool = True, **headers: str
    ) -> Any:
        if auth:
            if self.credentials is None:
                raise AgentAPIError(401, "the agent is not registered yet")
            headers["Authorization"] = f"Bearer {self.credentials.api_key}"
        try:
            try:
                response = await self._http.request(method, path, json=json, headers=headers)
            except httpx.RemoteProtocolError:
                # A kept-alive connection the server closed just as it was reused: once more, on a new one.
                response = await self._http.request(method, path, json=json, headers=headers)
        except httpx.TimeoutException as exc:
            raise EngineUnavailable(0, f"the engine did not answer in time ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise EngineUnavailable(0, f"cannot reach the engine: {str(exc) or type(exc).__name__}") from None
        if response.status_code < 400:
            try:
                return response.json()
            except ValueError:
                raise EngineUnavailable(response.status_code, "the engine answered with something not JSON") from None
        try:
            message = str(response.json().get("error") or response.reason_phrase)
        except (ValueError, AttributeError):
            message = response.text[:200] or response.reason_phrase
        retry_after = response.headers.get("retry-after")
        wait = float(retry_after) if retry_after and retry_after.isdigit() else None
        if response.status_code == 429 or response.status_code >= 500:
            raise EngineUnavailable(response.status_code, f"engine answered {response.status_code}: {message}",
                                    retry_after=wait)  # fmt: skip
        raise AgentAPIError(response.status_code, message)

    # ------------------------------------------------------------------ calls
    async def register(self, name: str, hostname: str, bootstrap_token: str) -> Credentials:
        """A new identity from the engine; the key is shown this once and kept by the caller."""
        body = await self._call(
            "POST", API, json={"name": name, "hostname": hostname}, auth=False,
            **{"X-Certctl-Bootstrap-Token": bootstrap_token},
        )  # fmt: skip
        try:
            self.credentials = Credentials(str(body["agent"]["id"]), str(body["api_key"]))
        except (KeyError, TypeError):
            raise EngineUnavailable(201, "the registration answer has no agent id and API key") from None
        return self.credentials

    async def heartbeat(self, metadata: Mapping[str, str]) -> dict[str, Any]:
        return dict(await self._call("POST", self._path("/heartbeat"), json=metadata))

    async def work(self) -> list[dict[str, Any]]:
        body = await self._call("GET", self._path("/work"))
        jobs = body.get("jobs") if isinstance(body, dict) else None
        if not isinstance(jobs, list):
            raise EngineUnavailable(200, "the work answer has no job list")
        return [j for j in jobs if isinstance(j, dict)]

    async def submit_csr(self, job_id: str, csr_pem: str) -> dict[str, Any]:
        return dict(await self._call("POST", self._path("/csr"), json={"job_id": job_id, "csr_pem": csr_pem}))

    async def certificate(self, certificate_id: str) -> dict[str, Any]:
        """The certificate to deploy (leaf, chain, fingerprint); never a key."""
        return dict(await self._call("GET", self._path(f"/certificates/{certificate_id}")))

    async def report_status(self, job_id: str, status: str, error: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"status": status}
        if error is not None:
            body["error"] = error
        return dict(await self._call("POST", self._path(f"/jobs/{job_id}/status"), json=body))

    async def report_verification(
        self, job_id: str, verified: bool, actual_fingerprint: str, error: str | None
    ) -> dict[str, Any]:
        return dict(
            await self._call(
                "POST",
                self._path(f"/jobs/{job_id}/verify"),
                json={"verified": verified, "actual_fingerprint": actual_fingerprint, "error": error},
            )
        )

    async def report_discoveries(
        self, certificates: list[dict[str, Any]], errors: list[str], directories: list[str], duration_ms: int
    ) -> dict[str, Any]:
        return dict(
            await self._call(
                "POST",
                self._path("/discoveries"),
                json={
                    "certificates": certificates,
                    "errors": errors,
                    "directories": directories,
                    "scan_duration_ms": duration_ms,
                },
            )
        )
