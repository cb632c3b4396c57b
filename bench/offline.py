"""Offline feature builder throughput: events per second of ``features.offline.build``.

    .venv/bin/python bench/offline.py [--customers 2000] [--days 30] [--runs 3] [--online]

(a) a simulated stream (bench/common.py caches it) with every feature of definitions.yaml, built
    from the event views (list of dicts, as ``views_from_jsonl`` gives) and from a views frame;
    ``--online`` also folds it through the online state, for comparison;
(b) the Fraud Detection Handbook table (../shared/data/fdh/transactions.parquet, 1.6 M payments;
    skipped when absent), each row a payment view (card = customer, merchant = terminal), with the
    features of bench/offline_features.yaml (the handbook's counts and sums over 1/7/30 days) and
    the heavier bench/offline_features_rich.yaml (max, distinct, a filter, last and first seen).

Each case runs in a fresh process: its first build gives the memory (peak resident set during
the build above the one before it, sampled every 5 ms), the median of the next ``--runs`` the time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import polars as pl  # noqa: E402

from common import machine, print_table, stream  # noqa: E402
from qalqan.features import definitions  # noqa: E402
from qalqan.features.offline import _frame, _Plan, build, views_from_jsonl  # noqa: E402
from qalqan.features.online import OnlineFeatures  # noqa: E402

HERE = Path(__file__).parent
HANDBOOK = HERE.parent.parent / "shared" / "data" / "fdh" / "transactions.parquet"
COMMAND = ".venv/bin/python bench/offline.py " + " ".join(sys.argv[1:])


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def measure(fn: Callable[[], Any]) -> tuple[float, float]:
    """Seconds of ``fn()`` and the peak RSS growth (MB) while it ran."""
    base = _rss_mb()
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], _rss_mb())

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    t0 = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t0
    done.set()
    t.join()
    return seconds, max(peak[0], _rss_mb()) - base


def handbook_views() -> pl.DataFrame:
    df = pl.read_parquet(HANDBOOK)
    return df.select(
        pl.col("TRANSACTION_ID").cast(pl.String).alias("event_id"),
        pl.lit("payment").alias("type"),
        pl.col("TX_DATETIME").dt.epoch("us").alias("ts_us"),
        pl.col("CUSTOMER_ID").cast(pl.String).alias("customer_id"),
        pl.col("CUSTOMER_ID").cast(pl.String).alias("card_id"),
        pl.col("TERMINAL_ID").cast(pl.String).alias("merchant_id"),
        (pl.col("TX_AMOUNT") * 100).round().cast(pl.Int64).alias("amount_base"),
        pl.lit("pos").alias("channel"),
        pl.lit("EUR").alias("currency"),
    )


def case(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """One measurement, in this (fresh) process: the first build gives memory, the next the time."""
    prep = time.perf_counter()
    if name.startswith("sim"):
        fs = definitions.load()
        views: Any = views_from_jsonl(stream(args.customers, args.days))
        if name == "sim-frame":
            views = _frame(views, _Plan(fs).fields)
    else:
        fs = definitions.load(HERE / ("offline_features.yaml" if name == "handbook" else "offline_features_rich.yaml"))
        views = handbook_views()
    prep = time.perf_counter() - prep
    n = len(views)
    if name == "sim-online":
        def fn() -> None:
            state = OnlineFeatures(fs)
            for v in views:
                ctx = dict(v)
                state.read(ctx, ctx)
                state.update(ctx, ctx)
    else:
        def fn() -> None:
            build(views, fs)
    cold, mem = measure(fn)
    times = [measure(fn)[0] for _ in range(args.runs if name != "sim-online" else 0)]
    return {"events": n, "outputs": len(fs.names), "prep": prep, "cold": cold, "mem": mem,
            "seconds": statistics.median(times) if times else cold}


CASES = {
    "sim-list": "(a) sim: build(views list), definitions.yaml",
    "sim-frame": "(a) sim: build(views frame), definitions.yaml",
    "sim-online": "(a) sim: online fold, every output read (reference)",
    "handbook": "(b) handbook: build, bench/offline_features.yaml",
    "handbook-rich": "(b) handbook: build, bench/offline_features_rich.yaml",
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=2000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--online", action="store_true", help="also fold the simulated stream through the online state")
    ap.add_argument("--case", choices=sorted(CASES), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        print(json.dumps(case(args.case, args)))
        return
    print(f"command: {COMMAND}")
    print(f"machine: {machine()}; Polars {pl.__version__} ({pl.thread_pool_size()} threads)")
    stream(args.customers, args.days)  # made once, outside the measurements
    names = ["sim-list", "sim-frame"] + (["sim-online"] if args.online else [])
    if HANDBOOK.exists():
        names += ["handbook", "handbook-rich"]
    else:
        print(f"skipped (b): {HANDBOOK} is absent (see ../shared/data/README.md)")
    rows: list[list[str]] = []
    for name in names:
        cmd = [sys.executable, __file__, "--case", name, "--customers", str(args.customers), "--days", str(args.days),
               "--runs", str(args.runs)]
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
        label = CASES[name].replace("(a) sim", f"(a) sim {args.customers}x{args.days}d", name == "sim-list")
        rows.append([label, f"{r['events']:,}", str(r["outputs"]), f"{r['events'] / r['seconds']:,.0f}",
                     f"{r['seconds']:.2f}", f"{r['cold']:.2f}", f"{r['mem']:,.0f}", f"{r['prep']:.2f}"])
    print_table("offline feature builder (features/offline.py); each run in a fresh process",
                ["run", "events", "outputs", "events/s", "seconds (median)", "first run s", "peak +RSS MB",
                 "input s"], rows)
    print("input s: making the input (sim: decode, tokenise, view; handbook: parquet to a views frame), not timed "
          "in events/s. peak +RSS: during the first run, above the resident set after the input was made.")


if __name__ == "__main__":
    main()
