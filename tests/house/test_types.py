"""The core is strictly typed: mypy --strict over the modules pyproject.toml's [tool.mypy] names
(the event contract, the decision path, the record, the money-deciding stages). A type error there
fails the suite, as it fails `make lint`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_core_passes_mypy_strict() -> None:
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
