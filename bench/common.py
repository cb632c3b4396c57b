"""Shared helpers for the benchmarks: a stream to decide, percentiles, memory, a table."""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

CACHE = Path(os.environ.get("QALQAN_BENCH_CACHE", "/tmp/qalqan-bench"))


def stream(customers: int, days: int, seed: int = 11) -> Path:
    """A simulated stream, made once and reused across runs."""
    from qalqan.sim import simulate

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"stream-{customers}-{days}-{seed}.jsonl"
    if not path.exists():
        simulate(customers, days, seed, path)
    return path


def pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {sys.version.split()[0]}"


def print_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    t = Table(title=title)
    for c in columns:
        t.add_column(c, justify="left" if c == columns[0] else "right")
    for r in rows:
        t.add_row(*r)
    Console(width=160).print(t)
