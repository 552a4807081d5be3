"""Every tool call (and resource read) leaves an audit event naming the MCP client.

A server middleware sees each ``tools/call`` whatever happens to it (bad arguments
included) and appends ``mcp_tool_call`` (actor ``mcp:<client name>``, resource
``mcp/<tool>``) with the arguments, secrets masked, and the outcome. Mutations are also
recorded by the engine's own events, with the same actor. The intermediate round of a
call that is waiting for the person's confirmation is not recorded: its final round is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from pydantic import BaseModel

from certctl_mcp.toolkit import actor_for

if TYPE_CHECKING:
    from certctl_engine.engine import Engine

__all__ = ["AuditMiddleware", "redact"]

log = logging.getLogger(__name__)

SECRET_ARGUMENTS = frozenset({"passphrase", "key_passphrase", "private_key_pem", "password", "token", "secret"})
"""Arguments never written to the audit trail, only whether they were given."""
BULKY_ARGUMENTS = frozenset({"pem", "csr_pem"})
"""Arguments recorded by size only."""
_MAX_TEXT = 200


def redact(arguments: Mapping[str, Any] | None) -> dict[str, Any]:
    """The arguments as the audit trail keeps them: secrets masked, bulk summarised, text clipped."""
    result: dict[str, Any] = {}
    for key, value in (arguments or {}).items():
        if key in SECRET_ARGUMENTS:
            result[key] = "***" if value else value
        elif key in BULKY_ARGUMENTS and isinstance(value, str):
            result[key] = f"<{len(value)} characters>"
        elif key == "config" and isinstance(value, Mapping):
            result[key] = {"keys": sorted(str(k) for k in value)}  # issuer configurations may hold secrets
        elif isinstance(value, str) and len(value) > _MAX_TEXT:
            result[key] = value[:_MAX_TEXT] + "…"
        else:
            result[key] = value
    return result


def _as_dict(result: HandlerResult) -> dict[str, Any]:
    if isinstance(result, BaseModel):
        return result.model_dump(by_alias=True, mode="json", exclude_none=True)
    return dict(result or {})


class AuditMiddleware:
    """Server middleware appending one audit event per tool call and resource read."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method not in ("tools/call", "resources/read"):
            return await call_next(ctx)
        try:
            result = await call_next(ctx)
        except Exception:
            await self._record(ctx, "protocol_error")
            raise
        data = _as_dict(result)
        if "inputRequests" in data:  # waiting for the person's answer; the final round is recorded
            return result
        outcome = "error" if data.get("isError") else str((data.get("structuredContent") or {}).get("outcome") or "ok")
        await self._record(ctx, outcome)
        return result

    async def _record(self, ctx: ServerRequestContext[Any, Any], outcome: str) -> None:
        params = ctx.params or {}
        if ctx.method == "tools/call":
            action, target = "mcp_tool_call", str(params.get("name", "?"))[:64]
            details = {"tool": target, "arguments": redact(params.get("arguments")), "outcome": outcome}
        else:
            action, target = "mcp_resource_read", "resource"
            details = {"uri": str(params.get("uri", "?"))[:_MAX_TEXT], "outcome": outcome}
        actor = actor_for(ctx.session)
        try:
            await anyio.to_thread.run_sync(lambda: self._engine.audit.append(actor, action, "mcp", target, details))
        except Exception:  # the call itself already happened; say so loudly, do not fail it
            log.exception("could not write the audit event for %s %s", action, target)
