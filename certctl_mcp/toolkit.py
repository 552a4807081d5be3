"""What every tool module is given: the engine, the server, the annotation presets and helpers.

Engine calls block (SQLite, key generation, signing), so ``ToolKit.run`` sends each one to
a worker thread and turns engine errors into ``isError`` results. Registration goes
through ``ToolKit.tool`` so ``--read-only`` can leave out every tool that is not read-only.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.to_thread
from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

from certctl_engine.domain import Actor, ActorType
from certctl_engine.errors import CertctlError
from certctl_mcp.errors import tool_error

if TYPE_CHECKING:
    from certctl_engine.engine import Engine

__all__ = [
    "CREATE",
    "DESTRUCTIVE",
    "PUBLISH",
    "READ",
    "UPDATE",
    "ToolKit",
    "actor_for",
    "client_name",
]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

# All tools work on the local store (and local CAs): none reaches an open world.
READ = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=False)
"""Reads: no change (besides the audit event every call writes)."""
CREATE = ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=False)
"""Adds something new (a certificate, a version, an issuer...); a repeat adds or tries to add again."""
UPDATE = ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=True, openWorldHint=False)
"""Changes fields in place; repeating the same call leaves the same state."""
DESTRUCTIVE = ToolAnnotations(readOnlyHint=False, destructiveHint=True, idempotentHint=True, openWorldHint=False)
"""Revokes, archives or deletes; confirmed first. A repeat is refused and changes nothing."""
PUBLISH = ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=False)
"""Publishes something new without changing existing data (a CRL with the next CRL number)."""

_UNSAFE = re.compile(r"[^A-Za-z0-9 ._@/+-]")


def client_name(session: Any) -> str:
    """The MCP client's declared name (``clientInfo.name``), cleaned for the audit trail."""
    params = getattr(session, "client_params", None)
    info = getattr(params, "client_info", None)
    name = getattr(info, "name", None) or "unknown"
    return _UNSAFE.sub("_", str(name))[:64] or "unknown"


def actor_for(session: Any) -> Actor:
    """The audit actor of a call: ``mcp:<client name>``."""
    return Actor(f"mcp:{client_name(session)}", ActorType.USER)


@dataclass
class ToolKit:
    """The server being built, the engine its tools call, and what has been registered."""

    server: MCPServer
    engine: Engine
    read_only: bool = False
    toolsets: tuple[str, ...] = ()
    registered: dict[str, ToolAnnotations] = field(default_factory=dict)
    """Every registered tool with its annotations (the audit middleware reads it)."""

    def tool(self, annotations: ToolAnnotations) -> Callable[[F], F]:
        """Register the decorated function as a tool, unless ``--read-only`` excludes it.

        The description is the function's docstring; the name is the function's name.
        """

        def decorate(fn: F) -> F:
            if self.read_only and not annotations.read_only_hint:
                return fn
            self.server.tool(annotations=annotations, description=inspect.cleandoc(fn.__doc__ or ""))(fn)
            self.registered[fn.__name__] = annotations
            return fn

        return decorate

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Call a blocking engine function in a worker thread; engine errors become ``isError``."""
        try:
            return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))
        except CertctlError as exc:
            raise tool_error(exc) from None
