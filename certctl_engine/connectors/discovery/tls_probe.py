"""Asking TLS listeners which certificates they serve: many at once, each with its own deadline.

A probe completes a TLS handshake without judging the peer (discovery wants to see what is
served, trusted or not), records the chain the server sent, the protocol version, and
closes. Concurrency is bounded by a semaphore; every connection has its own timeout, so
one silent host never holds up the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_CONCURRENCY = 50
DEFAULT_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str  # an IP address literal
    port: int
    server_name: str | None = None  # SNI; None sends none

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" + (f" ({self.server_name})" if self.server_name else "")


@dataclass(frozen=True, slots=True)
class ProbeResult:
    endpoint: Endpoint
    chain_der: tuple[bytes, ...] = ()  # leaf first, as the server sent it
    tls_version: str | None = None
    error: str | None = None
    elapsed_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.chain_der)


def _context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # discovery records what is served; trust is judged elsewhere
    context.set_ciphers("ALL:@SECLEVEL=0")
    return context


def _served_chain(ssl_object: Any) -> tuple[bytes, ...]:
    """The chain as sent: ``get_unverified_chain`` (public from Python 3.13, on the C object before)."""
    for source in (ssl_object, getattr(ssl_object, "_sslobj", None)):
        getter = getattr(source, "get_unverified_chain", None)
        if getter is not None:
            chain = getter() or []
            return tuple(c if isinstance(c, bytes) else c.public_bytes(ssl._ssl.ENCODING_DER) for c in chain)  # type: ignore[attr-defined]
    leaf = ssl_object.getpeercert(binary_form=True)
    return (leaf,) if leaf else ()


async def probe(endpoint: Endpoint, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> ProbeResult:
    """One handshake; never raises for network trouble (the result says what happened)."""
    started = time.monotonic()

    def done(**fields: Any) -> ProbeResult:
        return ProbeResult(endpoint, elapsed_ms=int((time.monotonic() - started) * 1000), **fields)

    writer: asyncio.StreamWriter | None = None
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(
                endpoint.host,
                endpoint.port,
                ssl=_context(),
                server_hostname=endpoint.server_name or "",
                ssl_handshake_timeout=timeout,
            ),
            timeout,
        )
        ssl_object = writer.get_extra_info("ssl_object")
        return done(chain_der=_served_chain(ssl_object), tls_version=ssl_object.version())
    except TimeoutError:
        return done(error=f"no TLS handshake within {timeout:g}s")
    except ConnectionRefusedError:
        return done(error="connection refused")
    except ssl.SSLError as exc:
        return done(error=f"TLS handshake failed: {exc.reason or exc}")
    except OSError as exc:
        return done(error=exc.strerror or str(exc))
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(TimeoutError, OSError, ssl.SSLError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)


async def probe_many(
    endpoints: Sequence[Endpoint],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    progress: Callable[[int, int], None] | None = None,
) -> list[ProbeResult]:
    """Probe all, at most ``concurrency`` at a time; results in the order of ``endpoints``."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    gate = asyncio.Semaphore(concurrency)
    finished = 0

    async def one(endpoint: Endpoint) -> ProbeResult:
        nonlocal finished
        async with gate:
            result = await probe(endpoint, timeout=timeout)
        finished += 1
        if progress is not None:
            progress(finished, len(endpoints))
        return result

    return list(await asyncio.gather(*(one(e) for e in endpoints)))
