"""Serving never imports the training stack: `make demo` and a production server install without
scikit-learn (the `train` extra), so the decision path, the servers and a model bundle's scorers
must load without it."""

from __future__ import annotations

import subprocess
import sys

SERVING = ["qalqan.engine", "qalqan.api.app", "qalqan.cli", "qalqan.models.registry", "qalqan.models.live_ensemble",
           "qalqan.models.frozen", "qalqan.stream.worker", "qalqan.stream.front", "qalqan.replay"]


def test_serving_loads_without_scikit_learn() -> None:
    code = ("import sys\n" + "".join(f"import {m}\n" for m in SERVING)
            + "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'scipy'))\n"
            + "assert not bad, bad\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
