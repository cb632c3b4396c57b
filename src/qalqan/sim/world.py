"""The shared state of one simulation run: seeded randomness, the timeline, the population, labels.

Every module that makes traffic gets the ``World`` and uses its helpers: ``tod`` for a realistic
local time of day, ``money`` to convert a RUB figure to the customer's currency, ``fraud`` to
schedule a fraudulent money movement together with its later label.
"""

from __future__ import annotations

import math
from random import Random

from . import ids, make
from .population import Customer, Population
from .timeline import DAY, Timeline, format_ts, prefill, ts_int

SCENARIOS = (
    "courier_scam", "sbp_pull_then_stranger", "mule_dormant_fanin", "mule_atm_cash_in", "card_testing",
    "cnp_stolen_card", "atm_relay", "marketplace_fake_listing", "phishing_link", "biometric_spoof",
    "regulator_db_hit",
)
LEGIT_LABEL_RATE = 0.005
CROOK_COUNTRIES = ("NL", "DE", "US", "VN", "UZ", "KG", "TR")
HOUR = 3600
# Relative activity by local hour: quiet nights, a long evening peak.
_HOUR_WEIGHTS = [1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 2.5, 4, 5, 5.5, 6, 6.5, 6, 5.5, 5.5, 6, 6.5, 7, 7, 6.5, 5, 3.5, 2]


def _time_table(rng: Random, weights: list[float], size: int = 1 << 16) -> list[int]:
    """``size`` local times of day (seconds) drawn from the hourly profile: one lookup per draw."""
    total = sum(weights)
    table: list[int] = []
    for h, w in enumerate(weights):
        table.extend(h * HOUR + int(rng.random() * HOUR) for _ in range(round(w / total * size)))
    return table


class World:
    def __init__(self, seed: int, t0: int, days: int, pop: Population, rng: Random) -> None:
        self.seed = seed
        self.t0 = t0
        self.days = days
        self.end = t0 + days * DAY
        self.pop = pop
        self.rng = rng
        self.rnd = rng.random
        self.tl = Timeline(t0)
        prefill(t0 - DAY, self.end + 70 * DAY)  # the hot paths format with DATES directly
        self.fraud_counts = dict.fromkeys(SCENARIOS, 0)
        # exp(N(0, 1)) draws, looked up instead of computed on the hot path
        self.lognormals = [math.exp(rng.gauss(0.0, 1.0)) for _ in range(1 << 14)]
        self.times = _time_table(rng, _HOUR_WEIGHTS)
        self.n_times = len(self.times)
        self._listing_seq = 0
        self._crooks: list[tuple[str, str, str]] = []

    # --- time -------------------------------------------------------------------------------
    def tod(self, c: Customer) -> int:
        """Seconds into the UTC day of a local-time activity of ``c``."""
        return (self.times[int(self.rnd() * self.n_times)] - c.tz) % DAY

    def daytime(self, day_start: int, c: Customer, lo_hour: int = 9, hi_hour: int = 21) -> int:
        """A moment between local ``lo_hour`` and ``hi_hour`` of the UTC day starting at ``day_start``."""
        local = lo_hour * HOUR + int(self.rnd() * (hi_hour - lo_hour) * HOUR)
        return day_start + (local - c.tz) % DAY

    def uniform(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * self.rnd()

    def lognorm(self, median: float, sigma: float) -> float:
        return median * math.exp(sigma * self.rng.gauss(0.0, 1.0))

    def pick(self, seq):
        return seq[int(self.rnd() * len(seq))]

    @staticmethod
    def money(c: Customer, rub: float) -> float:
        """A RUB figure in the customer's own currency, rounded to kopecks/tiyn."""
        return round(rub * c.fx, 2) if c.fx == 1.0 else float(round(rub * c.fx))

    def next_listing_id(self) -> str:
        self._listing_seq += 1
        return f"L{70_000_000 + self._listing_seq * 7:09d}"

    def crook(self, home: str, foreign: float = 0.5) -> tuple[str, str, str]:
        """A fraudster's (device_id, ip, ip country); one device now and then serves several schemes."""
        if self._crooks and self.rnd() < 0.25:
            return self.pick(self._crooks)
        country = self.pick(CROOK_COUNTRIES) if self.rnd() < foreign else home
        kit = (ids.device_id(self.rng), ids.ip(self.rng, country), country)
        self._crooks.append(kit)
        return kit

    # --- events and labels -----------------------------------------------------------------
    def add(self, ev: make.Event) -> make.Event:
        return self.tl.add(ev)

    def fraud(self, ev: make.Event, scenario: str, delay_s: int | None = None, kind: str = "fraud") -> make.Event:
        """Schedule a fraudulent money movement and the label that later reports it.

        Without ``delay_s``: card payments are charged back after 10-60 days (or, one in five,
        reported by the issuer as fraud within 10 days); transfers and ATM operations are reported
        when the client calls the bank, 2 hours to 5 days later.
        """
        self.tl.add(ev)
        self.fraud_counts[scenario] += 1
        if delay_s is None:
            if isinstance(ev, make.Payment) and self.rnd() < 0.8:
                kind = "chargeback"  # the scheme's dispute cycle: weeks
                delay_s = int(self.uniform(10, 60) * DAY)
            elif isinstance(ev, make.Payment):
                delay_s = int(self.uniform(1, 10) * DAY)  # the issuer's fraud report
            else:
                # The client notices and calls the bank: hours, sometimes days.
                delay_s = int(2 * HOUR + min(5 * DAY, self.rng.expovariate(1 / (20 * HOUR))))
        ts = ts_int(ev.ts) + max(HOUR, delay_s)
        self.tl.add_label(make.label(ts, ev.customer_id, ev, kind, scenario))
        if isinstance(ev, make.Transfer) and ev.direction == "out" and self.rnd() < 0.4:
            # The bank puts the recipient on its own list once the fraud is reported.
            self.tl.add(make.intel(ts + int(self.uniform(1, 8) * HOUR), "bank", "internal", "account",
                                   ev.to_account))
        return ev

    def legit_label(self, ev: make.Event) -> None:
        delay = int(self.uniform(1, 25) * DAY)
        self.tl.add_label(make.label(ts_int(ev.ts) + delay, ev.customer_id, ev, "legit"))

    def expires(self, ts: int, days: float) -> str:
        return format_ts(int(ts + days * DAY))
