"""A real local HTTP receiver for the webhook tests: it answers each request with the next of a
scripted list of statuses (then 200) and keeps what it got."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgspec


@dataclass
class Got:
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def doc(self) -> dict[str, Any]:
        return msgspec.json.decode(self.body)


@dataclass
class Receiver:
    statuses: list[int] = field(default_factory=list)
    got: list[Got] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.got.append(Got({k.lower(): v for k, v in self.headers.items()}, body, status))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/qalqan?v=1"

    def delivered(self) -> list[Got]:
        """What it took (2xx), in order."""
        return [g for g in self.got if 200 <= g.status < 300]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
