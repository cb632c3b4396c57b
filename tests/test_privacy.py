"""Personal data is tokenised at the boundary: no raw identifier reaches the record."""

import sqlite3
from pathlib import Path

import pytest

from conftest import ev, payment, transfer
from qalqan.config import ConfigError, from_env
from qalqan.engine import Engine
from qalqan.privacy import Tokenizer

PAN = "4276380012345678"
PHONE = "+7 701 555 12 34"


def test_raw_identifiers_never_reach_the_record(tmp_path: Path):
    db = tmp_path / "r.db"
    e = Engine(from_env(db_url=f"sqlite:///{db}"))
    e.decide(payment(card_id=PAN, customer_id="IIN-880101300123", device_id="dev-raw-1", ip="10.1.2.3"))
    e.decide(transfer(from_account="40817810999999999991", to_account="40817810999999999992",
                      counterparty_id="IIN-770101300999", note=f"card {PAN}"))
    e.decide(ev("listing", listing_id="L1", phone=PHONE, text=f"call {PHONE} or pay to {PAN}"))
    e.close()
    blob = b"".join(p.read_bytes() for p in tmp_path.glob("r.db*"))
    for raw in (PAN, "880101300123", "dev-raw-1", "10.1.2.3", "40817810999999999991", "770101300999", "701 555"):
        assert raw.encode() not in blob, raw
    rows = sqlite3.connect(db).execute("select body from events").fetchall()
    assert any(b"[redacted]" in r[0] for r in rows)


def test_tokens_are_keyed_and_normalised():
    a, b = Tokenizer(b"k" * 32), Tokenizer(b"j" * 32)
    assert a.token("4276 3800 1234 5678") == a.token(PAN)
    assert a.token("+7 (701) 555-12-34") == a.token("77015551234")
    assert a.token(PAN) != b.token(PAN)
    assert a.token("C-1") != a.token("C1")  # only number-like ids lose their separators
    assert PAN not in a.token(PAN)


def test_intel_matches_tokenised_recipients():
    e = Engine(from_env())
    e.decide(ev("intel", customer_id="regulator", list="cbr_fincert", entity="account",
                value="40817810000000000555", op="add", ts="2026-01-01T00:00:00Z"))
    o = e.decide(transfer(to_account=" 40817810000000000555", rail="sbp"))
    assert o.decision.action == "decline"
    e.close()


def test_embedded_key_is_created_once(isolated_home: Path):
    k1 = from_env().key
    assert (isolated_home / "key").stat().st_mode & 0o077 == 0
    assert from_env().key == k1


def test_production_refuses_without_key(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("QALQAN_MODE", "production")
    monkeypatch.setenv("QALQAN_DB", "sqlite:////tmp/x.db")
    monkeypatch.delenv("QALQAN_CLOCK_START")  # the tests' clock (conftest.py): refused in production, below
    with pytest.raises(ConfigError, match="QALQAN_KEY"):
        from_env()
    monkeypatch.setenv("QALQAN_KEY", "ab" * 32)
    assert from_env().key == bytes.fromhex("ab" * 32)
    monkeypatch.setenv("QALQAN_CLOCK_START", "2026-02-02T12:00:00Z")
    with pytest.raises(ConfigError, match="QALQAN_CLOCK_START"):  # production runs on the real clock
        from_env()
