"""Card-scheme programmes and PSD2 TRA against hand-made portfolios at their thresholds."""

from dataclasses import replace
from datetime import date, timedelta

import pytest

from qalqan.reports import psd2, schemes
from qalqan.reports.facts import LabelRow, Movement
from qalqan.reports.programmes import load_programmes, threshold_on

from .build import facts, lb, mv, us

CFG = load_programmes()


def many(prefix: str, n: int, ts: str, amount: str = "100.00", **kw) -> list[Movement]:
    one = mv(f"{prefix}0", ts, amount, **kw)
    return [one._replace(event_id=f"{prefix}{i}") for i in range(n)]


def labels(movements: list[Movement], label: str, ts: str) -> list[LabelRow]:
    t = us(ts)
    return [LabelRow(m.event_id, label, t, i) for i, m in enumerate(movements)]


def merchant_rows(result, merchant: str) -> dict[str, dict]:
    return {r["period"]: r for r in result.vamp_merchants if r["merchant"] == merchant}


def test_shipped_thresholds_are_the_regulation_page():
    assert CFG.vamp_merchant_min_count == 1500
    assert threshold_on(CFG.vamp_merchant_excessive, date(2025, 5, 31)) is None
    assert threshold_on(CFG.vamp_merchant_excessive, date(2025, 6, 1))[1] == 0.022
    assert threshold_on(CFG.vamp_merchant_excessive, date(2026, 3, 31))[1] == 0.022
    assert threshold_on(CFG.vamp_merchant_excessive, date(2026, 4, 1))[1] == 0.015
    assert threshold_on(CFG.vamp_acquirer, date(2025, 12, 31)) is None
    assert threshold_on(CFG.vamp_acquirer, date(2026, 1, 1))[1:] == (0.005, 0.007)
    assert (CFG.ecm_min, CFG.ecm_ratio, CFG.hecm_min, CFG.hecm_ratio) == (100, 0.015, 300, 0.03)
    assert [(str(b.up_to_eur), str(b.reference)) for b in CFG.psd2_bands["remote_card"]] == [
        ("100", "0.0013"), ("250", "0.0006"), ("500", "0.0001")]
    assert [str(b.reference) for b in CFG.psd2_bands["credit_transfer"]] == ["0.00015", "0.0001", "0.00005"]


# --- Visa VAMP -------------------------------------------------------------------------------
@pytest.mark.parametrize("reports, status, level", [(1500, "excessive", "breach"), (1499, "warning", "warning")])
def test_vamp_merchant_needs_1500_reports_a_month(reports: int, status: str, level: str):
    sales = many("s", 68_000, "2026-02-10", merchant="BIG")  # 1,500 / 68,000 = 2.21 % ≥ 2.20 %
    f = facts(sales, labels(sales[:reports], "fraud", "2026-02-20"), "2026-02-01", "2026-02-28")
    result = schemes.vamp(f, CFG)
    row = merchant_rows(result, "BIG")["2026-02"]
    assert (row["count"], row["settled_cnp"], row["threshold"], row["status"]) == (reports, 68_000, 0.022, status)
    (alert,) = [a for a in result.alerts if a.entity == "BIG"]
    assert alert.level == level and alert.programme == "visa_vamp_merchant"


def test_vamp_merchant_threshold_falls_in_april_2026():
    cfg = replace(CFG, vamp_merchant_min_count=15)  # a smaller floor keeps the portfolio small
    mar = many("m", 1000, "2026-03-10", merchant="M")
    apr = many("a", 1000, "2026-04-10", merchant="M")
    lab = labels(mar[:16], "fraud", "2026-03-20") + labels(apr[:16], "chargeback", "2026-04-20")
    rows = merchant_rows(schemes.vamp(facts(mar + apr, lab, "2026-03-01", "2026-04-30"), cfg), "M")
    assert (rows["2026-03"]["ratio"], rows["2026-03"]["threshold"], rows["2026-03"]["status"]) == (0.016, 0.022, "ok")
    assert (rows["2026-04"]["tc15"], rows["2026-04"]["threshold"], rows["2026-04"]["status"]) == (16, 0.015,
                                                                                                 "excessive")


def test_vamp_counts_reports_in_the_month_they_arrive_on_settled_cnp_only():
    cfg = replace(CFG, vamp_merchant_min_count=1)
    jan = many("j", 10, "2026-01-20", merchant="M")
    declined = many("d", 5, "2026-02-03", merchant="M", action="decline")
    pos = many("p", 5, "2026-02-03", merchant="M", channel="pos")
    feb = many("f", 10, "2026-02-03", merchant="M")
    lab = (labels(jan[:2], "fraud", "2026-02-02") + labels(declined, "fraud", "2026-02-05")
           + labels(pos, "chargeback", "2026-02-05") + labels(feb[:1], "fraud", "2026-02-06")
           + labels(feb[:1], "chargeback", "2026-02-26"))
    f = facts(jan + declined + pos + feb, lab, "2026-02-01", "2026-02-28")
    row = merchant_rows(schemes.vamp(f, cfg), "M")["2026-02"]
    # January's payments reported in February count in February; declined and card-present ones never.
    assert (row["settled_cnp"], row["tc40"], row["tc15"], row["count"]) == (10, 3, 1, 4)
    once = merchant_rows(schemes.vamp(f, replace(cfg, vamp_count_once=True)), "M")["2026-02"]
    assert once["count"] == 3  # f0 had both a fraud report and a dispute


def test_vamp_early_warning_projects_a_partial_month():
    sales = many("s", 30_000, "2026-02-05", merchant="M")
    f = facts(sales, labels(sales[:800], "fraud", "2026-02-10"), "2026-02-01", "2026-02-14")  # half of February
    result = schemes.vamp(f, CFG)
    row = merchant_rows(result, "M")["2026-02"]
    assert row["partial"] and row["count"] == 800 and row["projected_count"] == 1600
    assert row["status"] == "warning"
    (alert,) = [a for a in result.alerts if a.programme == "visa_vamp_merchant"]
    assert (alert.level, alert.projected) == ("warning", pytest.approx(800 / 30_000))
    assert "projected" in alert.message and "1,600 reports" in alert.message


def test_vamp_early_warning_follows_the_trend_of_complete_months():
    cfg = replace(CFG, vamp_merchant_min_count=15)
    jan, feb = many("j", 400, "2026-01-10", merchant="M"), many("f", 400, "2026-02-10", merchant="M")
    lab = labels(jan[:7], "fraud", "2026-01-20") + labels(feb[:11], "fraud", "2026-02-20")
    result = schemes.vamp(facts(jan + feb, lab, "2026-01-01", "2026-02-28"), cfg)
    rows = merchant_rows(result, "M")
    assert rows["2026-02"]["count"] == 11 < cfg.warn(15)  # not near the floor yet ...
    assert rows["2026-02"]["projected_count"] == 15 and rows["2026-02"]["status"] == "warning"  # ... but heading there
    (alert,) = [a for a in result.alerts if a.programme == "visa_vamp_merchant"]
    assert (alert.level, alert.period) == ("warning", "2026-02")


@pytest.mark.parametrize("reports, status", [
    (39, "ok"), (40, "warning"), (49, "warning"), (50, "above standard"), (69, "above standard"), (70, "excessive"),
])
def test_vamp_acquirer_on_the_whole_portfolio(reports: int, status: str):
    # 10,000 CNP sales across 100 merchants; 0.50 % is above standard, 0.70 % excessive (from 2026-01).
    sales = [m._replace(merchant=f"M{i % 100}") for i, m in enumerate(many("s", 10_000, "2026-02-03"))]
    f = facts(sales, labels(sales[:reports], "fraud", "2026-02-04"), "2026-02-01", "2026-02-28")
    result = schemes.vamp(f, CFG)
    (row,) = result.vamp_acquirer
    assert row["status"] == status and row["ratio"] == reports / 10_000  # warning from 80 % of 0.50 %
    assert all(r["status"] == "ok" for r in result.vamp_merchants)  # no merchant reaches 1,500


def test_vamp_acquirer_before_2026_has_no_threshold():
    sales = many("s", 100, "2025-12-03")
    f = facts(sales, labels(sales[:10], "fraud", "2025-12-04"), "2025-12-01", "2025-12-31")
    (row,) = schemes.vamp(f, CFG).vamp_acquirer
    assert row["status"] == "n/a"


# --- Mastercard ------------------------------------------------------------------------------
def _mc(chargebacks: int, sales: int = 10_000, **kw):
    jan = many("j", sales, "2026-01-15", merchant="M", channel="pos", auth="pin", **kw)
    f = facts(jan, labels(jan[:chargebacks], "chargeback", "2026-02-10"), "2026-02-01", "2026-02-28")
    result = schemes.mastercard(f, CFG)
    return {r["period"]: r for r in result.mastercard}["2026-02"], result.alerts


@pytest.mark.parametrize("chargebacks, programme, warning", [
    (150, "ECM", False), (149, "ok", True), (299, "ECM", False), (300, "HECM", False), (99, "ok", False),
])
def test_mastercard_ecm_and_hecm_on_last_months_sales(chargebacks: int, programme: str, warning: bool):
    row, alerts = _mc(chargebacks)
    assert (row["sales_last_month"], row["chargebacks"], row["programme"], row["ecm_warning"]) == (
        10_000, chargebacks, programme, warning)
    assert row["ratio"] == chargebacks / 10_000
    if programme != "ok":
        assert [a.programme for a in alerts] == [f"mastercard_{programme.lower()}"]


def test_mastercard_hecm_needs_300_chargebacks():
    row, _ = _mc(250, sales=5_000)  # 5 % but fewer than 300: ECM, not HECM
    assert row["programme"] == "ECM"


def _efm(fraud_usd_each: str, auth: str, country: str):
    # January: 1,000 CNP sales of 100 USD; February: 5 fraud chargebacks on large January payments.
    jan = many("j", 1000, "2026-01-15", "9000.00", merchant="E", auth=auth, country=country)
    big = many("b", 5, "2026-01-20", str(int(float(fraud_usd_each) * 90)), merchant="E", auth=auth, country=country)
    f = facts(jan + big, labels(big, "chargeback", "2026-02-10"), "2026-02-01", "2026-02-28")
    result = schemes.mastercard(f, CFG)
    return {r["period"]: r for r in result.mastercard}["2026-02"]


@pytest.mark.parametrize("each, auth, country, efm, warning", [
    ("10000", "none", "RU", True, False),  # 50,000 USD of fraud chargebacks, no 3-D Secure
    ("9999.99", "none", "RU", False, True),  # 49,999.95 USD: not yet
    ("10000", "3ds", "RU", False, False),  # 3-D Secure on every sale
    ("10000", "none", "DE", True, False),  # an SCA country: under 50 % 3-D Secure
])
def test_mastercard_efm_needs_every_condition(each: str, auth: str, country: str, efm: bool, warning: bool):
    row = _efm(each, auth, country)
    assert row["cnp_sales_last_month"] == 1005
    assert (row["efm"], row["efm_warning"]) == (efm, warning)
    assert row["three_ds_limit"] == (0.5 if country == "DE" else 0.1)


# --- PSD2 TRA --------------------------------------------------------------------------------
def _daily(start: str, end: str, fraud_per_day: str | None, kind: str = "card") -> list[Movement]:
    """Each day: ten 100 EUR remote payments and one fraudulent one of ``fraud_per_day`` RUB."""
    kw = ({"channel": "ecom"} if kind == "card" else {"type": "transfer", "rail": "sbp", "direction": "out"})
    out = []
    d, last = date.fromisoformat(start), date.fromisoformat(end)
    while d <= last:
        out += many(f"{kind}{d}-", 10, d.isoformat(), "9800.00", **kw)
        if fraud_per_day:
            out.append(mv(f"{kind}{d}-fraud", d.isoformat(), fraud_per_day, **kw))
        d += timedelta(days=1)
    return out


def _fraud_labels(movs: list[Movement]) -> list[LabelRow]:
    return [lb(m.event_id, "fraud", "2026-01-01") for m in movs if m.event_id.endswith("fraud")]


def test_psd2_exemption_lost_after_two_quarter_ends_above():
    movs = _daily("2026-01-01", "2026-07-15", "98.00")  # 1 EUR of fraud a day over 1,001: 0.0999 %
    result = psd2.tra(facts(movs, _fraud_labels(movs), "2026-01-01", "2026-07-15"), CFG)
    bands = {(b["kind"], b["up_to_eur"]): b for b in result.bands}
    card100, card250, card500 = (bands[("remote_card", x)] for x in ("100", "250", "500"))
    assert card100["rate"] == pytest.approx(1 / 1001) and card100["status"] == "within reference"
    assert card250["quarters_above"] == ["2026Q1", "2026Q2"] and card250["lost_at"] == "2026Q2"
    assert card250["status"] == card500["status"] == "exemption lost"
    assert bands[("credit_transfer", "100")]["status"] == "no remote transactions"
    lost = [a for a in result.alerts if "lost" in a.message]
    assert {a.threshold for a in lost} == {0.0006, 0.0001} and all(a.level == "breach" for a in lost)
    assert [q["quarter"] for q in result.quarters if q["kind"] == "remote_card"] == ["2026Q1", "2026Q2"]


def test_psd2_one_quarter_above_is_reported_not_lost():
    movs = _daily("2026-01-01", "2026-05-15", "98.00", kind="transfer")
    result = psd2.tra(facts(movs, _fraud_labels(movs), "2026-01-01", "2026-05-15"), CFG)
    b = {(x["kind"], x["up_to_eur"]): x for x in result.bands}
    ct = b[("credit_transfer", "100")]  # 0.0999 % > 0.015 %
    assert ct["quarters_above"] == ["2026Q1"] and ct["lost_at"] is None and ct["status"] == "above reference"
    (alert,) = [a for a in result.alerts if a.threshold == 0.00015]
    assert "report it (art. 20(1))" in alert.message


def test_psd2_warns_on_a_rising_rate_before_it_crosses():
    movs = _daily("2026-01-01", "2026-02-14", None) + _daily("2026-02-15", "2026-03-01", "392.00")  # 4 EUR a day
    result = psd2.tra(facts(movs, _fraud_labels(movs), "2026-01-01", "2026-03-01"), CFG)
    card100 = {(b["kind"], b["up_to_eur"]): b for b in result.bands}[("remote_card", "100")]
    assert card100["rate"] < CFG.warn(0.0013) and card100["projected"] > 0.0013
    assert card100["status"] == "warning"
    (alert,) = [a for a in result.alerts if a.threshold == 0.0013]
    assert alert.level == "warning" and alert.projected == card100["projected"] and "projected" in alert.message
