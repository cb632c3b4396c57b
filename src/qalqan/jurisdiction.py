"""Whose law applies to a client: the packs that run, the hold a suspension brings, the notices sent.

- **RU** — Bank of Russia order ОД-2506 (and ОД-1765) signs; a hold is 161-FZ art. 8's suspension
  with the client's confirmation and the FinCERT cooling-off (holds.py).
- **KZ** — the Anti-Fraud Center's list and the ARDFM rules (pack ``kz``); a hold is the AFC block of
  up to 5 working days on Kazakhstan's working-day calendar (``rules/calendars/kz.yaml``, holidays
  as data); every login, password change and phone-number change is told to the client (an
  ``ardfm.*`` notice in the outbox, which the webhooks deliver).

An organisation has a jurisdiction (``QALQAN_JURISDICTIONS``: a YAML file mapping organisation →
``RU`` | ``KZ``; an organisation it does not name, the default one included, is ``RU``). An event
may name its client's own (the envelope's ``jurisdiction``) and then that wins: a bank that serves
clients of both countries is one organisation, and only its core knows under which country's
contract each client is served; the organisation's setting is the answer for the clients it does
not mark. Both come from the event and the configuration, never from the clock, so a replay gives
the same jurisdiction, packs and holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

import yaml

JURISDICTIONS = ("RU", "KZ")
DEFAULT_JURISDICTION = "RU"
CALENDARS_DIR = Path(__file__).parent / "rules" / "calendars"
DAY_US = 86_400_000_000
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# The ARDFM notices: which context event tells the client what (kind in the outbox).
ARDFM_NOTICES = {
    ("login", None): ("ardfm.login", "a login to your online banking at {at}; if it was not you, call the bank"),
    ("profile_change", "password"): ("ardfm.password_change",
                                     "your password was changed at {at}; if it was not you, call the bank"),
    ("profile_change", "phone"): ("ardfm.phone_change",
                                  "your phone number was changed at {at}; if it was not you, call the bank"),
}


def ardfm_notice(v: dict[str, Any]) -> tuple[str, str] | None:
    """(kind, text) of the ARDFM notice a Kazakh client's context event brings, if any: a successful
    login (a failed attempt is no login), a password change, a phone-number change."""
    etype = v["type"]
    if etype == "login" and not v.get("success"):
        return None
    found = ARDFM_NOTICES.get((etype, v.get("field") if etype == "profile_change" else None))
    if found is None:
        return None
    at = datetime.fromtimestamp(v["ts_us"] / 1e6, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return found[0], found[1].format(at=at)


class JurisdictionError(ValueError):
    pass


def parse_jurisdictions(doc: Any) -> dict[str, str]:
    """``{org: "RU" | "KZ"}`` from a YAML document; the error names the bad organisation or value."""
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise JurisdictionError("must map each organisation to RU or KZ (e.g. `bank-kz: KZ`)")
    out: dict[str, str] = {}
    for org, value in doc.items():
        if not isinstance(org, str) or not org:
            raise JurisdictionError(f"organisation {org!r}: a name is a non-empty string")
        if value not in JURISDICTIONS:
            raise JurisdictionError(f"organisation {org!r}: jurisdiction {value!r} is not one of {list(JURISDICTIONS)}")
        out[org] = value
    return out


def resolve(event_jurisdiction: str | None, org: str, by_org: dict[str, str]) -> str:
    """The client's jurisdiction: the event's own if it names one, else its organisation's."""
    return event_jurisdiction or by_org.get(org, DEFAULT_JURISDICTION)


@dataclass(frozen=True)
class WorkingCalendar:
    """Working days of one country: weekends and holidays (and weekend days made working) as data."""

    name: str
    offset: timezone
    weekend: frozenset[int]
    holidays: frozenset[date]
    working: frozenset[date] = frozenset()

    def is_working(self, day: date) -> bool:
        if day in self.working:
            return True
        return day.weekday() not in self.weekend and day not in self.holidays

    def add_working_days(self, ts_us: int, days: int) -> int:
        """The same local time ``days`` working days after ``ts_us`` (days counted on the country's
        local dates: a block started on a Friday evening runs Monday to Friday)."""
        local = datetime.fromtimestamp(ts_us / 1e6, tz=UTC).astimezone(self.offset)
        day, left, steps = local.date(), days, 0
        while left > 0:
            day += timedelta(days=1)
            steps += 1
            if self.is_working(day):
                left -= 1
        return ts_us + steps * DAY_US

    @classmethod
    def from_file(cls, path: Path) -> WorkingCalendar:
        try:
            doc = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise JurisdictionError(f"{path}: cannot read the calendar: {exc}") from None
        try:
            sign = -1 if doc["utc_offset"].startswith("-") else 1
            hh, mm = doc["utc_offset"].lstrip("+-").split(":")
            offset = timezone(sign * timedelta(hours=int(hh), minutes=int(mm)))
            weekend = frozenset(_WEEKDAYS.index(d) for d in doc.get("weekend", ["Sat", "Sun"]))
            holidays = frozenset(_date(d) for d in doc.get("holidays") or [])
            working = frozenset(_date(d) for d in doc.get("working_days") or [])
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise JurisdictionError(f"{path}: a calendar needs utc_offset (+hh:mm), weekend and holidays as "
                                    f"dates: {exc}") from None
        return cls(str(doc.get("name", path.stem)), offset, weekend, holidays, working)


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


@cache
def calendar(name: str) -> WorkingCalendar:
    """A built-in calendar (``rules/calendars/<name>.yaml``), read once."""
    return WorkingCalendar.from_file(CALENDARS_DIR / f"{name.lower()}.yaml")
