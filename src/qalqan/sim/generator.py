"""One simulation run, day by day: fraud chains, list records and ordinary life, drained in order."""

from __future__ import annotations

from collections.abc import Iterator
from random import Random

from . import population
from .intel import IntelFeed
from .legit import Life
from .make import Event
from .plan import Plan
from .timeline import parse_start
from .world import World


class Generator:
    def __init__(self, customers: int, days: int, seed: int, start: str) -> None:
        if customers < 10:
            raise ValueError(f"customers: at least 10 are needed, got {customers}")
        if days < 1:
            raise ValueError(f"days: at least 1 is needed, got {days}")
        t0 = parse_start(start)
        # String seeds go through SHA-512: independent of PYTHONHASHSEED and stable across runs.
        pop = population.build(Random(f"qalqan-sim:{seed}:population"), customers, days)
        self.world = World(seed, t0, days, pop, Random(f"qalqan-sim:{seed}:traffic"))
        self.plan = Plan(self.world, Random(f"qalqan-sim:{seed}:plan"))
        self.life = Life(self.world)
        self.intel = IntelFeed(self.world)

    def days(self) -> Iterator[list[Event]]:
        """Each simulated day's events in time order, then the days of late labels after the run."""
        w = self.world
        for d in range(w.days):
            self.plan.run_day(d)
            self.intel.day(d)
            self.life.day(d)
            yield w.tl.drain(d)
        for d in range(w.days, w.tl.last_day() + 1):
            yield w.tl.drain(d)
