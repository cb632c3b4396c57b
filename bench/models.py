"""The handbook benchmark, timed: ``qalqan evaluate`` for each protocol, in a fresh process each.

    .venv/bin/python bench/models.py [--protocol handbook-ch3 handbook-ch5] [--json out.json]

Prints, per protocol, AUC ROC / AP / CP@100 per model and for the ensemble (mean ± std over the
test folds) beside the handbook's published table, and the seconds spent: loading + features,
and fitting + scoring per fold. Skipped when ../shared/data/fdh/transactions.parquet is absent.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, print_table  # noqa: E402
from qalqan.models.evaluate import table  # noqa: E402
from qalqan.models.fdh import DEFAULT_DATA  # noqa: E402

CODE = "import json,sys; from qalqan.models.evaluate import evaluate; print(json.dumps(evaluate(sys.argv[1])))"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--protocol", nargs="+", default=["handbook-ch3", "handbook-ch5"])
    ap.add_argument("--json", type=Path, help="also write the reports here")
    args = ap.parse_args()
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
