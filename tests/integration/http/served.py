"""Serve a Starlette app with uvicorn on a free loopback port, in a thread, for real clients (openssl, curl)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from certctl_engine.http.tls_server import tls_options


@contextmanager
def serve(
    app: Starlette | Callable[[str], Starlette],
    *,
    tls: tuple[Path, Path] | None = None,
    client_ca: Path | None = None,
) -> Iterator[str]:
    """Yield the base URL (``http://127.0.0.1:PORT`` or https with ``tls=(cert, key)``) while serving.

    ``app`` may be a function of the base URL, for apps that must know their own address;
    ``client_ca`` makes TLS accept client certificates it signed, as ``certctl engine`` does for EST.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    base = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    if not isinstance(app, Starlette):
        app = app(base)
    options: dict[str, Any] = {}
    if tls is not None:
        options = tls_options(tls[0], tls[1], client_ca_file=client_ca)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", **options))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
