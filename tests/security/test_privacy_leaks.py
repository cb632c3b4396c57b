"""Nothing private leaks sideways (the trust boundary, point 6).

- Personal data in ANY string field of ANY event type, known or unknown, never reaches the record
  in clear: every string field of every type (found from the schemas in events.py, so a field added
  later is covered too) is planted with card, phone and account numbers, an IBAN and an e-mail
  address, each event is decided by a real engine, and the record's bytes (database and WAL) are
  searched for every raw value. An event id that carries a card number is refused (422), and
  nothing of it is stored.
- The SQLite record, its -wal and its -shm are created owner-only (0600), in a 0700 folder.
- A merchant reading one of its cases sees the customer's payments at its own merchant only,
  never those at other merchants nor the customer's other events (API and console page).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

import httpx
import msgspec
import msgspec.inspect as mi
import pytest
from api.people_fixtures import GREY, rules_with_review

from conftest import ev, payment, transfer
from qalqan import privacy
from qalqan.config import from_env
from qalqan.engine import Engine
from qalqan.events import EVENT_ID_PATTERN, EVENT_TYPES, EventError

# --- made-up personal data, unique per field so that a leak names its field ------------------------


def _luhn_complete(prefix: str) -> str:
    for d in "0123456789":
        if privacy._luhn(prefix + d):
            return prefix + d
    raise AssertionError(prefix)


def _iban(country: str, bban: str) -> str:
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


class Planted:
    """The raw values planted in one field, and the forms they could leak in."""

    def __init__(self, i: int) -> None:
        self.pan = _luhn_complete(f"4{i:014d}")                       # Visa, 16 digits
        mc = _luhn_complete(f"55{i:013d}")                            # Mastercard, written in groups
        self.pan_spaced = " ".join(mc[k:k + 4] for k in range(0, 16, 4))
        self.phone = f"+7 701 {i:03d} 12 34"
        self.phone_ru = f"8 (916) {i:03d}-45-67"
        self.account = f"40817810{i:012d}"                             # a Russian 20-digit account
        self.iban = _iban("KZ", f"125KZT{i:010d}")
        self.email = f"leak.{i:03d}@example.com"
        self.text = (f"pay {self.pan} or {self.pan_spaced}, call {self.phone} / {self.phone_ru}, "
                     f"acct {self.account} IBAN {self.iban} mail {self.email}")

    def raw(self) -> list[str]:
        digits = lambda s: "".join(c for c in s if c.isdigit())  # noqa: E731
        return [self.pan, self.pan_spaced, digits(self.pan_spaced), self.phone, digits(self.phone),
                self.phone_ru, digits(self.phone_ru), self.account, self.iban, self.email,
                self.email.split("@")[0]]


# Values a field must have to be valid that are no strings to plant in (enums, numbers, times).
_REQUIRED: dict[str, Any] = {
    "amount": "1500.00", "currency": "RUB", "channel": "ecom", "direction": "out", "rail": "interbank",
    "operation": "withdrawal", "success": True, "field": "phone", "kind": "remote_access", "sender_known": False,
    "label": "fraud", "list": "internal", "entity": "account", "op": "add", "response": "confirm",
    "comms_signal.channel": "sms",
}


def _unwrap(t: Any) -> list[Any]:
    if isinstance(t, mi.Metadata):
        return _unwrap(t.type)
    if isinstance(t, mi.UnionType):
        return [x for u in t.types for x in _unwrap(u)]
    return [t]


def _plantable(t: Any) -> str | None:
    """'str', 'list' (of strings) or 'struct' when the field can carry a string, else None."""
    kinds = _unwrap(t)
    if any(isinstance(k, mi.StrType) and k.pattern in (None, EVENT_ID_PATTERN) for k in kinds):  # ids: any text
        return "str"
    if any(isinstance(k, mi.ListType) and any(isinstance(x, mi.StrType) for x in _unwrap(k.item_type))
           for k in kinds):
        return "list"
    if any(isinstance(k, mi.StructType) for k in kinds):
        return "struct"
    return None


def planted_event(etype: str, n: int, plant: dict[str, Planted], fixed: dict[str, Any] | None = None) -> bytes:
    """An event of ``etype`` with personal data in every string field but its id (and ``fixed``),
    and in unknown fields (a string, a nested object's keys and values, a number)."""
    info = mi.type_info(EVENT_TYPES[etype])
    assert isinstance(info, mi.StructType)
    body: dict[str, Any] = {"type": etype, "event_id": f"pii-{etype}-{n}", "ts": "2026-02-02T10:00:00Z"}

    def new(where: str) -> Planted:
        p = plant[where] = Planted(len(plant))
        return p

    for f in info.fields:
        if f.name in ("event_id", "ts", "extra"):
            continue
        if fixed and f.name in fixed:
            body[f.name] = fixed[f.name]
            continue
        kind = _plantable(f.type)
        if kind == "str":
            body[f.name] = new(f"{etype}.{f.name}").text
        elif kind == "list":
            body[f.name] = [new(f"{etype}.{f.name}[]").text]
        elif kind == "struct":  # infra_risk: its level is an enum, its factors strings
            body[f.name] = {"level": "high", "factors": [new(f"{etype}.{f.name}.factors").text]}
        elif f.required:
            body[f.name] = _REQUIRED.get(f"{etype}.{f.name}", _REQUIRED.get(f.name))
    body["order_id"] = new(f"{etype}.order_id (unknown)").text
    key = new(f"{etype}.meta key (unknown)")
    body["meta"] = {key.pan: new(f"{etype}.meta value (unknown)").text,
                    "list": [new(f"{etype}.meta list (unknown)").email]}
    body["card_number"] = int(new(f"{etype}.card_number (unknown number)").pan)
    return msgspec.json.encode(body)


def record_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(db.parent.glob(db.name + "*")) if p.is_file())


def test_no_personal_data_of_any_field_of_any_type_reaches_the_record(tmp_path: Path):
    db = tmp_path / "record.db"
    e = Engine(from_env(db_url=f"sqlite:///{db}"))
    plant: dict[str, Planted] = {}
    # A hold to answer: the engine takes a hold_response only for a transfer it holds.
    e.decide(ev("intel", customer_id="regulator", list="cbr_fincert", entity="account",
                value="40817810000000000444", op="add", ts="2026-02-02T09:00:00Z"))
    assert e.decide(transfer(event_id="held-1", to_account="40817810000000000444",
                             ts="2026-02-02T09:30:00Z")).decision.action == "hold"
    fixed = {"hold_response": {"target_event_id": "held-1"}}
    try:
        for n, etype in enumerate(sorted(EVENT_TYPES)):
            e.decide(planted_event(etype, n, plant, fixed.get(etype)))
        # plain ids, codes and short numbers are not personal data: they are kept as sent
        e.decide(payment(event_id="plain-1", merchant_id="M1", mcc="5411", card_id="4111111111111111"))
        e.decide(ev("atm", event_id="plain-2", operation="withdrawal", amount="100", currency="RUB",
                    card_id="4111111111111111", atm_id="ATM-7"))
        e.decide(ev("listing", event_id="plain-3", listing_id="L42", title="Кроватка", city="Almaty 050000"))
        e.commit()
        in_wal = record_bytes(db)  # before the close folds the WAL into the database
    finally:
        e.close()
    blob = in_wal + record_bytes(db)
    leaks = [(where, raw) for where, p in plant.items() for raw in p.raw() if raw.encode() in blob]
    assert not leaks, leaks
    assert len(plant) >= 40  # every type's fields were planted (a broken generator plants nothing)
    conn = sqlite3.connect(db)
    try:
        bodies = {eid: msgspec.json.decode(b) for eid, b in conn.execute("SELECT event_id, body FROM events")}
    finally:
        conn.close()
    assert len(bodies) == len(EVENT_TYPES) + 5
    assert bodies["plain-1"]["merchant_id"] == "M1" and bodies["plain-1"]["mcc"] == "5411"
    assert bodies["plain-2"]["atm_id"] == "ATM-7"
    assert bodies["plain-3"]["listing_id"] == "L42" and bodies["plain-3"]["city"] == "Almaty 050000"
    pay = bodies["pii-payment-" + str(sorted(EVENT_TYPES).index("payment"))]
    assert "[redacted]" in pay["merchant_id"] and "@example.com" in pay["merchant_id"]  # the domain stays
    assert "[redacted]" in pay["extra"]["order_id"]


@pytest.mark.parametrize("value", ["4111111111111111", "ord-4111 1111 1111 1111", "x5500-0000-0000-0004"])
def test_an_event_id_carrying_a_card_number_is_refused_and_nothing_is_stored(tmp_path: Path, value: str):
    from qalqan.api import create_app

    db = tmp_path / "record.db"
    engine = Engine(from_env(db_url=f"sqlite:///{db}"))
    app = create_app(engine)

    async def run() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://q", timeout=60) as c:
            one = await c.post("/v1/events", content=payment(event_id=value, amount="120.00"))
            batch = await c.post("/v1/events", content=b"[" + payment(event_id=value + "-b") + b","
                                 + payment(event_id="fine-1") + b"]")
            ok = await c.post("/v1/events", content=payment(event_id="fine-2"))
            return one, batch, ok

    try:
        one, batch, ok = asyncio.run(run())
        assert one.status_code == 422, one.text
        assert one.json()["field"] == "event_id" and one.json()["problem"].startswith("looks like a card number")
        digits = "".join(c for c in value if c.isdigit())
        assert digits not in one.text and value not in one.text  # the answer does not echo it either
        answers = batch.json()
        assert [a["status"] for a in answers] == ["rejected", "decided"], answers
        assert ok.status_code == 200
        assert engine.record.lookup("fine-1")[0] and not engine.record.lookup(value)[0]
        assert engine.record.count() == 2
    finally:
        engine.close()
    blob = record_bytes(db)
    assert digits.encode() not in blob and value.encode() not in blob


def test_ids_that_only_look_numeric_are_taken():
    tk = privacy.Tokenizer(b"k" * 32)
    for eid in ("ev-00001234", "550e8400-e29b-41d4-a716-446655440000", "20260202100000000001", "evt-71999863748",
                "1790000000000000000", "label:bank1:6f1c2f0e9d8a4b7c8e1f2a3b4c5d6e7f"):
        privacy.check_event_id(eid)  # no error
        e = msgspec.json.decode(payment(event_id=eid), type=EVENT_TYPES["payment"])
        assert tk.protect(e).event_id == eid
    for eid, kind in (("+77015551234", "phone"), ("a.b@example.com", "e-mail"), ("KZ86125KZT5004100100", "IBAN")):
        with pytest.raises(EventError, match=kind) as err:
            privacy.check_event_id(eid)
        assert err.value.field == "event_id" and eid not in str(err.value)


def test_redaction_keeps_what_is_not_personal_data():
    keep = ["M1", "ATM-7", "L42", "M123456789", "5411", "Sberbank 044525225", "ATMRU123456", "iOS 17.4.1",
            "550e8400-e29b-41d4-a716-446655440000", "2026-02-02T10:00:00Z", "192.168.100.200"]
    assert [privacy.redact(s) for s in keep] == keep
    assert privacy.redact("call +7 701 555 12 34 now") == "call [redacted] now"
    assert privacy.redact("M4111111111111111") == "M[redacted]"
    assert privacy.redact("ivan@mail.ru") == "[redacted]@mail.ru"


# --- file modes ------------------------------------------------------------------------------------

def test_a_new_sqlite_record_is_owner_only(tmp_path: Path):
    from qalqan.store.sqlite import SqliteRecord

    old = os.umask(0o022)  # the usual umask: files 0644 unless the record says otherwise
    try:
        path = tmp_path / "fresh" / "record.db"
        rec = SqliteRecord(str(path))
        try:
            rec.conn.execute("BEGIN")
            rec.conn.execute("INSERT INTO outbox (ts_us, customer, event_id, kind, text) "
                             "VALUES (1, 'c', 'e', 'k', 't')")
            rec.conn.execute("COMMIT")
            files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in path.parent.iterdir()}
        finally:
            rec.close()
    finally:
        os.umask(old)
    assert files == {"record.db": 0o600, "record.db-wal": 0o600, "record.db-shm": 0o600}, {
        k: oct(v) for k, v in files.items()}
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


# --- a merchant's view of a case -------------------------------------------------------------------

@pytest.fixture
def merchant_api(db_url: str, tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch):
    from qalqan.api import create_app
    from qalqan.api.keys import KeyRing

    monkeypatch.setenv("QALQAN_RULES", str(rules_with_review(tmp_path)))
    ring = KeyRing.load(isolated_home)
    keys = {name: {"Authorization": f"Bearer {ring.create(role, 'bank1', name, merchant)[1]}"}
            for name, role, merchant in (("int", "integrator", None), ("ana", "analyst", None),
                                         ("air", "merchant", "M-AIR"), ("hot", "merchant", "M-HOTEL"))}
    engine = Engine(from_env(db_url=db_url))
    try:
        yield engine, create_app(engine, KeyRing.load(isolated_home)), keys
    finally:
        engine.close()


def test_a_merchant_sees_only_its_own_payments_in_a_case(merchant_api):
    engine, app, k = merchant_api
    who = dict(customer_id="C0000042", card_id="4276380000000001")

    async def run() -> dict[str, Any]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://q", timeout=60) as c:
            sent = [payment(event_id="air-1", merchant_id="M-AIR", amount="120.00", ts="2026-02-02T10:00:00Z", **who),
                    payment(event_id="hotel-1", merchant_id="M-HOTEL", amount="330.00", ts="2026-02-02T10:01:00Z",
                            **who),
                    ev("login", event_id="login-1", device_id="d-1", success=True, ts="2026-02-02T10:02:00Z",
                       customer_id="C0000042"),
                    payment(event_id="hotel-2", merchant_id="M-HOTEL", amount=GREY, ts="2026-02-02T10:03:00Z", **who),
                    payment(event_id="air-2", merchant_id="M-AIR", amount=GREY, ts="2026-02-02T10:04:00Z", **who)]
            for body in sent:
                r = await c.post("/v1/events", content=body, headers=k["int"])
                assert r.status_code in (200, 202), r.text
            out: dict[str, Any] = {}
            for name in ("air", "hot", "ana"):
                queue = (await c.get("/v1/cases", headers=k[name])).json()
                out[name] = {q["event_id"]: (await c.get(f"/v1/cases/{q['id']}", headers=k[name])).json()
                             for q in queue}
            return out

    seen = asyncio.run(run())
    history = lambda doc: [h["event_id"] for h in doc["history"]]  # noqa: E731
    assert set(seen["air"]) == {"air-2"} and set(seen["hot"]) == {"hotel-2"}
    assert history(seen["air"]["air-2"]) == ["air-1"]
    assert history(seen["hot"]["hotel-2"]) == ["hotel-1"]
    assert history(seen["ana"]["air-2"]) == ["hotel-2", "login-1", "hotel-1", "air-1"]  # the bank sees it all
    assert "hotel" not in msgspec.json.encode(seen["air"]).decode()


def test_the_console_case_page_shows_a_merchant_its_own_payments_only():
    from qalqan.cases import Case
    from qalqan.console import pages
    from qalqan.console.sessions import Session

    case = Case(id=1, event_id="air-2", type="payment", action="review", customer="tok", merchant_id="M-AIR",
                amount="7000", currency="RUB", opened_at="2026-02-02T10:04:00Z", due="2026-02-02T14:04:00Z",
                state="open", assignee=None, outcome=None, note=None, updated_at="2026-02-02T10:04:00Z",
                updated_by=None, seq=5)
    doc = {"event": {"event_id": "air-2", "merchant_id": "M-AIR"}, "decision": {}, "reasons": [],
           "history": [{"event_id": "hotel-2", "type": "payment", "ts": "2026-02-02T10:03:00Z", "action": "review",
                        "amount": "7000", "currency": "RUB", "merchant_id": "M-HOTEL"},
                       {"event_id": "login-1", "type": "login", "ts": "2026-02-02T10:02:00Z", "action": None,
                        "amount": None, "currency": None},
                       {"event_id": "air-1", "type": "payment", "ts": "2026-02-02T10:00:00Z", "action": "approve",
                        "amount": "120.00", "currency": "RUB", "merchant_id": "M-AIR"}]}
    linked = [("device", "tok-dev", ["other-customer"])]

    def page(role: str, merchant: str | None) -> str:
        s = Session("sid", "u", role, "bank1", "csrf", 0.0, 0.0, merchant)
        return pages.case(s, case, doc, {}, False, set(), linked, [], True)

    mine = page("merchant", "M-AIR")
    assert "air-1" in mine and "hotel-2" not in mine and "login-1" not in mine and "other-customer" not in mine
    bank = page("analyst", None)
    assert all(e in bank for e in ("air-1", "hotel-2", "login-1", "other-customer"))
