"""HTTP throughput and latency: `qalqan serve` in one process, the load generator in another.

    .venv/bin/python bench/http.py [--requests 60000] [--connections 32] [--auth]

The server decides simulated money movements (the rest of the stream is sent too, answered
202) with durability on. The load generator is a separate process with keep-alive connections
over loopback; it records each request's latency. The reference, in the same run against the
same server process, is `GET /healthz` — what the HTTP stack itself costs. With ``--auth`` the
server checks an API key on every request (QALQAN_AUTH=on) and the client sends an integrator's.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import shutil
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
    auth = f"Authorization: {os.environ['QALQAN_AUTH_HEADER']}\r\n" if os.environ.get("QALQAN_AUTH_HEADER") else ""
    for body in bodies:
        if body:
            req = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{auth}"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        else:
            req = f"GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n".encode()
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


def measure_wrk(port: int, bodies: list[bytes] | None, conns: int, seconds: float) -> tuple[float, list[float], str]:
    """wrk (C, one thread) as the load generator: far lighter than any Python client, so the
    server gets the cores. Returns (requests/s, [p50, p99, p99.9] ms, note)."""
    script = Path(__file__).with_name("wrk_events.lua")
    env = dict(os.environ)
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{int(seconds)}s", "--timeout", "5s"]
    if bodies is not None:
        f = tempfile.NamedTemporaryFile("wb", suffix=".jsonl", delete=False)
        f.write(b"\n".join(bodies) + b"\n")
        f.close()
        env["QALQAN_BODIES"] = f.name
        cmd += ["-s", str(script), f"http://127.0.0.1:{port}/v1/events"]
    else:
        cmd += ["--latency", f"http://127.0.0.1:{port}/healthz"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    if bodies is None:
        rate = float(out.split("Requests/sec:")[1].split()[0])
        lat = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] in ("50%", "99%"):
                v = parts[1]
                lat[parts[0]] = float(v[:-2]) / (1000 if v.endswith("us") else 1) if v.endswith(("ms", "us")) \
                    else float(v[:-1]) * 1000
        return rate, [lat.get("50%", 0), lat.get("99%", 0), 0.0], ""
    vals = dict(line.split(" ", 1) for line in out.splitlines() if line[:1] in "PR" and " " in line)
    reqs, secs = int(vals["REQS"].split()[0]), float(vals["REQS"].split()[2])
    if reqs >= len(bodies):
        raise SystemExit(f"the server answered all {len(bodies)} events before {seconds} s: use a longer stream")
    return reqs / secs, [float(vals["P50"]), float(vals["P99"]), float(vals["P99.9"])], f"{reqs:,} in {secs:.1f} s"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=200_000, help="events taken from the stream")
    ap.add_argument("--seconds", type=int, default=8, help="wrk run length per measurement")
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--pin", action="store_true", help="server on core 0, load generator on core 1")
    ap.add_argument("--python-client", action="store_true", help="use the Python load generator even if wrk exists")
    ap.add_argument("--auth", action="store_true", help="QALQAN_AUTH=on: every request carries an integrator's key")
    args = ap.parse_args()
    lines = [ln for ln in stream(1500, 30).read_bytes().splitlines() if ln.strip()][: args.requests]
    tmp = tempfile.mkdtemp(prefix="qalqan-bench-http-")
    port = _free_port()
    env = {**os.environ, "QALQAN_HOME": tmp, "QALQAN_DB": f"sqlite:///{tmp}/http.db"}
    if args.auth:
        made = subprocess.run([sys.executable, "-m", "qalqan", "keys", "create", "--role", "integrator",
                               "--org", "bench"], env={**env, "COLUMNS": "400"}, capture_output=True, text=True,
                              check=True).stdout
        secret = made.split(": ", 1)[1].split()[0]
        env["QALQAN_AUTH"] = "on"
        os.environ["QALQAN_AUTH_HEADER"] = f"Bearer {secret}"  # read by wrk's script and the Python client
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
        money = [ln.replace(b'"event_id":"', b'"event_id":"m-', 1) for ln in lines
                 if ln.startswith((b'{"type":"payment"', b'{"type":"transfer"', b'{"type":"atm"'))]
        if shutil.which("wrk") and not args.python_client:
            client = "wrk -t1 (C)"
            rows = []
            rate, p, _ = measure_wrk(port, None, args.connections, 5)
            rows.append(["reference: GET /healthz", f"{rate:,.0f}", *(f"{x:.2f}" for x in p[:2]), "-"])
            rate, p, note = measure_wrk(port, lines, args.connections, args.seconds)
            rows.append([f"POST /v1/events, the whole stream ({note})", f"{rate:,.0f}", *(f"{x:.2f}" for x in p)])
            rate, p, note = measure_wrk(port, money, args.connections, args.seconds)
            rows.append([f"POST /v1/events, money movements only ({note})", f"{rate:,.0f}", *(f"{x:.2f}" for x in p)])
        else:
            client = "Python asyncio, separate process"
            ref_t, ref_lat, _ = measure(port, [b""] * len(lines), "/healthz", args.connections, pin)
            t, lat, codes = measure(port, lines, "/v1/events", args.connections, pin)
            mt, mlat, mcodes = measure(port, money, "/v1/events", args.connections, pin)
            rows = [
                ["reference: GET /healthz", f"{len(ref_lat) / ref_t:,.0f}",
                 *(f"{pct(ref_lat, q):.2f}" for q in (50, 99, 99.9))],
                [f"POST /v1/events, the whole stream ({codes})", f"{len(lat) / t:,.0f}",
                 *(f"{pct(lat, q):.2f}" for q in (50, 99, 99.9))],
                [f"POST /v1/events, money movements only ({mcodes})", f"{len(mlat) / mt:,.0f}",
                 *(f"{pct(mlat, q):.2f}" for q in (50, 99, 99.9))],
            ]
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"machine: {machine()}; {len(lines):,} events, {args.connections} keep-alive connections; "
          f"API keys {'checked on every request' if args.auth else 'off'}; "
          f"load generator: {client}; {'server on core 0, load generator on core 1' if pin else 'not pinned'}")
    print_table(
        "HTTP, one server process (uvicorn + httptools + uvloop; plain-ASGI hot path), SQLite group commit",
        ["run", "requests/s", "p50 ms", "p99 ms", "p99.9 ms"],
        rows,
    )


if __name__ == "__main__":
    main()
