"""How long a report takes on a record of simulated traffic: reading the record, computing every
section, writing HTML and JSON.

    .venv/bin/python bench/report.py [--customers 2000] [--days 30]

The record is made once (simulated, then decided through the engine) and cached beside the bench
streams. Reading dominates: the reports read the whole record once, in order, and skip context
events without decoding them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import CACHE, machine, print_table, rss_mb, stream  # noqa: E402
from qalqan.config import DEFAULT_FX, from_env  # noqa: E402
from qalqan.engine import Engine  # noqa: E402
from qalqan.replay import replay  # noqa: E402
from qalqan.reports.facts import read_facts  # noqa: E402
from qalqan.reports.html import render_html  # noqa: E402
from qalqan.reports.report import build_report, write_json  # noqa: E402
from qalqan.store import open_record  # noqa: E402


def record(customers: int, days: int) -> tuple[str, int]:
    path = CACHE / f"record-{customers}-{days}.db"
    url = f"sqlite:///{path}"
    if not path.exists():
        os.environ.setdefault("QALQAN_HOME", str(CACHE / "home"))
        engine = Engine(from_env(db_url=url))
        try:
            replay(engine, stream(customers, days), None)
        finally:
            engine.close()
    rec = open_record(url)
    n = rec.count()
    rec.close()
    return url, n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=2000)
    ap.add_argument("--days", type=int, default=30)
    args = ap.parse_args()
    url, events = record(args.customers, args.days)
    start = date(2026, 2, 2)
    end = start + timedelta(days=args.days - 1)
    timings: list[list[str]] = []
    t0 = time.perf_counter()
    rec = open_record(url)
    facts = read_facts(rec, start, end, "RUB", DEFAULT_FX)
    rec.close()
    t1 = time.perf_counter()
    report = build_report(facts, DEFAULT_FX)
    t2 = time.perf_counter()
    html = render_html(report)
    t3 = time.perf_counter()
    data = write_json(report)
    t4 = time.perf_counter()
    timings.append(["read the record", f"{t1 - t0:.2f} s", f"{events / (t1 - t0):,.0f} events/s, "
                    f"{facts.movements.height:,} money movements kept"])
    timings.append(["compute every section", f"{t2 - t1:.2f} s", ""])
    timings.append(["render HTML", f"{t3 - t2:.3f} s", f"{len(html) / 1024:,.0f} KiB"])
    timings.append(["write JSON", f"{t4 - t3:.3f} s", f"{len(data) / 1024:,.0f} KiB"])
    print_table(f"report over {events:,} events ({args.customers:,} clients × {args.days} days) — {machine()}, "
                f"peak RSS {rss_mb():,.0f} MB", ["step", "time", "note"], timings)


if __name__ == "__main__":
    main()
