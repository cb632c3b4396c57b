"""Writing a run as JSON Lines, and what it amounts to."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from .make import Event


@dataclass
class SimStats:
    events: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    fraud_by_scenario: dict[str, int] = field(default_factory=dict)  # fraudulent money movements
    seconds: float = 0.0
    path: str = ""

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def fraud_movements(self) -> int:
        return sum(self.fraud_by_scenario.values())


def write_jsonl(days: Iterable[list[Event]], out: str | Path, sim_days: int,
                progress: Callable[[int], None] | None = None) -> SimStats:
    """Write each day's events, compact, one per line; ``progress`` gets the simulated days done."""
    started = time.perf_counter()
    enc = msgspec.json.Encoder()
    counts: Counter[type] = Counter()
    n = 0
    path = Path(out)
    with path.open("wb") as f:
        for i, batch in enumerate(days, 1):
            if batch:
                f.write(enc.encode_lines(batch))
                counts.update(map(type, batch))
                n += len(batch)
            if progress is not None and i <= sim_days:
                progress(i)
    by_type = {cls.__struct_config__.tag: k for cls, k in counts.items()}
    return SimStats(n, dict(sorted(by_type.items())), {}, time.perf_counter() - started, str(path))
