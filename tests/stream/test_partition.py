"""Routing: a customer's events always land in one partition; intel and listings in every one."""

from __future__ import annotations

from collections import Counter

import pytest

from conftest import ev, transfer
from qalqan.events import decode_event
from qalqan.privacy import Tokenizer
from qalqan.stream.partition import EVERY, PartitionError, parse_spec, partition_of

KEY = bytes.fromhex("5f" * 32)


def test_parse_spec_accepts_i_of_n_and_names_the_problem():
    assert parse_spec("0/2") == (0, 2)
    assert parse_spec("3/4") == (3, 4)
    for bad, why in [("2/2", "I must be 0..1"), ("x", "expected I/N"), ("0/0", "N must be"), ("1/2/3", "I/N")]:
        with pytest.raises(PartitionError, match=why):
            parse_spec(bad)


def test_a_customer_keeps_one_partition_whatever_the_event_and_process():
    a, b = Tokenizer(KEY), Tokenizer(KEY)  # two processes with the same key agree
    for cid in ("C0000001", "C0000002", "C0000777"):
        parts = {partition_of(decode_event(e), t, 4) for t in (a, b)
                 for e in (transfer(customer_id=cid), ev("login", customer_id=cid, device_id="d1", success=True))}
        assert len(parts) == 1


def test_customers_spread_over_partitions():
    t = Tokenizer(KEY)
    spread = Counter(partition_of(decode_event(ev("login", customer_id=f"C{i:07d}", device_id="d", success=True)), t, 2)
                     for i in range(2000))
    assert set(spread) == {0, 1} and min(spread.values()) > 900


def test_intel_and_listings_go_everywhere_and_a_message_to_its_addressee():
    t = Tokenizer(KEY)
    intel = ev("intel", customer_id="fincert", list="cbr_fincert", entity="account", value="4081", op="add")
    assert partition_of(decode_event(intel), t, 2) == EVERY
    listing = ev("listing", customer_id="S0000001", listing_id="l-1", city="Almaty")
    assert partition_of(decode_event(listing), t, 2) == EVERY  # buyers' payments read a seller's listings
    for i in range(20):
        to = f"C{i:07d}"
        msg = ev("message", customer_id="C9999999", to_customer_id=to, channel="marketplace_chat", text="hi")
        own = ev("login", customer_id=to, device_id="d", success=True)
        assert partition_of(decode_event(msg), t, 2) == partition_of(decode_event(own), t, 2)


def test_worker_refuses_a_bad_partition_and_an_embedded_record():
    from typer.testing import CliRunner

    from qalqan.cli import app

    runner = CliRunner()
    bad = runner.invoke(app, ["worker", "--partition", "2/2"])
    assert bad.exit_code == 2 and "I must be 0..1" in bad.output
    embedded = runner.invoke(app, ["worker", "--partition", "0/2"])  # QALQAN_DB unset: the embedded SQLite
    assert embedded.exit_code == 2 and "workers share the record: it must be postgresql://" in embedded.output
