"""Card-scheme monitoring programmes: Visa VAMP, Mastercard ECM, HECM and EFM, per calendar month.

Schemes count a fraud report or a chargeback in the month it *arrives* (here: a label's own date),
against settled transactions of the same month (VAMP) or of the month before (Mastercard). Only
labels on settled movements count: a declined payment never reaches the scheme. The events carry
no card scheme (card numbers are tokenised at the boundary), so both schemes' rules are applied to
every card payment; a deployment that knows its scheme mix reads the one that applies.

A month the report window covers only in part is counted over the covered days and *projected* to
the whole month by run rate; the count floors (1,500 VAMP reports, 100/300 chargebacks, 1,000 sales)
are where a projection matters most.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import polars as pl

from .facts import Facts
from .periods import Period, add_months, period_expr, periods_between
from .programmes import Alert, ProgrammeConfig, threshold_on, trend

__all__ = ["SchemeResult", "WindowMonth", "mastercard", "vamp", "window_months"]


@dataclass(frozen=True)
class WindowMonth:
    period: Period
    first: date  # first day of the month inside the window
    last: date  # last day of the month inside the window (included)

    @property
    def covered(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def partial(self) -> bool:
        return self.covered < self.period.days

    @property
    def scale(self) -> float:
        """Run-rate factor from the covered days to the whole month."""
        return self.period.days / self.covered


@dataclass
class SchemeResult:
    vamp_merchants: list[dict[str, Any]] = field(default_factory=list)
    vamp_acquirer: list[dict[str, Any]] = field(default_factory=list)
    mastercard: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)


def window_months(facts: Facts) -> list[WindowMonth]:
    return [
        WindowMonth(p, max(p.start, facts.start), min(p.end - timedelta(days=1), facts.end))
        for p in periods_between(facts.start, facts.end, "month")
    ]


def _month(col: str = "date") -> pl.Expr:
    return period_expr(pl.col(col), "month").alias("period")


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.2%}"


# --- Visa VAMP ----------------------------------------------------------------------------
def vamp(facts: Facts, cfg: ProgrammeConfig) -> SchemeResult:
    """VAMP ratio per merchant and for the whole portfolio (the acquirer), per month."""
    months = window_months(facts)
    by_key = {m.period.key: m for m in months}
    cnp = (pl.col("type") == "payment") & pl.col("channel").is_in(list(cfg.vamp_cnp_channels)) & pl.col("settled")
    sales = facts.window().filter(cnp).group_by("merchant", _month()).agg(settled=pl.len())
    labels = facts.labels.filter(
        cnp & pl.col("label").is_in(["fraud", "chargeback"]) & pl.col("date").is_between(facts.start, facts.end)
    )
    reports = labels.group_by("merchant", _month()).agg(
        tc40=(pl.col("label") == "fraud").sum(), tc15=(pl.col("label") == "chargeback").sum(),
        once=pl.col("target").n_unique(),
    )
    frame = (
        sales.join(reports, on=["merchant", "period"], how="full", coalesce=True)
        .with_columns(pl.col("settled", "tc40", "tc15", "once").fill_null(0).cast(pl.Int64))
        .sort("merchant", "period")
    )
    out = SchemeResult()
    count_col = "once" if cfg.vamp_count_once else None

    def count_of(r: dict[str, Any]) -> int:
        return int(r[count_col]) if count_col else int(r["tc40"]) + int(r["tc15"])

    # Per merchant.
    rows_by_merchant: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in frame.iter_rows(named=True):
        rows_by_merchant[r["merchant"]].append(r)
    last_key = months[-1].period.key if months else None
    for merchant, rows in rows_by_merchant.items():
        prev: tuple[str, int, float] | None = None
        for r in rows:
            m = by_key[r["period"]]
            count, ratio = count_of(r), _ratio(count_of(r), r["settled"])
            rule = threshold_on(cfg.vamp_merchant_excessive, m.period.start)
            threshold = rule[1] if rule else None
            p_count, p_ratio = _project(count, ratio, m, prev)
            status = _vamp_status(count, ratio, p_count, p_ratio, threshold, cfg)
            row = {"merchant": merchant, "period": m.period.key, "partial": m.partial, "settled_cnp": r["settled"],
                   "tc40": r["tc40"], "tc15": r["tc15"], "count": count, "ratio": ratio, "threshold": threshold,
                   "min_count": cfg.vamp_merchant_min_count, "projected_count": p_count,
                   "projected_ratio": p_ratio, "status": status}
            out.vamp_merchants.append(row)
            if status == "excessive":
                out.alerts.append(Alert(
                    "visa_vamp_merchant", "breach", merchant, m.period.key, "vamp_ratio", ratio or 0.0,
                    threshold or 0.0, p_ratio,
                    f"merchant {merchant}: VAMP ratio {_pct(ratio)} with {count:,} fraud reports and disputes in "
                    f"{m.period.key} — excessive (≥ {_pct(threshold)} and ≥ {cfg.vamp_merchant_min_count:,})"))
            elif status == "warning" and m.period.key == last_key:
                out.alerts.append(Alert(
                    "visa_vamp_merchant", "warning", merchant, m.period.key, "vamp_ratio", ratio or 0.0,
                    threshold or 0.0, p_ratio,
                    f"merchant {merchant}: VAMP ratio {_pct(ratio)} ({count:,} reports) in {m.period.key}, "
                    f"projected {_pct(p_ratio)} with {p_count:,.0f} reports; excessive at {_pct(threshold)} "
                    f"and {cfg.vamp_merchant_min_count:,}"))
            prev = (m.period.key, count, ratio or 0.0)

    # The whole portfolio: the acquirer's ratio.
    totals = frame.group_by("period").agg(pl.col("settled", "tc40", "tc15").sum()).sort("period")
    once = labels.group_by(_month()).agg(once=pl.col("target").n_unique())
    totals = totals.join(once, on="period", how="left").with_columns(pl.col("once").fill_null(0))
    prev: tuple[str, int, float] | None = None
    for r in totals.iter_rows(named=True):
        m = by_key[r["period"]]
        count = count_of(r)
        ratio = _ratio(count, r["settled"])
        rule = threshold_on(cfg.vamp_acquirer, m.period.start)
        above, excessive = (rule[1], rule[2]) if rule else (None, None)
        p_count, p_ratio = _project(count, ratio, m, prev)
        status = "n/a"
        if above is not None and excessive is not None and ratio is not None:
            status = ("excessive" if ratio >= excessive else "above standard" if ratio >= above
                      else "warning" if (p_ratio or 0) >= above or ratio >= cfg.warn(above) else "ok")
        out.vamp_acquirer.append({"entity": "PSP", "period": m.period.key, "partial": m.partial,
                                  "settled_cnp": r["settled"], "tc40": r["tc40"], "tc15": r["tc15"], "count": count,
                                  "ratio": ratio, "above_standard": above, "excessive": excessive,
                                  "projected_ratio": p_ratio, "status": status})
        if status in ("excessive", "above standard") or (status == "warning" and m.period.key == last_key):
            level = "warning" if status == "warning" else "breach"
            limit = excessive if status == "excessive" else above
            out.alerts.append(Alert(
                "visa_vamp_acquirer", level, "PSP", m.period.key, "vamp_ratio", ratio or 0.0, limit or 0.0, p_ratio,
                f"portfolio VAMP ratio {_pct(ratio)} in {m.period.key} (projected {_pct(p_ratio)}): "
                f"{'approaching ' if level == 'warning' else ''}above standard at {_pct(above)}, "
                f"excessive at {_pct(excessive)}"))
        prev = (m.period.key, count, ratio or 0.0)
    return out


def _project(count: int, ratio: float | None, m: WindowMonth,
             prev: tuple[str, int, float] | None) -> tuple[float, float | None]:
    """Month-end run rate for a partial month (a same-month ratio keeps its value), else the trend
    through the month before (when there is one) carried to the next month."""
    if m.partial:
        return count * m.scale, ratio
    if ratio is None:
        return float(count), None
    if prev is None or prev[0] != _previous_month(m):
        prev = None
    return trend(prev[1] if prev else None, count), trend(prev[2] if prev else None, ratio)


def _previous_month(m: WindowMonth) -> str:
    return add_months(m.period.start, -1).strftime("%Y-%m")


def _vamp_status(count: int, ratio: float | None, p_count: float, p_ratio: float | None, threshold: float | None,
                 cfg: ProgrammeConfig) -> str:
    if threshold is None or ratio is None:
        return "n/a"
    floor = cfg.vamp_merchant_min_count
    if count >= floor and ratio >= threshold:
        return "excessive"
    if (p_count >= floor and (p_ratio or 0) >= threshold) or (
            count >= cfg.warn(floor) and ratio >= cfg.warn(threshold)):
        return "warning"
    return "ok"


# --- Mastercard ---------------------------------------------------------------------------
def mastercard(facts: Facts, cfg: ProgrammeConfig) -> SchemeResult:
    """ECM and HECM (chargebacks this month / sales last month) and EFM per merchant and month."""
    months = window_months(facts)
    last_key = months[-1].period.key if months else None
    card = (pl.col("type") == "payment") & pl.col("settled")
    cnp = card & (pl.col("channel") == "ecom")
    # Sales per merchant and month, over the lookback too: each month reads the month before it.
    sales = facts.movements.filter(card).group_by("merchant", _month()).agg(
        sales=pl.len(),
        cnp_sales=cnp.sum().cast(pl.Int64),
        cnp_usd_cents=pl.col("usd_cents").filter(cnp).sum(),
        cnp_3ds=(cnp & (pl.col("auth_method") == "3ds")).sum().cast(pl.Int64),
        country=pl.col("merchant_country").drop_nulls().first(),
    )
    sales_of = {(r["merchant"], r["period"]): r for r in sales.iter_rows(named=True)}
    chargebacks = facts.labels.filter(
        card & (pl.col("label") == "chargeback") & pl.col("date").is_between(facts.start, facts.end)
    ).group_by("merchant", _month()).agg(
        cb=pl.len(),
        cnp_cb_usd_cents=pl.col("usd_cents").filter(pl.col("channel") == "ecom").sum(),
    )
    cb_of = {(r["merchant"], r["period"]): r for r in chargebacks.iter_rows(named=True)}
    merchants = sorted({k[0] for k in cb_of} | {k[0] for k in sales_of if k[0] is not None})
    out = SchemeResult()
    for merchant in merchants:
        prev_ratio: float | None = None
        for m in months:
            prev_key = add_months(m.period.start, -1).strftime("%Y-%m")
            s = sales_of.get((merchant, prev_key)) or {}
            cbr = cb_of.get((merchant, m.period.key)) or {}
            if not s and not cbr:
                prev_ratio = None  # a trend only through adjacent months
                continue
            row = _mastercard_row(merchant, m, s, cbr, cfg, prev_ratio)
            out.mastercard.append(row)
            prev_ratio = row["ratio"]
            out.alerts.extend(_mastercard_alerts(row, cfg, m.period.key == last_key))
    return out


def _mastercard_row(merchant: str, m: WindowMonth, s: dict[str, Any], cbr: dict[str, Any],
                    cfg: ProgrammeConfig, prev_ratio: float | None) -> dict[str, Any]:
    sales_prev, cnp_prev = int(s.get("sales") or 0), int(s.get("cnp_sales") or 0)
    cb = int(cbr.get("cb") or 0)
    fraud_usd = Decimal(int(cbr.get("cnp_cb_usd_cents") or 0)).scaleb(-2)
    sales_usd = Decimal(int(s.get("cnp_usd_cents") or 0)).scaleb(-2)
    ratio = _ratio(cb, sales_prev)
    fraud_ratio = _ratio(float(fraud_usd), float(sales_usd))
    three_ds = _ratio(int(s.get("cnp_3ds") or 0), cnp_prev)
    sca = (s.get("country") or "") in cfg.sca_countries
    three_ds_limit = cfg.efm_3ds_sca if sca else cfg.efm_3ds_other
    scale = m.scale if m.partial else 1.0
    if m.partial:
        p_cb, p_ratio = cb * scale, None if ratio is None else ratio * scale
    else:
        p_cb, p_ratio = float(cb), None if ratio is None else trend(prev_ratio, ratio)
    p_fraud_usd = float(fraud_usd) * scale
    p_fraud_ratio = None if fraud_ratio is None else fraud_ratio * scale

    def efm(fraud: float, fratio: float | None) -> bool:
        return (cnp_prev >= cfg.efm_min_sales and fraud >= float(cfg.efm_min_fraud_usd)
                and (fratio or 0) >= cfg.efm_ratio and three_ds is not None and three_ds < three_ds_limit)

    programme = "ok"
    if ratio is not None and cb >= cfg.hecm_min and ratio >= cfg.hecm_ratio:
        programme = "HECM"
    elif ratio is not None and cb >= cfg.ecm_min and ratio >= cfg.ecm_ratio:
        programme = "ECM"
    efm_now = efm(float(fraud_usd), fraud_ratio)
    ecm_warning = programme == "ok" and ratio is not None and (
        (p_cb >= cfg.ecm_min and (p_ratio or 0) >= cfg.ecm_ratio)
        or (cb >= cfg.warn(cfg.ecm_min) and ratio >= cfg.warn(cfg.ecm_ratio)))
    efm_warning = not efm_now and (
        efm(p_fraud_usd, p_fraud_ratio)
        or (cnp_prev >= cfg.warn(cfg.efm_min_sales) and float(fraud_usd) >= cfg.warn(float(cfg.efm_min_fraud_usd))
            and (fraud_ratio or 0) >= cfg.warn(cfg.efm_ratio) and three_ds is not None
            and three_ds < three_ds_limit))
    return {
        "merchant": merchant, "period": m.period.key, "partial": m.partial, "sales_last_month": sales_prev,
        "chargebacks": cb, "ratio": ratio, "projected_chargebacks": p_cb, "projected_ratio": p_ratio,
        "programme": programme, "ecm_warning": ecm_warning,
        "cnp_sales_last_month": cnp_prev, "fraud_chargebacks_usd": str(fraud_usd), "fraud_ratio": fraud_ratio,
        "three_ds_share": three_ds, "three_ds_limit": three_ds_limit, "efm": efm_now, "efm_warning": efm_warning,
    }


def _mastercard_alerts(row: dict[str, Any], cfg: ProgrammeConfig, latest: bool) -> Iterable[Alert]:
    merchant, period, ratio, cb = row["merchant"], row["period"], row["ratio"], row["chargebacks"]
    if row["programme"] in ("ECM", "HECM"):
        hecm = row["programme"] == "HECM"
        yield Alert(f"mastercard_{row['programme'].lower()}", "breach", merchant, period, "chargeback_ratio",
                    ratio or 0.0, cfg.hecm_ratio if hecm else cfg.ecm_ratio, row["projected_ratio"],
                    f"merchant {merchant}: {cb:,} chargebacks in {period}, {_pct(ratio)} of last month's "
                    f"{row['sales_last_month']:,} sales — {row['programme']}")
    elif row["ecm_warning"] and latest:
        yield Alert("mastercard_ecm", "warning", merchant, period, "chargeback_ratio", ratio or 0.0, cfg.ecm_ratio,
                    row["projected_ratio"],
                    f"merchant {merchant}: {cb:,} chargebacks ({_pct(ratio)}) in {period}, projected "
                    f"{row['projected_chargebacks']:,.0f} ({_pct(row['projected_ratio'])}); ECM at "
                    f"{cfg.ecm_min:,} and {_pct(cfg.ecm_ratio)}")
    if row["efm"] or (row["efm_warning"] and latest):
        level = "breach" if row["efm"] else "warning"
        yield Alert("mastercard_efm", level, merchant, period, "fraud_ratio", row["fraud_ratio"] or 0.0,
                    cfg.efm_ratio, None,
                    f"merchant {merchant}: fraud chargebacks {row['fraud_chargebacks_usd']} USD "
                    f"({_pct(row['fraud_ratio'])} of last month's CNP sales), 3-D Secure "
                    f"{_pct(row['three_ds_share'])} (limit {_pct(row['three_ds_limit'])}) — "
                    f"{'EFM' if level == 'breach' else 'approaching EFM'}")
