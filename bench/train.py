"""Training the whole ensemble (LightGBM, scorecard, MLP, profile, stacker) on 1 M transactions.

    .venv/bin/python bench/train.py [--rows 1000000] [--data PATH] [--json out.json]

The rows are the last ``--rows`` transactions of the handbook's data (../shared/data/fdh), with the
features of ``qalqan evaluate`` (qalqan's offline builder, labels known after 7 days). Features are
built once and cached in $QALQAN_BENCH_CACHE (they are the feature engine's cost, timed apart and
not part of training); then ``Ensemble(members()).fit(X, y)`` is timed as a whole and per member
and phase (out-of-fold fits, refits on every row, the stacker).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import CACHE, machine, print_table, rss_mb  # noqa: E402


def features(data: Path) -> tuple[object, float]:
    import hashlib

    import polars as pl

    from qalqan.models import fdh

    key = hashlib.sha256(fdh.FEATURES_PATH.read_bytes() + Path(fdh.__file__).read_bytes()).hexdigest()[:10]
    cached = CACHE / f"fdh-features-{data.stat().st_size}-{key}.parquet"  # rebuilt when the features change
    if cached.exists():
        return pl.read_parquet(cached), 0.0
    t = time.perf_counter()
    frame = fdh.features(fdh.load(data))
    seconds = time.perf_counter() - t
    CACHE.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(cached)
    return frame, seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    from qalqan.models import fdh
    from qalqan.models.ensemble import Ensemble
    from qalqan.models.evaluate import members
    from qalqan.models.metrics import average_precision

    data = args.data or fdh.DEFAULT_DATA
    if not data.exists():
        print(f"skipped: {data} is absent (see ../shared/data/README.md)")
        return
    print(f"command: .venv/bin/python bench/train.py {' '.join(sys.argv[1:])}")
    print(f"machine: {machine()}; {datetime.now(UTC):%Y-%m-%d}")
    frame, feat_s = features(data)
    rows = frame.tail(args.rows + 50_000)  # the last 50,000 are held out: a sanity check of the fit
    train, held = rows.head(len(rows) - 50_000), rows.tail(50_000)
    X, y = train.select(fdh.INPUTS).to_numpy(), train["TX_FRAUD"].to_numpy()
    print(f"{len(X):,} training rows × {X.shape[1]} inputs, {int(y.sum()):,} frauds; features "
          + (f"built in {feat_s:.1f} s" if feat_s else "from the cache"))
    ens = Ensemble(fdh.INPUTS, members())
    t, cpu = time.perf_counter(), time.process_time()
    ens.fit(X, y)
    fit_s, cpu_s = time.perf_counter() - t, time.process_time() - cpu
    p = ens.score_many(held.select(fdh.INPUTS).to_numpy())
    ap_held = average_precision(held["TX_FRAUD"].to_numpy(), p)
    table = [[name, f"{s['oof']:.1f}", f"{s['refit']:.1f}", f"{s['oof'] + s['refit']:.1f}"]
             for name, s in ens.seconds.items() if name != "stacker"]
    table.append(["stacker", "", "", f"{ens.seconds['stacker']['refit']:.1f}"])
    table.append(["whole ensemble", "", "", f"{fit_s:.1f}"])
    print_table(f"ensemble fit, seconds ({len(X):,} rows; out-of-fold fits on "
                f"{'all' if ens.oof_rows is None else f'up to {ens.oof_rows:,}'} rows)",
                ["member", "out-of-fold", "refit", "total"], table)
    print(f"whole fit {fit_s:.1f} s wall ({'under' if fit_s < 120 else 'OVER'} the 120 s bar), {cpu_s:.1f} s CPU "
          f"(both threads; load average then {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores); "
          f"AP on the next 50,000 transactions {ap_held:.3f}; peak RSS {rss_mb():.0f} MB")
    if args.json:
        args.json.write_text(json.dumps({"rows": len(X), "fit_s": fit_s, "cpu_s": cpu_s, "features_s": feat_s,
                                         "members": ens.seconds, "ap_next_50k": ap_held}, indent=1))


if __name__ == "__main__":
    main()
