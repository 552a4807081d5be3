"""Confirming destructive tools: ask the person by elicitation, else demand ``confirm=true``.

A destructive tool takes a ``Resolve``-injected confirmation. Its resolver asks the person
(naming the object) when the client declared elicitation; otherwise it asks nothing and
the tool falls back on its ``confirm`` argument, returning a dry run without it. The SDK
carries the question over whichever protocol the client speaks (a server-to-client
request, or an ``InputRequiredResult`` round on 2026-07-28 and later).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

import anyio.to_thread
from mcp.server.elicitation import AcceptedElicitation
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.resolve import Elicit
from pydantic import BaseModel, Field

from certctl_engine.errors import CertctlError

__all__ = ["CONFIRM_DESCRIPTION", "Confirmation", "Decision", "ask", "can_elicit", "decide"]

CONFIRM_DESCRIPTION = (
    "Set true to really do it. Without it the tool returns a dry run of what would change and changes "
    "nothing. Ignored when the client supports elicitation: the person is asked instead."
)


class Confirmation(BaseModel):
    """The form a person answers to confirm a destructive action."""

    confirm: bool = Field(description="Yes, do it")


class Decision(StrEnum):
    PROCEED = "proceed"
    DRY_RUN = "dry_run"
    CANCELLED = "cancelled"


def can_elicit(ctx: Context[Any, Any]) -> bool:
    """Whether the client declared the (form) elicitation capability."""
    try:
        capabilities = ctx.client_capabilities
    except ValueError:  # outside a request (direct MCPServer.call_tool)
        return False
    return capabilities is not None and capabilities.elicitation is not None


async def ask(ctx: Context[Any, Any], question: Callable[[], str]) -> Elicit[Confirmation] | None:
    """The elicitation to run, or None when the client cannot elicit or the object does not exist.

    ``question`` runs in a worker thread (it reads the store to name the object); if it
    raises an engine error the tool body runs and reports that error itself.
    """
    if not can_elicit(ctx):
        return None
    try:
        text = await anyio.to_thread.run_sync(question)
    except CertctlError:
        return None
    return Elicit(text, Confirmation)


def decide(confirmation: Any, confirm: bool) -> Decision:
    """Go ahead, dry run or cancelled, from the elicitation outcome and the ``confirm`` argument."""
    if isinstance(confirmation, AcceptedElicitation):
        answer = confirmation.data
        if answer is None:  # nobody was asked: the client cannot elicit
            return Decision.PROCEED if confirm else Decision.DRY_RUN
        return Decision.PROCEED if getattr(answer, "confirm", False) else Decision.CANCELLED
    return Decision.CANCELLED  # declined or cancelled
