"""A loopback webhook receiver for the soak: answers 204, or 500 while it is "down", and
records every POST with the status it was given, so deliveries can be counted per alert."""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True, slots=True)
class Delivery:
    status: int
    dedup_key: str
    event: str
    details: dict[str, Any]


class WebhookReceiver:
    """What certctl's webhook channel posts to; ``down`` makes it answer 500."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.down = False
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = 500 if outer.down else 204
                with outer._lock:
                    outer.deliveries.append(
                        Delivery(status, str(body.get("dedup_key")), str(body.get("event")), body.get("details") or {})
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def accepted(self) -> Counter[str]:
        """How many times each alert (by dedup key) was taken with a 2xx answer."""
        with self._lock:
            return Counter(d.dedup_key for d in self.deliveries if d.status < 300)

    def refused(self) -> Counter[str]:
        with self._lock:
            return Counter(d.dedup_key for d in self.deliveries if d.status >= 500)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
