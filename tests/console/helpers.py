"""A real `qalqan serve` with the console, a fresh QALQAN_HOME, users of every role, and a record
seeded over HTTP with events that open two cases:

- ``p-5``: the sixth card payment at a sixth merchant within the hour (cnp.many_merchants → review),
  at the merchant ``airline``;
- ``t-hold``: a transfer to an account on the FinCERT list (od2506.1.1 → hold).

Event times are the last hour before now: people's answers (labels, hold answers) are stamped
with the wall clock, and a hold must still be open when the test answers it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from test_http import serving

from conftest import ev, payment, transfer
from qalqan.api.keys import KeyRing
from qalqan.console.reader import Reader
from qalqan.console.users import UserBook
from qalqan.store.base import DEFAULT_ORG

PASSWORD = "correct horse battery"
USERS = {"ana": "analyst", "root": "admin", "audrey": "auditor", "air": "merchant", "eve": "analyst"}


@dataclass
class Site:
    base: str
    home: Path
    db_url: str
    cases: dict[str, str]  # event id → the case page's path
    org: str  # the users' organisation: the one the API filed the integrator's events under

    def case(self, event_id: str) -> str:
        return self.cases[event_id]


def make_users(home: Path, org: str) -> None:
    """Everyone in ``org`` but eve, an analyst of another organisation; air is the merchant ``airline``."""
    book = UserBook.load(home)
    for name, role in USERS.items():
        book.create(name, role, "elsewhere" if name == "eve" else org, PASSWORD,
                    "airline" if role == "merchant" else None)


def org_of(db_url: str, event_id: str) -> str:
    """The organisation the API filed an event under (the integrator key's)."""
    reader = Reader(db_url)
    try:
        if reader.cols.endswith("org"):
            return str(reader.query("SELECT org FROM events WHERE event_id = ?", (event_id,))[0][0])
        return DEFAULT_ORG
    finally:
        reader.close()


def seed(base: str, key: str) -> None:
    t0 = datetime.now(UTC) - timedelta(minutes=50)

    def ts(minutes: int) -> str:
        return (t0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")

    with httpx.Client(base_url=base, timeout=10, headers={"authorization": f"Bearer {key}"}) as c:
        for i in range(6):
            merchant = "airline" if i == 5 else f"M{i}"
            r = c.post("/v1/events", content=payment(event_id=f"p-{i}", merchant_id=merchant, ts=ts(i),
                                                     device_id="dev-shared", customer_id="C0000001"))
            assert r.status_code == 200, r.text
        assert r.json()["action"] == "review"
        c.post("/v1/events", content=ev("login", customer_id="C0000002", device_id="dev-shared", success=True,
                                        ts=ts(7)))
        c.post("/v1/events", content=ev("intel", customer_id="regulator", list="cbr_fincert", entity="account",
                                        value="40817810000000000444", op="add", ts=ts(8)))
        r = c.post("/v1/events", content=transfer(event_id="t-hold", to_account="40817810000000000444", ts=ts(9),
                                                  customer_id="C0000001"))
        assert r.json()["action"] == "hold", r.text


def start(db_url: str, home: Path, **env: str) -> Iterator[Site]:
    """API keys on (the events are the organisation ``bank``'s, as its integrator key says)."""
    _, key = KeyRing.load(home).create("integrator", "bank")
    # The real clock (not the tests' February one, conftest.py): the events are the last hour's.
    env = {"QALQAN_CLOCK_START": "", **env}
    with serving(QALQAN_DB=db_url, QALQAN_HOME=str(home), QALQAN_AUTH="on", **env) as (base, _):
        seed(base, key)
        make_users(home, org_of(db_url, "p-5"))  # on a running server: the console reads new users
        with logged_in(base, "audrey") as c:
            queue = c.get("/console/queue").text
        found = dict(re.findall(r'<a href="(/console/cases/\d+)">([^<]+)</a>', queue))
        yield Site(base, home, db_url, {event_id: path for path, event_id in found.items()}, org_of(db_url, "p-5"))


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def login(client: httpx.Client, name: str, password: str = PASSWORD) -> httpx.Response:
    token = csrf_of(client.get("/console/login").text)
    return client.post("/console/login", data={"csrf": token, "name": name, "password": password, "next": ""})


@contextmanager
def logged_in(base: str, name: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=10) as c:
        r = login(c, name)
        assert r.status_code == 303 and r.headers["location"] == "/console/queue", r.text
        yield c
