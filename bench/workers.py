"""Decisions/s and latency with 1 and 2 `qalqan worker` processes over NATS JetStream + PostgreSQL.

    .venv/bin/python bench/workers.py [--customers 400] [--days 30] [--workers 1 2] [--rates 500 1000 2000]
                                      [--states memory redis://127.0.0.1:6379/0] [--fronts 2]

For each worker count, on a fresh stream and a fresh PostgreSQL database:
- throughput: the whole stream is published first (a backlog), then the workers drain it; the rate
  is counted between the first and the last decision seen on ``NAME.decisions.*`` (start-up aside);
- latency: the workers wait, then the first ``--paced-events`` events are published at each of
  ``--rates`` events/s, paced in ticks of 50 events; an event's latency runs from its publish to
  its decision's arrival on the decisions subject: publish ack, fetch, decide, group commit to
  PostgreSQL, decision publish.
- with ``--fronts F``: F `qalqan serve --nats` processes in front of the workers, each loaded by
  one wrk (``--connections`` keep-alive connections, ``--seconds``) posting its share of the stream
  (event i goes to front i mod F); events/s and the latency of a request (publish, worker cycle,
  the decision back through the front's subscription; context events answered once the stream has
  them) come from wrk, decisions/s from the record's decided rows over the run.
Everything (publisher, workers, NATS, PostgreSQL) shares this machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import msgspec  # noqa: E402
import nats  # noqa: E402
import psycopg  # noqa: E402

from common import machine, pct, print_table, stream  # noqa: E402
from qalqan.events import decode_event  # noqa: E402
from qalqan.privacy import Tokenizer  # noqa: E402
from qalqan.stream.partition import EVERY, events_subject, partition_of  # noqa: E402
from qalqan.stream.publish import PARTS_HEADER, ensure_stream  # noqa: E402

PG = os.environ.get("QALQAN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
NATS = os.environ.get("QALQAN_TEST_NATS", "nats://127.0.0.1:4222")
KEY = "7e" * 32


def fresh_db() -> str:
    name = f"qalqan_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return name


def forget(state: str, db: str) -> None:
    import redis

    r = redis.Redis.from_url(state)
    keys = list(r.scan_iter(match=f"*/{db}:*", count=1000))
    if keys:
        r.delete(*keys)
    r.close()


def drop_db(name: str) -> None:
    with psycopg.connect(PG, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_workers(n: int, name: str, db: str, home: Path, idle: float,
                  state: str | None) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "QALQAN_HOME": str(home), "QALQAN_KEY": KEY, "QALQAN_DB": f"{PG.rsplit('/', 1)[0]}/{db}"}
    env.pop("QALQAN_STATE", None)
    if state:
        env["QALQAN_STATE"] = state
    return [subprocess.Popen([sys.executable, "-m", "qalqan", "worker", "--nats", NATS, "--stream", name,
                              "--partition", f"{p}/{n}", "--idle-exit", str(idle), "--clock", "events"], env=env,
                             stdout=subprocess.DEVNULL, stderr=open(home / f"worker{p}.log", "ab"))
            for p in range(n)]


def prepared(lines: list[bytes], parts: int) -> list[tuple[str, list[int], bytes, bool]]:
    tok = Tokenizer(bytes.fromhex(KEY))
    out = []
    for line in lines:
        e = decode_event(line)
        p = partition_of(e, tok, parts)
        out.append((e.event_id, list(range(parts)) if p == EVERY else [p], line, p == EVERY))
    return out


async def publish(js, name: str, events, parts: int, rate: float | None, sent: dict[str, float]) -> None:
    """All at once (rate None) or paced at ``rate`` events/s."""
    t0 = time.perf_counter()
    window = []
    for i, (eid, targets, line, every) in enumerate(events):
        if rate is not None and i % 50 == 0:
            due = t0 + i / rate
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.gather(*window)
                window.clear()
                await asyncio.sleep(wait)
        sent[eid] = time.perf_counter()
        for p in targets:
            window.append(await js.publish_async(events_subject(name, p), line, headers={
                "Nats-Msg-Id": f"{eid}@{p}" if every else eid, PARTS_HEADER: str(parts)}))
        if len(window) >= 1000:
            await asyncio.gather(*window)
            window.clear()
    await asyncio.gather(*window)


async def one(lines: list[bytes], money: int, parts: int, rate: float | None, home: Path,
              state: str | None) -> dict[str, float]:
    name = f"QB{uuid.uuid4().hex[:8].upper()}"
    db = fresh_db()
    nc = await nats.connect(NATS)
    js = nc.jetstream()
    await ensure_stream(js, name)
    arrived: dict[str, float] = {}
    done = asyncio.Event()

    async def on_decision(msg) -> None:
        eid = msgspec.json.decode(msg.data)["event_id"]
        arrived.setdefault(eid, time.perf_counter())
        if len(arrived) >= money:
            done.set()

    await nc.subscribe(f"{name}.decisions.*", cb=on_decision)
    events = prepared(lines, parts)
    sent: dict[str, float] = {}
    try:
        if rate is None:
            await publish(js, name, events, parts, None, sent)
            procs = start_workers(parts, name, db, home, 1.0, state)
        else:
            procs = start_workers(parts, name, db, home, 15.0, state)  # idle until the paced publish begins
            await asyncio.sleep(6)  # the workers start (imports, rules, an empty record)
            await publish(js, name, events, parts, rate, sent)
        await asyncio.wait_for(done.wait(), 900)
        for i, p in enumerate(procs):
            try:
                p.wait(120)  # --idle-exit, then a snapshot
            except subprocess.TimeoutExpired:
                for q in procs:
                    q.kill()
                log = (home / f"worker{i}.log").read_text()[-3000:]
                raise RuntimeError(f"worker {i}/{parts} did not exit 120 s after the last decision:\n{log}") from None
    finally:
        await nc.jetstream().delete_stream(name)
        await nc.close()
        drop_db(db)
        if state:
            forget(state, db)
    times = sorted(arrived.values())
    span = times[-1] - times[0]
    lat = [(arrived[e] - sent[e]) * 1000 for e in arrived]
    return {"decisions_s": len(times) / span, "events_s": len(lines) / span,
            "p50": pct(lat, 50), "p99": pct(lat, 99), "max": max(lat)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=400)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rates", type=float, nargs="+", default=[500, 1000, 2000],
                    help="paced runs: events/s offered (money movements are about 40 %% of them)")
    ap.add_argument("--paced-events", type=int, default=10_000, help="events published in each paced run")
    ap.add_argument("--states", nargs="+", default=["memory"],
                    help="memory (the default) and/or a QALQAN_STATE URL, e.g. redis://127.0.0.1:6379/0")
    ap.add_argument("--fronts", type=int, default=0,
                    help="also measure HTTP through this many `qalqan serve --nats` fronts (wrk per front)")
    ap.add_argument("--connections", type=int, default=32, help="--fronts: wrk connections per front")
    ap.add_argument("--seconds", type=float, default=10, help="--fronts: wrk run length")
    ap.add_argument("--only-fronts", action="store_true", help="skip the publish-driven runs")
    args = ap.parse_args()
    path = stream(args.customers, args.days)
    lines = [x for x in path.read_bytes().splitlines() if x.strip()]
    print(f"{machine()}; stream {path.name}: {len(lines):,} events, {money_of(lines):,} money movements")
    drains, paced, http = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.workers if args.fronts else ():
            home = Path(tmp) / f"f{n}"
            home.mkdir()
            r = through_fronts(lines, n, args.fronts, home, args.seconds, args.connections)
            http.append([str(args.fronts), str(n), str(args.connections * args.fronts), f"{r['events_s']:,.0f}",
                         f"{r['decisions_s']:,.0f}", f"{r['p50']:.1f}", f"{r['p99']:.1f}"])
        for st in args.states if not args.only_fronts else ():
            state = None if st == "memory" else st
            label = "memory" if state is None else "redis"
            for n in args.workers:
                home = Path(tmp) / f"w{n}{label}"
                home.mkdir()
                d = asyncio.run(one(lines, money_of(lines), n, None, home, state))
                drains.append([label, str(n), f"{d['events_s']:,.0f}", f"{d['decisions_s']:,.0f}"])
                part = lines[:args.paced_events]
                for rate in args.rates:
                    r = asyncio.run(one(part, money_of(part), n, rate, home, state))
                    paced.append([label, str(n), f"{rate:,.0f}", f"{r['p50']:.1f}", f"{r['p99']:.1f}",
                                  f"{r['max']:.1f}"])
    if http:
        print_table("HTTP through fronts (wrk: POST /v1/events, each event once; latency of every request)",
                    ["fronts", "workers", "connections", "events/s", "decisions/s", "p50 ms", "p99 ms"], http)
    if args.only_fronts:
        return
    print_table("drained backlog (throughput)", ["state", "workers", "events/s", "decisions/s"], drains)
    print_table("paced (latency: publish to decision on NAME.decisions.*)",
                ["state", "workers", "events/s offered", "p50 ms", "p99 ms", "max ms"], paced)


def through_fronts(lines: list[bytes], workers: int, fronts: int, home: Path, seconds: float,
                   conns: int) -> dict[str, float]:
    """HTTP load on ``fronts`` fronts of ``workers`` workers; fresh stream and database."""
    import shutil

    if not shutil.which("wrk"):
        raise SystemExit("--fronts needs wrk (the load generator of bench/http.py)")
    name, db = f"QB{uuid.uuid4().hex[:8].upper()}", fresh_db()
    env = {**os.environ, "QALQAN_HOME": str(home), "QALQAN_KEY": KEY, "QALQAN_DB": f"{PG.rsplit('/', 1)[0]}/{db}",
           "QALQAN_AUTH": "off"}
    env.pop("QALQAN_STATE", None)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for p in range(workers):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "qalqan", "worker", "--nats", NATS, "--stream", name,
                 "--partition", f"{p}/{workers}"], env=env, stdout=subprocess.DEVNULL,
                stderr=open(home / f"fworker{p}.log", "ab")))
        ports = [free_port() for _ in range(fronts)]
        for i, port in enumerate(ports):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "qalqan", "serve", "--port", str(port), "--nats", NATS, "--stream", name,
                 "--partitions", str(workers)], env=env, stdout=subprocess.DEVNULL,
                stderr=open(home / f"front{i}.log", "ab")))
        for port in ports:
            wait_ready(port, 60)
        for p in range(workers):
            deadline = time.monotonic() + 60
            while b"consuming" not in (home / f"fworker{p}.log").read_bytes():
                if time.monotonic() > deadline:
                    raise SystemExit(f"worker {p} did not start:\n{(home / f'fworker{p}.log').read_text()}")
                time.sleep(0.2)
        script = Path(__file__).with_name("wrk_events.lua")
        runs = []
        for i, port in enumerate(ports):
            share = home / f"share{i}.jsonl"
            share.write_bytes(b"\n".join(lines[i::fronts]) + b"\n")
            runs.append(subprocess.Popen(
                ["wrk", "-t1", f"-c{conns}", f"-d{int(seconds)}s", "--timeout", "10s", "-s", str(script),
                 f"http://127.0.0.1:{port}/v1/events"], env={**os.environ, "QALQAN_BODIES": str(share)},
                stdout=subprocess.PIPE, text=True))
        results = []
        for i, run in enumerate(runs):
            out, _ = run.communicate(timeout=seconds + 60)
            vals = dict(line.split(" ", 1) for line in out.splitlines() if line[:1] in "PR" and " " in line)
            reqs, secs = int(vals["REQS"].split()[0]), float(vals["REQS"].split()[2])
            if reqs >= len(lines[i::fronts]):
                raise SystemExit(f"front {i} answered all its events before {seconds} s: use a longer stream")
            results.append((reqs, secs, float(vals["P50"]), float(vals["P99"])))
        time.sleep(1)  # the last requests' decisions
        with psycopg.connect(env["QALQAN_DB"]) as c:
            decided = c.execute("SELECT count(*) FROM events WHERE decision IS NOT NULL").fetchone()[0]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        asyncio.run(_delete(name))
        drop_db(db)
    span = max(r[1] for r in results)
    return {"events_s": sum(r[0] for r in results) / span, "decisions_s": decided / span,
            "p50": max(r[2] for r in results), "p99": max(r[3] for r in results)}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, timeout: float) -> None:
    """GET /readyz by hand: this folder's http.py shadows the standard library's http package."""
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"the front on port {port} was not ready in {timeout} s")
        time.sleep(0.2)


async def _delete(name: str) -> None:
    nc = await nats.connect(NATS)
    try:
        await nc.jetstream().delete_stream(name)
    except nats.js.errors.NotFoundError:
        pass  # never created: the run failed before
    finally:
        await nc.close()


def money_of(lines: list[bytes]) -> int:
    return sum(1 for x in lines if any(f'"type":"{t}"'.encode() in x for t in ("payment", "transfer", "atm")))


if __name__ == "__main__":
    main()
