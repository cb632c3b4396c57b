"""When each fraud scenario happens, and to whom.

The number of instances of a scenario scales with customers × days (``RATES``, per 1,000
customer-days) with a floor (``MIN_INSTANCES``), so that even a small run has a few of each. The
actors of the account-based schemes (mules, fake sellers, phishers) are set aside from the
population up front; victims are drawn from everyone else. Instances are placed so that their
chains end inside the run where the run is long enough.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from random import Random

from . import cards, mules, scams
from .population import Customer, stranger
from .timeline import DAY
from .world import HOUR, World

# instances per 1,000 customer-days; with the per-instance money movements this is ~0.5 % fraud
RATES = {
    "courier_scam": 1.5, "sbp_pull_then_stranger": 1.0, "mule_dormant_fanin": 0.3, "mule_atm_cash_in": 0.3,
    "card_testing": 0.15, "cnp_stolen_card": 0.8, "atm_relay": 0.4, "marketplace_fake_listing": 0.15,
    "phishing_link": 0.8, "biometric_spoof": 0.3, "regulator_db_hit": 0.8,
}
MIN_INSTANCES = 3
# days a chain needs after its first event, to end inside the run
SPAN_DAYS = {
    "courier_scam": 2, "sbp_pull_then_stranger": 1, "mule_dormant_fanin": 3, "mule_atm_cash_in": 2,
    "card_testing": 1, "cnp_stolen_card": 1, "atm_relay": 1, "marketplace_fake_listing": 5,
    "phishing_link": 2, "biometric_spoof": 1, "regulator_db_hit": 3,
}
ACCOUNT_ROLES = {"mule_dormant_fanin": "mule", "mule_atm_cash_in": "mule_atm",
                 "marketplace_fake_listing": "fake_seller"}

Instance = tuple[int, Callable[[], None]]


def _shuffled(rng: Random, items: list) -> list:
    out = list(items)
    for i in range(len(out) - 1, 0, -1):  # Fisher-Yates on rng.random(): stable across Python versions
        j = int(rng.random() * (i + 1))
        out[i], out[j] = out[j], out[i]
    return out


class Plan:
    def __init__(self, w: World, rng: Random) -> None:
        self.w = w
        self.rng = rng
        self.by_day: dict[int, list[Instance]] = {}
        customers, days = w.pop.customers, w.days
        counts = {s: max(MIN_INSTANCES, round(rate * len(customers) * days / 1000)) for s, rate in RATES.items()}
        # Set actors aside, never more than a third of the population.
        budget = max(0, len(customers) // 3)
        pool = _shuffled(rng, customers)
        actors: dict[str, list[Customer]] = {}
        for scenario, role in ACCOUNT_ROLES.items():
            take = min(counts[scenario], budget)
            counts[scenario] = take
            actors[scenario] = pool[:take]
            del pool[:take]
            budget -= take
            for c in actors[scenario]:
                c.role = role
        phishers = pool[: max(1, min(budget, counts["phishing_link"] // 4))] if budget else actors.get(
            "marketplace_fake_listing", [])[:1]
        for c in phishers:
            c.role = c.role or "phisher"
        for c in customers:  # nobody's relatives are drops: a sleeping account must stay asleep
            for k, p in enumerate(c.family):
                if p.customer >= 0 and customers[p.customer].role in ("mule", "mule_atm"):
                    c.family[k] = stranger(rng, c.country)
        self.victims = [c for c in customers if not c.role] or list(customers)
        self.phishers = phishers or self.victims[:1]
        for scenario, n in counts.items():
            fn = getattr(scams, scenario, None) or getattr(cards, scenario, None) or getattr(mules, scenario)
            for k in range(n):
                self._schedule(scenario, fn, k, actors.get(scenario))

    def _day(self, lo: int, span: int) -> int:
        hi = max(lo, self.w.days - 1 - span)
        return lo + int(self.rng.random() * (hi - lo + 1))

    def _victim(self, country: str | None = None) -> Customer:
        pool = self.victims
        if country:
            pool = [c for c in pool if c.country == country] or pool
        return pool[int(self.rng.random() * len(pool))]

    def _schedule(self, scenario: str, fn, k: int, actors: list[Customer] | None) -> None:
        rng, w = self.rng, self.w
        span = SPAN_DAYS[scenario]
        if scenario in ("mule_dormant_fanin", "mule_atm_cash_in"):
            actor = actors[k]
            # Asleep since the start of the run: 60+ days where the run is that long.
            d = self._day(min(60, w.days // 2), span)
            call = partial(fn, w, actor)
        elif scenario == "marketplace_fake_listing":
            seller = actors[k]
            d = self._day(0, span)
            victims = []
            for _ in range(2 + int(rng.random() * 5)):
                v = self._victim(seller.country)
                if v not in victims and v is not seller:
                    victims.append(v)
            call = partial(fn, w, seller, victims=victims)
        else:
            d = self._day(0, span)
            country = "RU" if scenario == "sbp_pull_then_stranger" else None
            if scenario == "biometric_spoof":
                enrolled = [c for c in self.victims if c.bio]
                victim = enrolled[int(rng.random() * len(enrolled))] if enrolled else self._victim()
            else:
                victim = self._victim(country)
            call = partial(fn, w, victim)
            if scenario == "phishing_link":
                call = partial(fn, w, victim, sender=self.phishers[int(rng.random() * len(self.phishers))])
            victim.active_from = min(victim.active_from, d)  # a victim is a living client
        local = 7 * HOUR + int(rng.random() * 15 * HOUR)  # the chain starts in the local daytime
        tz = actors[k].tz if actors else 4 * HOUR
        t = w.t0 + d * DAY + (local - tz) % DAY
        self.by_day.setdefault(d, []).append((t, call))

    def run_day(self, d: int) -> None:
        for _t, call in sorted(self.by_day.pop(d, []), key=lambda x: x[0]):
            call(t=_t)
