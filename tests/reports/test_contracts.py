"""Contracts as data: the press case reproduced exactly, the tier boundaries, continuity, the CLI."""

import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from qalqan.cli import app
from qalqan.reports.contracts import (
    ContractError,
    load_contract,
    raw_amounts,
    settle,
    template_names,
    tier_index,
)
from qalqan.store import open_record

from .build import RecordWriter

runner = CliRunner()
D = Decimal
M100 = D("100000000")


@pytest.mark.parametrize("template, fraud, penalty, bonus", [
    ("airline-bank", "900000", "175000.00", "0.00"),
    ("bank-processor", "900000", "50000.00", "0.00"),
    ("airline-bank", "100000", "0.00", "100000.00"),
    ("bank-processor", "100000", "0.00", "50000.00"),
])
def test_the_worked_example(template: str, fraud: str, penalty: str, bonus: str):
    s = settle(load_contract(template), M100, D(fraud))
    assert (s.penalty, s.bonus) == (D(penalty), D(bonus))
    assert str(s.penalty) == penalty and str(s.bonus) == bonus


def test_cli_json_is_exactly_the_four_fields():
    r = runner.invoke(app, ["contract", "--template", "airline-bank", "--volume", "100000000", "--fraud", "900000",
                            "--json"])
    assert r.exit_code == 0, r.output
    assert r.output == '{"template": "airline-bank", "fraud_share": "0.009", "penalty": "175000.00", "bonus": "0.00"}\n'
    r = runner.invoke(app, ["contract", "-t", "bank-processor", "--volume", "100_000_000", "--fraud", "100000",
                            "--json"])
    assert json.loads(r.output) == {"template": "bank-processor", "fraud_share": "0.001", "penalty": "0.00",
                                    "bonus": "50000.00"}


def test_cli_commission_adds_its_amount():
    r = runner.invoke(app, ["contract", "-t", "processor-commission", "--volume", "200000000", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == {"template": "processor-commission", "fraud_share": "0", "penalty": "0.00",
                                    "bonus": "0.00", "commission": "525000.00"}


def test_cli_human_output_and_list():
    r = runner.invoke(app, ["contract", "-t", "airline-bank", "--volume", "100000000", "--fraud", "900000"])
    assert r.exit_code == 0, r.output
    assert "175,000.00 RUB" in r.output and "the bank pays the airline" in r.output and "0.900 %" in r.output
    r = runner.invoke(app, ["contract", "--list"])
    assert all(name in r.output for name in ("airline-bank", "bank-processor", "processor-commission"))


@pytest.mark.parametrize("args, message", [
    (["-t", "nope", "--volume", "1", "--fraud", "0"], "no such template"),
    (["-t", "airline-bank", "--volume", "100"], "--fraud is needed"),
    (["-t", "airline-bank", "--volume", "lots", "--fraud", "1"], "--volume: not a decimal number"),
    (["-t", "airline-bank", "--volume", "100", "--fraud", "101"], "cannot exceed the volume"),
    (["-t", "airline-bank"], "give --volume and --fraud, or --from and --to"),
    (["-t", "airline-bank", "--from", "2026-02-30", "--to", "2026-03-01"], "--from: not a date"),
])
def test_cli_errors_say_what_to_do(args: list[str], message: str):
    r = runner.invoke(app, ["contract", *args])
    assert r.exit_code == 2
    assert message in r.output


# --- boundaries: a boundary value belongs to the tier that starts there ----------------------
@pytest.mark.parametrize("template, fraud, tier, penalty, bonus", [
    ("airline-bank", "0", 0, "0.00", "125000.00"),
    ("airline-bank", "499996", 0, "0.00", "1.00"),
    ("airline-bank", "499999.99", 0, "0.00", "0.00"),  # 0.0025 rounds to 0.00
    ("airline-bank", "500000", 1, "0.00", "0.00"),
    ("airline-bank", "500004", 1, "1.00", "0.00"),
    ("airline-bank", "799999.99", 1, "75000.00", "0.00"),  # 74,999.9975, half up
    ("airline-bank", "800000", 2, "75000.00", "0.00"),
    ("airline-bank", "800000.01", 2, "75000.01", "0.00"),
    ("airline-bank", "100000000", 2, "99275000.00", "0.00"),
    ("bank-processor", "499992", 0, "0.00", "1.00"),
    ("bank-processor", "500000", 1, "0.00", "0.00"),
    ("bank-processor", "500008", 1, "1.00", "0.00"),
    ("bank-processor", "0", 0, "0.00", "62500.00"),
])
def test_share_boundaries(template: str, fraud: str, tier: int, penalty: str, bonus: str):
    s = settle(load_contract(template), M100, D(fraud))
    assert (s.tier, s.penalty, s.bonus) == (tier, D(penalty), D(bonus))


@pytest.mark.parametrize("volume, tier, commission", [
    ("0", 0, "0.00"), ("100000000", 0, "300000.00"), ("124999999.99", 0, "375000.00"),
    ("125000000", 1, "375000.00"), ("125000000.01", 1, "375000.00"), ("200000000", 1, "525000.00"),
])
def test_commission_boundary(volume: str, tier: int, commission: str):
    s = settle(load_contract("processor-commission"), D(volume), D(0))
    assert (s.tier, s.commission) == (tier, D(commission))


def test_a_share_on_the_boundary_is_found_without_dividing():
    # 1/3 of the volume is not a finite decimal; the tier test multiplies instead.
    c = load_contract("airline-bank")
    assert tier_index(c, D(3), D("0.015")) == 1  # exactly 0.5 %
    assert tier_index(c, D(3), D("0.01499999999999")) == 0


# --- properties ------------------------------------------------------------------------------
money = st.decimals(min_value=D("0.01"), max_value=D("1e12"), places=2)


@pytest.mark.parametrize("name", template_names())
@settings(max_examples=60, deadline=None)
@given(volume=money, fraud_share=st.decimals(min_value=0, max_value=1, places=6))
def test_tiers_meet_where_the_contract_says_so(name: str, volume: Decimal, fraud_share: Decimal):
    """Continuity: at every bound, the tier below and the tier above give the same amounts."""
    c = load_contract(name)
    assert c.continuous
    for i, bound in enumerate(c.bounds):
        if c.tiers_on == "share":
            v, f = volume, bound * volume
        else:
            v = bound
            f = min(fraud_share * bound, bound)
        assert raw_amounts(c, i, v, f) == raw_amounts(c, i + 1, v, f), (name, bound)


@pytest.mark.parametrize("name", ["airline-bank", "bank-processor"])
@settings(max_examples=80, deadline=None)
@given(volume=money, a=st.decimals(min_value=0, max_value=1, places=5), b=st.decimals(min_value=0, max_value=1,
                                                                                        places=5))
def test_more_fraud_never_pays_better(name: str, volume: Decimal, a: Decimal, b: Decimal):
    c = load_contract(name)
    lo, hi = sorted((a, b))
    s1 = settle(c, volume, (lo * volume).quantize(D("0.01")))
    s2 = settle(c, volume, (hi * volume).quantize(D("0.01")))
    for s in (s1, s2):
        assert s.penalty >= 0 and s.bonus >= 0 and (s.penalty == 0 or s.bonus == 0)
    assert s1.penalty - s1.bonus <= s2.penalty - s2.bonus


@settings(max_examples=100, deadline=None)
@given(volume=money, share=st.decimals(min_value=0, max_value=1, places=6))
def test_airline_bank_is_the_press_text(volume: Decimal, share: Decimal):
    """An independent reading of docs/regulation.md's three sentences, in plain Decimal."""
    fraud = (share * volume).quantize(D("0.01"))
    if fraud < D("0.005") * volume:
        penalty, bonus = D(0), (D("0.005") * volume - fraud) / 4
    elif fraud < D("0.008") * volume:
        penalty, bonus = (fraud - D("0.005") * volume) / 4, D(0)
    else:
        penalty, bonus = fraud - D("0.008") * volume + D("0.00075") * volume, D(0)
    s = settle(load_contract("airline-bank"), volume, fraud)
    q = D("0.01")
    assert s.penalty == penalty.quantize(q, rounding="ROUND_HALF_UP")
    assert s.bonus == bonus.quantize(q, rounding="ROUND_HALF_UP")


# --- contract files ---------------------------------------------------------------------------
GOOD = """
name: flat
period: month
basis: count
constants: {limit: 1%}
tiers:
  - below: limit
    bonus: 10
  - penalty: 100 * (share - limit)
"""


@pytest.mark.parametrize("change, problem", [
    (("name: flat", "name: flat\ncolour: red"), "unknown keys ['colour']"),
    (("period: month", "period: year"), "'year' is not month or quarter"),
    (("penalty: 100 * (share - limit)", "penalty: __import__('os').getcwd()"), "calling"),
    (("penalty: 100 * (share - limit)", "penalty: fraud ** 2"), "Pow is not allowed"),
    (("penalty: 100 * (share - limit)", "below: 2%\n    penalty: 1"), "every tier but the last"),
    (("below: limit", "below: lots"), "not a decimal number"),
    (("constants: {limit: 1%}", "constants: {volume: 1%}"), "constants.volume"),
    (("bonus: 10", "bonus: 10\n    fine: 3"), "unknown keys ['fine']"),
])
def test_bad_contract_files_say_where(tmp_path: Path, change: tuple[str, str], problem: str):
    path = tmp_path / "c.yaml"
    path.write_text(GOOD.replace(*change))
    with pytest.raises(ContractError) as exc:
        load_contract(str(path))
    assert problem in str(exc.value) and str(path) in str(exc.value)


def test_a_contract_file_by_path(tmp_path: Path):
    path = tmp_path / "flat.yaml"
    path.write_text(GOOD)
    c = load_contract(str(path))
    assert settle(c, D(1000), D(5)).bonus == D("10.00")
    assert settle(c, D(1000), D(20)).penalty == D("1.00")  # 100 × (2 % − 1 %)
    r = runner.invoke(app, ["contract", "-t", str(path), "--volume", "1000", "--fraud", "20", "--json"])
    assert json.loads(r.output)["penalty"] == "1.00"


# --- from the record --------------------------------------------------------------------------
def _press_case(db_url: str) -> None:
    """February: 100 M of card payments with 900,000 of fraud; March: 100 M with 100,000."""
    record = open_record(db_url)
    w = RecordWriter(record)
    w.payment("feb-1", "2026-02-03T10:00:00", "60000000.00")
    w.payment("feb-2", "2026-02-20T10:00:00", "39100000.00", merchant="M2", channel="pos", auth="pin")
    w.payment("feb-3", "2026-02-21T10:00:00", "900000.00")
    w.payment("feb-x", "2026-02-22T10:00:00", "5000000.00", action="decline")  # stopped: not settled
    w.transfer("feb-t", "2026-02-23T10:00:00", "7000000.00")  # not a card payment
    w.context("feb-l", "2026-02-24T10:00:00")
    w.label("l-1", "2026-03-10T10:00:00", "feb-3", "fraud")
    w.label("l-2", "2026-03-11T10:00:00", "feb-x", "fraud")
    w.payment("mar-1", "2026-03-05T10:00:00", "99900000.00")
    w.payment("mar-2", "2026-03-31T23:59:59", "100000.00")
    w.label("l-3", "2026-04-20T10:00:00", "mar-2", "chargeback")
    record.commit()
    record.close()


def test_settles_the_record_per_period(db_url: str):
    _press_case(db_url)
    r = runner.invoke(app, ["contract", "-t", "bank-processor", "--from", "2026-02-01", "--to", "2026-03-31",
                            "--db", db_url, "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    feb, mar = doc["periods"]
    assert (feb["period"], feb["volume"], feb["fraud"], feb["penalty"], feb["bonus"]) == (
        "2026-02", "100000000.00", "900000.00", "50000.00", "0.00")
    assert (mar["period"], mar["volume"], mar["fraud"], mar["penalty"], mar["bonus"]) == (
        "2026-03", "100000000.00", "100000.00", "0.00", "50000.00")
    assert doc["as_of"] == "2026-04-20" and not feb["partial"]

    # Chargebacks arrive late: before March's label came, March looked clean.
    r = runner.invoke(app, ["contract", "-t", "bank-processor", "--from", "2026-02-01", "--to", "2026-03-31",
                            "--as-of", "2026-04-19", "--db", db_url, "--json"])
    mar = json.loads(r.output)["periods"][1]
    assert (mar["fraud"], mar["bonus"]) == ("0.00", "62500.00")

    # The quarter: 200 M with 1 M of fraud is exactly 0.5 %: the fine tier, with a fine of 0.
    r = runner.invoke(app, ["contract", "-t", "airline-bank", "--from", "2026-02-01", "--to", "2026-03-31",
                            "--db", db_url, "--json"])
    (q1,) = json.loads(r.output)["periods"]
    assert (q1["period"], q1["partial"], q1["fraud_share"], q1["tier"], q1["penalty"], q1["bonus"]) == (
        "2026Q1", True, "0.005", 2, "0.00", "0.00")

    r = runner.invoke(app, ["contract", "-t", "bank-processor", "--from", "2026-02-01", "--to", "2026-02-28",
                            "--merchant", "M2", "--db", db_url])
    assert r.exit_code == 0, r.output
    assert "39,100,000.00" in r.output and "24,437.50" in r.output  # no fraud: 0.5 % × 39.1 M / 8
