"""Replay a JSON Lines file of events through the decision path.

Rejected lines are reported with their line number and skipped; the rest of the file is still
decided. Decisions are written out only once the commit that holds them has returned, so the
output never shows a decision the record could lose.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from .engine import Engine
from .events import EventError


@dataclass
class ReplayStats:
    lines: int = 0
    events: int = 0
    decisions: int = 0
    duplicates: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    errors: list[EventError] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def replay(
    engine: Engine,
    source: Path | str,
    out: IO[bytes] | None = None,
    progress: Callable[[int], None] | None = None,
    max_errors_kept: int = 1000,
) -> ReplayStats:
    stats = ReplayStats()
    pending: list[bytes] = []
    t0 = time.perf_counter()
    with open(source, "rb") as f:
        for lineno, line in enumerate(f, 1):
            stats.lines = lineno
            if not line.strip():
                continue
            try:
                outcome = engine.decide(line)
            except EventError as exc:
                if len(stats.errors) < max_errors_kept:
                    stats.errors.append(exc.at_line(lineno))
                continue
            stats.events += 1
            stats.duplicates += outcome.duplicate
            if outcome.decision_json is not None:
                stats.decisions += 1
                stats.actions[outcome.decision.action] += 1  # type: ignore[union-attr]
                pending.append(outcome.decision_json)
            if engine.pending == 0 and pending:  # the engine just committed: these are durable
                _flush(out, pending)
            if progress is not None and lineno % 5000 == 0:
                progress(5000)
    engine.commit()
    _flush(out, pending)
    stats.seconds = time.perf_counter() - t0
    return stats


def _flush(out: IO[bytes] | None, pending: list[bytes]) -> None:
    if out is not None and pending:
        out.write(b"\n".join(pending) + b"\n")
        out.flush()
    pending.clear()
