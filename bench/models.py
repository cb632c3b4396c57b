"""The handbook benchmark, timed: ``qalqan evaluate`` for each protocol, in a fresh process each.

    .venv/bin/python bench/models.py [--protocol handbook-ch3 handbook-ch5] [--json out.json]
    .venv/bin/python bench/models.py --latency [--customers 300 --days 20] [--models gbm]

``--latency``: what a live model adds to ``Engine.decide``. Trains a bundle on a simulated stream
(``--models``: the whole ensemble by default, as ``qalqan train``; ``gbm`` for LightGBM alone),
then three engines (no model / the live bundle / the live bundle never computing reasons) decide
the same stream, event by event in turn (so all see the same machine noise); per money movement,
the wall time of ``decide`` and the deciding thread's CPU time (``thread_time``: what the work
costs, without the waits for a core that dominate a shared machine's p99); p50/p99/p99.9 of
each, and the CPU time of the live model's own ``score_one``.

Prints, per protocol, AUC ROC / AP / CP@100 per model and for the ensemble (mean ± std over the
test folds) beside the handbook's published table, and the seconds spent: loading + features,
and fitting + scoring per fold. Skipped when ../shared/data/fdh/transactions.parquet is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, print_table  # noqa: E402
from qalqan.models.evaluate import table  # noqa: E402
from qalqan.models.fdh import DEFAULT_DATA  # noqa: E402

CODE = "import json,sys; from qalqan.models.evaluate import evaluate; print(json.dumps(evaluate(sys.argv[1])))"


def latency(customers: int, days: int, models: str = "gbm,scorecard,mlp,profile,ensemble") -> None:
    import tempfile

    from common import pct, stream
    from qalqan.config import from_env
    from qalqan.engine import Engine
    from qalqan.models import NoModel, bundle
    from qalqan.models.train import train

    path = stream(customers, days)
    root = Path(tempfile.mkdtemp(prefix="qalqan-latency-"))
    settings = from_env(db_url=f"sqlite:///{root / 'live.db'}", home=root)
    t0 = time.perf_counter()
    b = train(path, settings, name="bench", label_delay="0d", models=models)
    print(f"trained {b.name} ({models}) in {time.perf_counter() - t0:.1f} s")
    bundle.promote(settings.home, b.name)
    live = Engine(settings)
    base = Engine(from_env(db_url=f"sqlite:///{root / 'none.db'}", home=root), model=NoModel())
    base.model = NoModel()  # `model or load_live_model`: NoModel is falsy-safe, but be explicit
    lines = path.read_bytes().splitlines()
    quiet = Engine(from_env(db_url=f"sqlite:///{root / 'quiet.db'}", home=root))
    quiet.model.reasons_at = 2.0  # type: ignore[attr-defined]  # never computes reasons
    times: dict[str, list[float]] = {"none": [], "live": [], "quiet": []}
    cpu: dict[str, list[float]] = {"none": [], "live": [], "quiet": []}
    scoring: list[float] = []  # the live model's own score_one (inputs read + predict + reasons)
    score_one = live.model.score_one

    def timed(v: object) -> object:
        t = time.thread_time_ns()
        out = score_one(v)
        scoring.append((time.thread_time_ns() - t) / 1e3)
        return out

    live.model.score_one = timed  # type: ignore[method-assign]
    clock, thread = time.perf_counter_ns, time.thread_time_ns
    for line in lines:
        for key, engine in (("none", base), ("live", live), ("quiet", quiet)):
            t, c = clock(), thread()
            o = engine.decide(line)
            dt, dc = (clock() - t) / 1e3, (thread() - c) / 1e3
            if o.decision is not None:
                times[key].append(dt)
                cpu[key].append(dc)
    live.model.score_one = score_one  # type: ignore[method-assign]
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    for title, data in (("wall time", times), ("CPU time of the deciding thread (no waiting for a core)", cpu)):
        rows = [[k, f"{pct(v, 50):.1f}", f"{pct(v, 99):.1f}", f"{pct(v, 99.9):.1f}", str(len(v))]
                for k, v in (("no model", data["none"]), ("live model", data["live"]),
                             ("live, no reasons", data["quiet"]))]
        print_table(f"decide, µs per money movement, {title} ({customers} customers × {days} days)",
                    ["engine", "p50", "p99", "p99.9", "n"], rows)
        print(f"added p99 ({title}): {pct(data['live'], 99) - pct(data['none'], 99):.1f} µs; without reasons: "
              f"{pct(data['quiet'], 99) - pct(data['none'], 99):.1f} µs")
    print(f"the live model's score_one alone, CPU µs: p50 {pct(scoring, 50):.1f}, p99 {pct(scoring, 99):.1f}, "
          f"p99.9 {pct(scoring, 99.9):.1f}, max {max(scoring):.1f} (n {len(scoring)})")
    flagged = sum(1 for line in lines if (o := live.decide(line)).decision is not None and o.decision.score >= 0.8)
    print(f"movements scored >= 0.8 (reasons computed): {flagged} of {len(times['live'])}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--protocol", nargs="+", default=["handbook-ch3", "handbook-ch5"])
    ap.add_argument("--json", type=Path, help="also write the reports here")
    ap.add_argument("--latency", action="store_true", help="the latency a live model adds to decide")
    ap.add_argument("--customers", type=int, default=300)
    ap.add_argument("--days", type=int, default=20)
    ap.add_argument("--models", default="gbm,scorecard,mlp,profile,ensemble", help="--latency: the bundle's models")
    args = ap.parse_args()
    if args.latency:
        latency(args.customers, args.days, args.models)
        return
    if not DEFAULT_DATA.exists():
        print(f"skipped: {DEFAULT_DATA} is absent (see ../shared/data/README.md)")
        return
    print(f"command: .venv/bin/python bench/models.py {' '.join(sys.argv[1:])}")
    print(f"machine: {machine()}")
    reports = {}
    for protocol in args.protocol:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", CODE, protocol], check=True, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        report = json.loads(proc.stdout.splitlines()[-1])
        reports[protocol] = report
        print_table(f"{protocol}: {len(report['folds'])} test fold(s), mean ± std; handbook's table below",
                    ["model", "AUC ROC", "AP", "CP@100"], [list(r) for r in table(report)])
        fits = ", ".join(f"{f['seconds']['fit']:.0f}+{f['seconds']['score']:.0f}" for f in report["folds"])
        print(f"seconds: process {wall:.1f} (load + features {report['seconds']['features']:.1f}; "
              f"fit+score per fold {fits})")
    if args.json:
        args.json.write_text(json.dumps(reports, indent=1))


if __name__ == "__main__":
    main()
