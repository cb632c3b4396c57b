"""A steady load of money movements against a server, from a few threads, keeping every answer."""

from __future__ import annotations

import threading
import time

import httpx

from conftest import transfer


class Load:
    def __init__(self, base: str, threads: int = 4, prefix: str = "ld") -> None:
        self.base, self.prefix = base, prefix
        self.acked: dict[str, bytes] = {}  # event id -> the decision answered 200
        self.refused: list[str] = []  # answered 503
        self.other: list[tuple[str, int, str]] = []  # any other status, or a transport error
        self.slowest = 0.0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)

    def _run(self, i: int) -> None:
        n = 0
        # 30 s: past it a request counts as hung (the record's budget is well under a second).
        with httpx.Client(base_url=self.base, timeout=30) as c:
            while not self._stop.is_set():
                n += 1
                eid = f"{self.prefix}-{i}-{n}"
                body = transfer(event_id=eid, customer_id=f"C{i:03d}{n % 50:03d}", amount=f"{100 + n % 900}.00")
                t0 = time.monotonic()
                try:
                    r = c.post("/v1/events", content=body)
                except httpx.TransportError as exc:
                    with self._lock:
                        self.other.append((eid, 0, repr(exc)))
                    continue
                took = time.monotonic() - t0
                with self._lock:
                    self.slowest = max(self.slowest, took)
                    if r.status_code == 200:
                        self.acked[eid] = r.content
                    elif r.status_code == 503:
                        self.refused.append(eid)
                        assert r.headers.get("retry-after"), r.headers
                    else:
                        self.other.append((eid, r.status_code, r.text))
                if r.status_code == 503:
                    time.sleep(0.05)

    def answered(self) -> int:
        with self._lock:
            return len(self.acked)
