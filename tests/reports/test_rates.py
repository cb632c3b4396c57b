"""Fraud rates from the record: as of a day, by count and by value, stopped vs passed."""

from datetime import date

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qalqan.config import DEFAULT_FX
from qalqan.reports import quality
from qalqan.reports.facts import ReportError, read_facts
from qalqan.reports.periods import period_expr, period_key
from qalqan.reports.rates import fraud_rates, rolling_rates, totals
from qalqan.store import open_record

from .build import RecordWriter, facts, lb, mv


def test_reads_money_movements_and_labels_as_of_a_day(db_url: str):
    record = open_record(db_url)
    w = RecordWriter(record)
    w.payment("p1", "2026-02-03T10:00:00", "1000.00", currency="KZT", codes=("cnp.step_up",), score=0.4,
              action="challenge")
    w.payment("p2", "2026-02-04T10:00:00", "250.50", action="decline", codes=("core.card_testing", "x.y"))
    w.transfer("t1", "2026-02-05T10:00:00", "10.00", currency="USD", rail="card2card")
    w.context("c1", "2026-02-05T11:00:00")
    w.label("l1", "2026-02-10T00:00:00", "p1", "fraud")
    w.label("l2", "2026-02-20T00:00:00", "p1", "legit")  # the dispute was won: cleared
    w.label("l3", "2026-02-10T00:00:00", "t1", "chargeback")
    w.label("l4", "2026-03-01T00:00:00", "p2", "fraud")  # after the as-of day below
    record.commit()
    f = read_facts(record, date(2026, 2, 1), date(2026, 2, 28), "RUB", DEFAULT_FX, as_of=date(2026, 2, 15))
    record.close()
    rows = {r["event_id"]: r for r in f.movements.iter_rows(named=True)}
    assert set(rows) == {"p1", "p2", "t1"}
    p1, p2, t1 = rows["p1"], rows["p2"], rows["t1"]
    assert (p1["minor"], p1["channel"], p1["outcome"], p1["settled"], p1["fraud"]) == (18000, "ecom", "challenged",
                                                                                      True, True)
    assert p1["codes"] == ["cnp.step_up"] and p1["score"] == 0.4
    assert (p2["minor"], p2["outcome"], p2["settled"], p2["fraud"]) == (25050, "stopped", False, False)
    assert (t1["minor"], t1["channel"], t1["rail"], t1["fraud"], t1["verdict"]) == (90000, "transfer", "card2card",
                                                                                   True, "chargeback")
    assert t1["usd_cents"] == 1000 and t1["eur_cents"] == 918  # 10 USD × 90 / 98, half-even to the cent
    assert f.labels.height == 2  # l2 and l4 had not arrived

    # Later, the legit label has cleared p1 and p2's label has arrived.
    record = open_record(db_url)
    later = read_facts(record, date(2026, 2, 1), date(2026, 2, 28), "RUB", DEFAULT_FX)
    record.close()
    v = dict(zip(later.movements["event_id"], later.movements["fraud"]))
    assert v == {"p1": False, "p2": True, "t1": True}
    assert later.as_of == date(2026, 3, 1)  # the latest event in the record


def test_unknown_currency_and_reversed_window_are_explained(tmp_path):
    record = open_record(f"sqlite:///{tmp_path / 'r.db'}")
    with pytest.raises(ReportError, match="--currency XXX: no exchange rate"):
        read_facts(record, date(2026, 2, 1), date(2026, 2, 2), "XXX", DEFAULT_FX)
    with pytest.raises(ReportError, match="--to 2026-01-01 is before --from 2026-02-01"):
        read_facts(record, date(2026, 2, 1), date(2026, 1, 1), "RUB", DEFAULT_FX)
    record.close()


def _movements():
    return [
        mv("a", "2026-02-02", "1000.00"),  # fraud, approved: passed
        mv("b", "2026-02-03", "3000.00", channel="pos"),  # legit
        mv("c", "2026-02-04", "500.00", action="decline"),  # fraud, stopped
        mv("d", "2026-02-05", "1500.00", action="challenge"),  # fraud, challenged: settled
        mv("e", "2026-02-06", "2000.00", type="transfer", rail="sbp", direction="out", action="hold"),
        mv("f", "2026-03-01", "700.00", type="transfer", rail="sbp", direction="out"),  # fraud, next month
    ]


def _sample(as_of: str | None = None):
    labels = [lb("a", "fraud", "2026-02-10"), lb("c", "fraud", "2026-02-10"), lb("d", "chargeback", "2026-03-10"),
              lb("f", "fraud", "2026-03-05")]
    return facts(_movements(), labels, "2026-02-01", "2026-03-31", as_of)


def test_rates_by_count_and_by_value():
    f = _sample()
    feb = fraud_rates(f, "month").row(0, named=True)
    assert feb["period"] == "2026-02"
    assert (feb["movements"], feb["value"], feb["settled"], feb["settled_value"]) == (5, 800000, 3, 550000)
    assert (feb["fraud"], feb["fraud_value"], feb["fraud_settled"], feb["fraud_settled_value"]) == (3, 300000, 2,
                                                                                                   250000)
    assert (feb["fraud_stopped"], feb["fraud_challenged"], feb["fraud_passed"]) == (1, 1, 1)
    assert feb["rate_count"] == pytest.approx(2 / 3) and feb["rate_value"] == pytest.approx(2500 / 5500)
    assert feb["attempted_rate_count"] == pytest.approx(3 / 5) and feb["attempted_rate_value"] == pytest.approx(3 / 8)
    assert feb["stopped_share"] == pytest.approx(1 / 3) and feb["stopped_value_share"] == pytest.approx(500 / 3000)

    by = fraud_rates(f, "month", ["channel"])
    keyed = {(r["period"], r["channel"]): r for r in by.iter_rows(named=True)}
    assert set(keyed) == {("2026-02", "ecom"), ("2026-02", "pos"), ("2026-02", "transfer"), ("2026-03", "transfer")}
    assert keyed[("2026-03", "transfer")]["rate_value"] == 1.0
    rails = fraud_rates(f, "quarter", ["rail"])
    assert rails.filter(pl.col("rail") == "sbp")["movements"].to_list() == [2]
    assert rails["period"].unique().to_list() == ["2026Q1"]

    t = totals(f)
    assert (t["movements"], t["fraud"], t["fraud_settled_value"]) == (6, 4, 320000)


def test_as_of_moves_the_rate():
    assert totals(_sample("2026-02-09"))["fraud"] == 0
    early = fraud_rates(_sample("2026-03-09"), "month").row(0, named=True)  # d's chargeback not yet in
    assert (early["fraud"], early["fraud_settled_value"], early["fraud_challenged"]) == (2, 100000, 0)
    assert fraud_rates(_sample("2026-03-10"), "month").row(0, named=True)["fraud_settled_value"] == 250000


def test_labels_as_of_a_day_and_latest_wins():
    movs = [mv("a", "2026-02-02"), mv("b", "2026-02-02")]
    labels = [lb("a", "fraud", "2026-02-05", 1), lb("a", "legit", "2026-02-09", 2), lb("b", "legit", "2026-02-03", 3),
              lb("b", "chargeback", "2026-02-20", 4)]
    def fraud(as_of: str) -> dict[str, bool]:
        f = facts(movs, labels, "2026-02-01", "2026-02-28", as_of)
        return dict(zip(f.movements["event_id"], f.movements["fraud"]))
    assert fraud("2026-02-04") == {"a": False, "b": False}
    assert fraud("2026-02-05") == {"a": True, "b": False}  # the whole as-of day counts
    assert fraud("2026-02-09") == {"a": False, "b": False}
    assert fraud("2026-02-20") == {"a": False, "b": True}


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)))
def test_period_keys_agree_between_python_and_polars(d: date):
    frame = pl.DataFrame({"d": [d]})
    for p in ("day", "week", "month", "quarter"):
        assert frame.select(period_expr(pl.col("d"), p)).item() == period_key(d, p)


def test_rolling_rates_cover_the_days_before_the_window():
    f = facts([mv("old", "2026-01-20", "100.00"), mv("new", "2026-02-02", "300.00")],
              [lb("old", "fraud", "2026-01-25")], "2026-02-01", "2026-02-28")
    r = rolling_rates(f, days=30)
    assert r.height == 28
    first, last = r.row(0, named=True), r.row(27, named=True)
    assert first["rate_value"] == 1.0 and first["cnp_rate_count"] == 1.0  # 2026-01-20 is within 30 days
    assert last["rate_value"] == pytest.approx(0.0)  # the old payment left the window on 02-19


def test_alerts_rules_and_scores():
    f = facts([
        mv("a", "2026-02-02", action="decline", codes=("r.one", "r.two"), score=0.97),
        mv("b", "2026-02-02", action="review", codes=("r.one",), score=1.0),
        mv("c", "2026-02-03", action="challenge", codes=("r.two", "r.two"), score=0.05),
        mv("d", "2026-02-03", score=0.0),
    ], [lb("a", "fraud", "2026-02-05")], "2026-02-01", "2026-02-03")
    apd = quality.alerts_per_day(f)
    assert apd["date"].to_list() == [date(2026, 2, 1), date(2026, 2, 2), date(2026, 2, 3)]
    assert apd["alerts"].to_list() == [0, 2, 1] and apd["challenge"].to_list() == [0, 0, 1]
    rules = {r["code"]: r for r in quality.rule_precision(f).iter_rows(named=True)}
    assert (rules["r.one"]["hits"], rules["r.one"]["fraud_hits"], rules["r.one"]["precision"]) == (2, 1, 0.5)
    assert (rules["r.two"]["hits"], rules["r.two"]["stopped"]) == (2, 1)  # twice on c is one hit
    sc = quality.score_distribution(f, bins=20)
    assert sc["legit"].sum() == 3 and sc["fraud"].sum() == 1
    assert sc.filter(pl.col("bin") == 19)[["legit", "fraud"]].row(0) == (1, 1)  # 0.97 and 1.0
    assert sc.filter(pl.col("bin") == 1)["legit"].item() == 1  # 0.05
