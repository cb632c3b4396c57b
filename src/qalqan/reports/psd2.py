"""PSD2 transaction risk analysis (RTS 2018/389, art. 18-20): may the PSP skip strong customer
authentication for remote payments up to 100, 250 or 500 EUR?

Per type — remote card payments (``ecom`` payments) and credit transfers (outgoing transfers) —
the fraud rate is the value of fraudulent executed remote transactions over the value of all of
them, over a rolling 90 days. Each exemption threshold value (ETV) holds while that one overall
rate is at or below the ETV's reference rate; after the rate is above it at two consecutive
quarter ends the PSP stops using the exemption up to that amount. Amounts are compared in EUR.

Only quarter ends inside the report window are checked (the rolling rate at a quarter end needs
the 90 days before it, which the facts hold for the window). Each band's own rate (fraud among the
transactions of that amount range) is shown beside the overall one, for information: the rule
reads the overall rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import polars as pl

from .facts import Facts
from .periods import period_bounds, period_key
from .programmes import Alert, Band, ProgrammeConfig

__all__ = ["KINDS", "Psd2Result", "tra"]

KINDS = {
    "remote_card": (pl.col("type") == "payment") & (pl.col("channel") == "ecom"),
    "credit_transfer": (pl.col("type") == "transfer") & (pl.col("direction") == "out"),
}
_LABELS = {"remote_card": "remote card payments", "credit_transfer": "credit transfers"}
_SLOPE_DAYS = 30


@dataclass
class Psd2Result:
    daily: pl.DataFrame  # date, kind, value_eur_cents, fraud_eur_cents, rate
    quarters: list[dict[str, Any]] = field(default_factory=list)
    bands: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def tra(facts: Facts, cfg: ProgrammeConfig) -> Psd2Result:
    window = cfg.psd2_window_days
    first = facts.start - timedelta(days=window - 1)
    calendar = pl.DataFrame({"date": pl.date_range(first, facts.end, "1d", eager=True)})
    executed = facts.movements.filter(pl.col("settled"))
    frames = []
    for kind, cond in KINDS.items():
        daily = executed.filter(cond).group_by("date").agg(
            value=pl.col("eur_cents").sum(), fraud=pl.col("eur_cents").filter(pl.col("fraud")).sum(),
        )
        frames.append(
            calendar.join(daily, on="date", how="left").with_columns(pl.col("value", "fraud").fill_null(0))
            .sort("date")
            .with_columns(pl.col("value", "fraud").rolling_sum(window_size=window, min_samples=1))
            .filter(pl.col("date") >= facts.start)
            .with_columns(kind=pl.lit(kind),
                          rate=pl.when(pl.col("value") > 0).then(pl.col("fraud") / pl.col("value")))
        )
    daily = pl.concat(frames).select("date", "kind", "value", "fraud", "rate")
    out = Psd2Result(daily)
    quarter_ends = [d for d in daily["date"].unique().sort().to_list()
                    if d + timedelta(days=1) == period_bounds(d, "quarter").end]
    last_day = facts.end
    for kind in KINDS:
        series = daily.filter(pl.col("kind") == kind).sort("date")
        rate_of = dict(zip(series["date"].to_list(), series["rate"].to_list()))
        rate_now = rate_of.get(last_day)
        projected = _project(series, last_day)
        for band in cfg.psd2_bands[kind]:
            out.bands.append(_band(kind, band, facts, executed, quarter_ends, rate_of, rate_now, projected, cfg, out))
    for kind in KINDS:
        for d in quarter_ends:
            out.quarters.append({"kind": kind, "quarter": period_key(d, "quarter"), "end": d.isoformat(),
                                 "rate": daily.filter((pl.col("kind") == kind) & (pl.col("date") == d))["rate"][0]})
    return out


def _project(series: pl.DataFrame, day: Any) -> float | None:
    """The rolling rate carried to the end of ``day``'s quarter along its slope of the last 30 days."""
    tail = series.filter(pl.col("rate").is_not_null()).tail(_SLOPE_DAYS)
    if tail.height == 0:
        return None
    now = tail["rate"][-1]
    if tail.height < 2:
        return now
    slope = (now - tail["rate"][0]) / (tail.height - 1)
    days_left = (period_bounds(day, "quarter").end - day).days - 1
    return max(0.0, now + slope * days_left)


def _band(kind: str, band: Band, facts: Facts, executed: pl.DataFrame, quarter_ends: list[Any],
          rate_of: dict[Any, float | None], rate_now: float | None, projected: float | None,
          cfg: ProgrammeConfig, out: Psd2Result) -> dict[str, Any]:
    ref = float(band.reference)
    etv = f"{band.up_to_eur} EUR"
    # The two-quarter rule: consecutive quarter ends above the reference.
    run, lost_at, above_at = 0, None, []
    for d in quarter_ends:
        r = rate_of.get(d)
        if r is not None and r > ref:
            run += 1
            above_at.append(period_key(d, "quarter"))
            if run >= cfg.psd2_quarters and lost_at is None:
                lost_at = period_key(d, "quarter")
        else:
            run = 0
    # The band's own rate, for information.
    lo = facts.end - timedelta(days=cfg.psd2_window_days - 1)
    bands = cfg.psd2_bands[kind]
    i = bands.index(band)
    low_cents = int(bands[i - 1].up_to_eur * 100) if i else 0
    in_band = executed.filter(
        KINDS[kind] & pl.col("date").is_between(lo, facts.end)
        & (pl.col("eur_cents") > low_cents) & (pl.col("eur_cents") <= int(band.up_to_eur * 100))
    )
    band_rate = _ratio(int(in_band.filter(pl.col("fraud"))["eur_cents"].sum()), int(in_band["eur_cents"].sum()))
    if rate_now is None:
        status = "no remote transactions"
    elif lost_at:
        status = "exemption lost"
    elif rate_now > ref:
        status = "above reference"
    elif rate_now >= cfg.warn(ref) or (projected or 0) > ref:
        status = "warning"
    else:
        status = "within reference"
    period = facts.end.isoformat()
    what = f"{_LABELS[kind]} up to {etv}"
    if lost_at:
        out.alerts.append(Alert(
            "psd2_tra", "breach", "PSP", lost_at, f"{kind}_fraud_rate", rate_now or 0.0, ref, projected,
            f"TRA exemption for {what} lost: the 90-day fraud rate was above {ref:.3%} at "
            f"{cfg.psd2_quarters} consecutive quarter ends ({', '.join(above_at[-cfg.psd2_quarters:])})"))
    elif status == "above reference":
        out.alerts.append(Alert(
            "psd2_tra", "breach", "PSP", period, f"{kind}_fraud_rate", rate_now or 0.0, ref, projected,
            f"90-day fraud rate of {_LABELS[kind]} {rate_now:.3%} is above the {ref:.3%} reference for the "
            f"{etv} exemption: report it (art. 20(1)); above it at {cfg.psd2_quarters} consecutive quarter "
            f"ends, the exemption up to {etv} is lost"))
    elif status == "warning":
        out.alerts.append(Alert(
            "psd2_tra", "warning", "PSP", period, f"{kind}_fraud_rate", rate_now or 0.0, ref, projected,
            f"90-day fraud rate of {_LABELS[kind]} {rate_now:.3%}, projected {(projected or 0):.3%} at the "
            f"quarter end; the {etv} exemption holds up to {ref:.3%}"))
    return {"kind": kind, "up_to_eur": str(band.up_to_eur), "reference": ref, "rate": rate_now,
            "projected": projected, "band_rate": band_rate, "quarters_above": above_at, "lost_at": lost_at,
            "status": status}
