"""In-process decision throughput and latency, durability on (SQLite WAL, group commit).

    .venv/bin/python bench/decide.py [--customers 3000] [--days 30]

Pinned to one core. Every event of a simulated stream goes through ``Engine.decide``; the
latency of an event includes its share of the group commits that happen inside ``decide``.
The reference, measured in the same run on the same lines, is the floor any engine pays:
decode + tokenise + durable append of the event, with no features, rules or policy.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import msgspec  # noqa: E402

from common import machine, pct, print_table, rss_mb, stream  # noqa: E402
from qalqan.config import from_env  # noqa: E402
from qalqan.engine import Engine  # noqa: E402
from qalqan.events import decode_event  # noqa: E402
from qalqan.privacy import Tokenizer  # noqa: E402
from qalqan.store.base import Row  # noqa: E402
from qalqan.store.sqlite import SqliteRecord  # noqa: E402


def run_throughput(lines: list[bytes], db: str) -> float:
    """Events per second with no per-event timer in the loop."""
    engine = Engine(from_env(db_url=f"sqlite:///{db}"), snapshot_every=10**9)
    decide = engine.decide
    t0 = time.perf_counter()
    for line in lines:
        decide(line)
    engine.commit()
    total = time.perf_counter() - t0
    engine.record.close()
    return len(lines) / total


def run_engine(lines: list[bytes], db: str) -> tuple[float, list[float], list[float]]:
    engine = Engine(from_env(db_url=f"sqlite:///{db}"), snapshot_every=10**9)
    money_lat: list[float] = []
    all_lat: list[float] = []
    clock = time.perf_counter_ns
    t0 = clock()
    for line in lines:
        a = clock()
        o = engine.decide(line)
        dt = (clock() - a) / 1e6
        all_lat.append(dt)
        if o.decision is not None:
            money_lat.append(dt)
    engine.commit()
    total = (clock() - t0) / 1e9
    engine.record.close()
    return total, money_lat, all_lat


def run_reference(lines: list[bytes], db: str) -> tuple[float, list[float]]:
    rec = SqliteRecord(db)
    tok = Tokenizer(b"k" * 32)
    enc = msgspec.json.encode
    lat: list[float] = []
    clock = time.perf_counter_ns
    t0 = clock()
    for seq, line in enumerate(lines, 1):
        a = clock()
        e = tok.protect(decode_event(line))
        rec.append(Row(seq, e.event_id, "x", 0, e.customer_id, enc(e), None, None))
        if seq % 1000 == 0:
            rec.commit()
        lat.append((clock() - a) / 1e6)
    rec.commit()
    total = (clock() - t0) / 1e9
    rec.close()
    return total, lat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=3000)
    ap.add_argument("--days", type=int, default=30)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    path = stream(args.customers, args.days)
    lines = [ln for ln in path.read_bytes().splitlines() if ln.strip()]
    tmp = tempfile.mkdtemp(prefix="qalqan-bench-")
    os.environ["QALQAN_HOME"] = tmp
    ref_total, ref_lat = run_reference(lines, f"{tmp}/ref.db")
    rate = run_throughput(lines, f"{tmp}/throughput.db")
    total, money_lat, all_lat = run_engine(lines, f"{tmp}/engine.db")
    n = len(lines)
    print(f"machine: {machine()}; stream: {n:,} events ({len(money_lat):,} money movements), {path.name}")
    print_table(
        "in-process decide, one core, SQLite WAL synchronous=NORMAL, group commit per 1,000",
        ["run", "events/s", "p50 ms", "p99 ms", "p99.9 ms", "max RSS MB"],
        [
            ["reference: decode + tokenise + durable append", f"{n / ref_total:,.0f}",
             f"{pct(ref_lat, 50):.3f}", f"{pct(ref_lat, 99):.3f}", f"{pct(ref_lat, 99.9):.3f}", ""],
            ["qalqan decide, all events (throughput: untimed pass)", f"{rate:,.0f}", f"{pct(all_lat, 50):.3f}",
             f"{pct(all_lat, 99):.3f}", f"{pct(all_lat, 99.9):.3f}", f"{rss_mb():.0f}"],
            ["qalqan decide, money movements only (1 / mean latency)", f"{len(money_lat) / sum(money_lat) * 1000:,.0f}",
             f"{pct(money_lat, 50):.3f}", f"{pct(money_lat, 99):.3f}", f"{pct(money_lat, 99.9):.3f}", ""],
        ],
    )


if __name__ == "__main__":
    main()
