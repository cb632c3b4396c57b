"""Overload: capacity, then ten and a hundred times the connections, then capacity again.

    .venv/bin/python bench/overload.py [--seconds 8] [--connections 8,80,640] [--max-inflight 64] [--scaled]

One embedded `qalqan serve` (SQLite, durable group commit) takes money movements from a load
generator in another process: every connection sends its next request as soon as it has an answer
(a client that ignores Retry-After: the worst case). Past QALQAN_MAX_INFLIGHT requests in flight
the server sheds (503 with Retry-After, nothing read). A separate connection asks `/healthz` every
20 ms throughout. The reference, measured in the same run, is the first phase (the connections at
which the server is at capacity): the overload phases are read as ratios to it. The last phase
repeats the first: the server must be back to normal the moment the load drops.

``--scaled``: the same against one `qalqan serve --nats` front of one worker (NATS JetStream and
PostgreSQL on localhost, a fresh stream and database): the front sheds past its own bound, and a
payment its worker has not decided within QALQAN_DECIDE_BUDGET_MS gets its channel's fallback
(counted apart: "fallback/s").
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
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, pct, print_table, stream  # noqa: E402

TIMEOUT_S = 10.0  # a request unanswered this long counts as timed out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   req: bytes) -> tuple[int, bool, bytes]:
    """(status, whether the server closes the connection after it — a shed request's does — body)."""
    writer.write(req)
    head = await reader.readuntil(b"\r\n\r\n")
    length, close = 0, False
    for line in head.split(b"\r\n"):
        low = line.lower()
        if low[:15] == b"content-length:":
            length = int(line[15:])
        elif low.startswith(b"connection:") and b"close" in low:
            close = True
    body = await reader.readexactly(length)
    return int(head[9:12]), close, body


async def _sender(port: int, bodies: list[bytes], until: float, out: dict[str, list[float]]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    clock = time.perf_counter
    i = 0
    try:
        while clock() < until:
            body = bodies[i % len(bodies)]
            i += 1
            req = (b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            t = clock()
            try:
                status, close, answer = await asyncio.wait_for(_request(reader, writer, req), TIMEOUT_S)
            except (TimeoutError, ConnectionError, asyncio.IncompleteReadError) as exc:
                out["timeout" if isinstance(exc, asyncio.TimeoutError) else "other"].append(clock() - t)
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            ms = (clock() - t) * 1000
            out["ok" if status == 200 else "shed" if status == 503 else "other"].append(ms)
            if status == 200 and b'"stage":"worker"' in answer:
                out["fallback"].append(ms)
            if close:  # the shed answer ends its connection (api/admission.py): a new one, as a client would
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


async def _health(port: int, until: float, lat: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    while time.perf_counter() < until:
        t = time.perf_counter()
        await _request(reader, writer, req)
        lat.append((time.perf_counter() - t) * 1000)
        await asyncio.sleep(0.02)
    writer.close()


def _phase(port: int, bodies: list[bytes], conns: int, seconds: float, q: mp.Queue) -> None:  # type: ignore[type-arg]
    out: dict[str, list[float]] = {"ok": [], "shed": [], "other": [], "timeout": [], "health": [], "fallback": []}

    async def main() -> None:
        until = time.perf_counter() + seconds
        chunks = [bodies[i::conns] or bodies for i in range(conns)]
        await asyncio.gather(_health(port, until, out["health"]),
                             *(_sender(port, c, until, out) for c in chunks))

    asyncio.run(main())
    q.put(out)


def phase(port: int, bodies: list[bytes], conns: int, seconds: float) -> dict[str, list[float]]:
    q: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    p = mp.Process(target=_phase, args=(port, bodies, conns, seconds, q))
    p.start()
    out = q.get()
    p.join()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=8.0, help="length of each phase")
    ap.add_argument("--connections", default="8,80,640", help="the first is the reference (capacity)")
    ap.add_argument("--max-inflight", type=int, default=64, help="QALQAN_MAX_INFLIGHT of the server")
    ap.add_argument("--scaled", action="store_true", help="one front of one worker (NATS + PostgreSQL)")
    args = ap.parse_args()
    lines = [ln for ln in stream(1500, 30).read_bytes().splitlines() if ln.strip()]
    money = [ln.replace(b'"event_id":"', b'"event_id":"o-', 1) for ln in lines
             if ln.startswith((b'{"type":"payment"', b'{"type":"transfer"', b'{"type":"atm"'))]
    tmp = tempfile.mkdtemp(prefix="qalqan-bench-overload-")
    port = _free_port()
    env = {**os.environ, "QALQAN_HOME": tmp, "QALQAN_DB": f"sqlite:///{tmp}/overload.db",
           "QALQAN_MAX_INFLIGHT": str(args.max_inflight)}
    procs: list[subprocess.Popen[bytes]] = []
    scaled = None
    if args.scaled:
        from workers import KEY, NATS, PG, fresh_db

        scaled = (f"QO{uuid.uuid4().hex[:8].upper()}", fresh_db())
        env.update(QALQAN_DB=f"{PG.rsplit('/', 1)[0]}/{scaled[1]}", QALQAN_KEY=KEY)
        procs.append(subprocess.Popen([sys.executable, "-m", "qalqan", "worker", "--nats", NATS, "--stream",
                                       scaled[0], "--partition", "0/1"], env=env, stdout=subprocess.DEVNULL,
                                      stderr=open(f"{tmp}/worker.log", "ab")))
        server = subprocess.Popen([sys.executable, "-m", "qalqan", "serve", "--port", str(port), "--nats", NATS,
                                   "--stream", scaled[0], "--partitions", "1"], env=env,
                                  stderr=open(f"{tmp}/front.log", "ab"))
    else:
        server = subprocess.Popen([sys.executable, "-m", "qalqan", "serve", "--port", str(port)], env=env)
    conns = [int(c) for c in args.connections.split(",")]
    plan = [*conns, conns[0]]
    rows = []
    try:
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        if scaled is not None:
            from workers import wait_ready

            wait_ready(port, 60)
            time.sleep(3)  # the worker's consumer in place
        offset = 0
        ref_p99 = None
        for n, c in enumerate(plan):
            # Each phase sends events not sent before: a repeat would be a cheap duplicate answer.
            part = money[offset:offset + 400_000]
            offset += len(part) // 4
            out = phase(port, part, c, args.seconds)
            ok, shed = out["ok"], out["shed"]
            p99 = pct(ok, 99)
            ref_p99 = ref_p99 or p99
            label = "reference: capacity" if n == 0 else "after the load dropped" if n == len(plan) - 1 \
                else f"{c // conns[0]}x the connections"
            rows.append([label, f"{c}", f"{len(ok) / args.seconds:,.0f}", f"{pct(ok, 50):.1f}", f"{p99:.1f}",
                         f"{p99 / ref_p99:.2f}", f"{len(out['fallback']) / args.seconds:,.0f}",
                         f"{len(shed) / args.seconds:,.0f}", f"{pct(shed, 99):.2f}",
                         f"{len(out['timeout'])}", f"{len(out['other'])}", f"{pct(out['health'], 99):.2f}"])
    finally:
        for p in [server, *procs]:
            p.terminate()
        for p in [server, *procs]:
            p.wait(timeout=30)
        if scaled is not None:
            from workers import _delete, drop_db

            asyncio.run(_delete(scaled[0]))
            drop_db(scaled[1])
    where = "one front of one worker (NATS JetStream + PostgreSQL)" if scaled else "embedded serve (SQLite)"
    print(f"machine: {machine()}; {where}, QALQAN_MAX_INFLIGHT={args.max_inflight}; "
          f"{args.seconds:g} s a phase; load generator: Python asyncio in another process, no pause after a 503")
    print_table(
        "Overload: accepted requests keep their latency, the rest are shed at once",
        ["phase", "connections", "accepted/s", "p50 ms", "p99 ms", "p99 / ref", "fallback/s", "shed/s", "shed p99 ms",
         "timeouts", "other", "/healthz p99 ms"],
        rows,
    )


if __name__ == "__main__":
    main()
