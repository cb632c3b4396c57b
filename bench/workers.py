"""Decisions/s and latency with 1 and 2 `qalqan worker` processes over NATS JetStream + PostgreSQL.

    .venv/bin/python bench/workers.py [--customers 400] [--days 30] [--workers 1 2] [--rates 500 1000 2000]
                                      [--states memory redis://127.0.0.1:6379/0]

For each worker count, on a fresh stream and a fresh PostgreSQL database:
- throughput: the whole stream is published first (a backlog), then the workers drain it; the rate
  is counted between the first and the last decision seen on ``NAME.decisions.*`` (start-up aside);
- latency: the workers wait, then the first ``--paced-events`` events are published at each of
  ``--rates`` events/s, paced in ticks of 50 events; an event's latency runs from its publish to
  its decision's arrival on the decisions subject: publish ack, fetch, decide, group commit to
  PostgreSQL, decision publish.
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
                              "--partition", f"{p}/{n}", "--idle-exit", str(idle)], env=env,
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
        for p in procs:
            p.wait(60)
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
    args = ap.parse_args()
    path = stream(args.customers, args.days)
    lines = [x for x in path.read_bytes().splitlines() if x.strip()]
    print(f"{machine()}; stream {path.name}: {len(lines):,} events, {money_of(lines):,} money movements")
    drains, paced = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for st in args.states:
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
    print_table("drained backlog (throughput)", ["state", "workers", "events/s", "decisions/s"], drains)
    print_table("paced (latency: publish to decision on NAME.decisions.*)",
                ["state", "workers", "events/s offered", "p50 ms", "p99 ms", "max ms"], paced)


def money_of(lines: list[bytes]) -> int:
    return sum(1 for x in lines if any(f'"type":"{t}"'.encode() in x for t in ("payment", "transfer", "atm")))


if __name__ == "__main__":
    main()
