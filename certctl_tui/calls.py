"""Running engine calls off the event loop.

Engine calls block (they run SQL and sign certificates), so the app never makes them on
the event loop. They run on a small fixed pool of threads: each thread keeps its own store
connection (Peewee connections are per thread), the number of connections stays bounded
(it matters with PostgreSQL's connection pool), and a screen's Textual worker awaits the
result. Errors come back to the awaiting worker, which turns them into toasts.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

ENGINE_THREADS = 3


class EngineCalls:
    """A fixed pool of engine threads; ``await calls.run(fn, *args)`` from a worker."""

    def __init__(self, threads: int = ENGINE_THREADS) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="certctl-engine")

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
