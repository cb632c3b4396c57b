"""HTTP throughput and latency: `qalqan serve` in one process, the load generator in another.

    .venv/bin/python bench/http.py [--requests 60000] [--connections 32]

The server decides simulated money movements (the rest of the stream is sent too, answered
202) with durability on. The load generator is a separate process with keep-alive connections
over loopback; it records each request's latency. The reference, in the same run against the
same server process, is `GET /healthz` — what the HTTP stack itself costs.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, pct, print_table, stream  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _conn(port: int, bodies: list[bytes], path: str, lat: list[float], codes: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    clock = time.perf_counter
    for body in bodies:
        if body:
            req = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        else:
            req = f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        t = clock()
        writer.write(req)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await reader.readexactly(length)
        lat.append((clock() - t) * 1000)
        codes[status] = codes.get(status, 0) + 1
    writer.close()


def _load(port: int, bodies: list[bytes], path: str, conns: int, q: mp.Queue, pin: bool) -> None:  # type: ignore
    if pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {1})
    lat: list[float] = []
    codes: dict[int, int] = {}
    chunks = [bodies[i::conns] for i in range(conns)]

    async def main() -> float:
        t = time.perf_counter()
        await asyncio.gather(*(_conn(port, c, path, lat, codes) for c in chunks))
        return time.perf_counter() - t

    elapsed = asyncio.run(main())
    q.put((elapsed, lat, codes))


def measure(
    port: int, bodies: list[bytes], path: str, conns: int, pin: bool
) -> tuple[float, list[float], dict[int, int]]:
    q: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    p = mp.Process(target=_load, args=(port, bodies, path, conns, q, pin))
    p.start()
    result = q.get()
    p.join()
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=60_000)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--pin", action="store_true", help="server on core 0, load generator on core 1")
    args = ap.parse_args()
    lines = [ln for ln in stream(1000, 30).read_bytes().splitlines() if ln.strip()][: args.requests]
    tmp = tempfile.mkdtemp(prefix="qalqan-bench-http-")
    port = _free_port()
    env = {**os.environ, "QALQAN_HOME": tmp, "QALQAN_DB": f"sqlite:///{tmp}/http.db"}
    cmd = [sys.executable, "-m", "qalqan", "serve", "--port", str(port)]
    pin = args.pin and os.path.exists("/usr/bin/taskset")
    server = subprocess.Popen(["taskset", "-c", "0", *cmd] if pin else cmd, env=env)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        ref_t, ref_lat, ref_codes = measure(port, [b""] * len(lines), "/healthz", args.connections, pin)
        t, lat, codes = measure(port, lines, "/v1/events", args.connections, pin)
        # Money movements only (fresh event ids): every request is a decision.
        money = [ln.replace(b'"event_id":"', b'"event_id":"m-', 1) for ln in lines
                 if ln.startswith((b'{"type":"payment"', b'{"type":"transfer"', b'{"type":"atm"'))]
        mt, mlat, mcodes = measure(port, money, "/v1/events", args.connections, pin)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"machine: {machine()}; {len(lines):,} requests, {args.connections} keep-alive connections; "
          f"{'server on core 0, load generator on core 1' if pin else 'not pinned'}; statuses {codes}")
    print_table(
        "HTTP, one server process (uvicorn + httptools + uvloop, Starlette), SQLite group commit",
        ["run", "requests/s", "p50 ms", "p99 ms", "p99.9 ms"],
        [
            ["reference: GET /healthz", f"{len(ref_lat) / ref_t:,.0f}", f"{pct(ref_lat, 50):.2f}",
             f"{pct(ref_lat, 99):.2f}", f"{pct(ref_lat, 99.9):.2f}"],
            ["POST /v1/events, the whole stream (decide + durable)", f"{len(lat) / t:,.0f}", f"{pct(lat, 50):.2f}",
             f"{pct(lat, 99):.2f}", f"{pct(lat, 99.9):.2f}"],
            [f"POST /v1/events, money movements only ({mcodes.get(200, 0):,} decisions)", f"{len(mlat) / mt:,.0f}",
             f"{pct(mlat, 50):.2f}", f"{pct(mlat, 99):.2f}", f"{pct(mlat, 99.9):.2f}"],
        ],
    )


if __name__ == "__main__":
    main()
