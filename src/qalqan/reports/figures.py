"""The figures and charts a report shows, decided once for every way of showing it.

``headline`` (the numbers at the top) and ``chart_specs`` (what each chart plots, against which
thresholds) read a ``Report``; the HTML page draws the specs as SVG (``charts.py``) and the console
dashboard as sparklines and tables, from the same specs — so the page and the console never show
different numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

import polars as pl

from .facts import STOPPED
from .programmes import threshold_on
from .quality import ALERT_ACTIONS
from .report import Report
from .schemes import window_months

__all__ = ["ChartSpec", "Figure", "Rule", "Series", "chart_specs", "fmt_amount", "fmt_money", "fmt_pct", "headline"]

PALETTE = {
    "blue": "#1f77b4", "orange": "#ff7f0e", "green": "#2ca02c", "red": "#d62728", "purple": "#9467bd",
    "brown": "#8c564b", "pink": "#e377c2", "grey": "#7f7f7f", "olive": "#bcbd22", "cyan": "#17becf",
}
ACTION_COLORS = {"challenge": PALETTE["olive"], "review": PALETTE["orange"], "hold": PALETTE["purple"],
                 "decline": PALETTE["red"]}
RULE_COLORS = [PALETTE["red"], PALETTE["orange"], PALETTE["purple"], PALETTE["brown"], PALETTE["pink"],
               PALETTE["grey"], PALETTE["cyan"]]


def fmt_pct(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{x * 100:.{digits}f} %"


def fmt_amount(d: Decimal | int | float | None) -> str:
    return "—" if d is None else f"{Decimal(d):,.2f}"


def fmt_money(minor: int | None, currency: str) -> str:
    return "—" if minor is None else f"{Decimal(int(minor)).scaleb(-2):,.2f} {currency}"


@dataclass(frozen=True)
class Figure:
    label: str
    value: str
    note: str = ""
    tone: Literal["", "good", "bad", "warn"] = ""


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float | None]
    color: str


@dataclass(frozen=True)
class Rule:
    """A horizontal threshold line."""

    label: str
    value: float
    color: str


@dataclass(frozen=True)
class ChartSpec:
    id: str
    title: str
    kind: Literal["line", "bars", "stacked", "hbars"]
    x: list[str]
    series: list[Series]
    rules: list[Rule] = field(default_factory=list)
    y_format: Literal["pct", "count", "money"] = "pct"
    note: str = ""

    @property
    def empty(self) -> bool:
        return not self.x or all(v in (None, 0) for s in self.series for v in s.values)


def headline(report: Report) -> list[Figure]:
    t, cur = report.totals, report.currency
    per_day = report.alerts_per_day
    alerts = int(per_day["alerts"].sum())
    breaches = sum(a.level == "breach" for a in report.alerts)
    warnings = sum(a.level == "warning" for a in report.alerts)
    figs = [
        Figure("Fraud rate by value", fmt_pct(t["rate_value"], 3),
               f"{fmt_money(t['fraud_settled_value'], cur)} of {fmt_money(t['settled_value'], cur)} settled"),
        Figure("Fraud rate by count", fmt_pct(t["rate_count"], 3),
               f"{t['fraud_settled']:,} of {t['settled']:,} settled movements"),
        Figure("Fraud stopped", fmt_pct(t["stopped_share"], 1),
               f"{t['fraud_stopped']:,} of {t['fraud']:,} fraudulent; by value "
               f"{fmt_pct(t['stopped_value_share'], 1)}", "good"),
        Figure("Fraud challenged / passed", f"{fmt_pct(t['challenged_share'], 1)} / {fmt_pct(t['passed_share'], 1)}",
               f"{t['fraud_challenged']:,} challenged, {t['fraud_passed']:,} approved", "bad"),
        Figure("Alerts", f"{alerts:,}",
               f"{alerts / max(per_day.height, 1):,.1f} a day; "
               + ", ".join(f"{a} {int(per_day[a].sum()):,}" for a in ALERT_ACTIONS)),
        Figure("Programme alerts", f"{breaches} breach{'es' if breaches != 1 else ''}, {warnings} warning"
               f"{'s' if warnings != 1 else ''}", "Visa VAMP, Mastercard, PSD2 TRA",
               "bad" if breaches else "warn" if warnings else "good"),
    ]
    for c in report.contracts:
        pen = sum((s.penalty for s in c.settlements), Decimal(0))
        bon = sum((s.bonus for s in c.settlements), Decimal(0))
        com = sum((s.commission or Decimal(0) for s in c.settlements), Decimal(0))
        if "commission" in c.contract.amounts:
            figs.append(Figure(c.contract.name, f"{fmt_amount(com)} {c.contract.currency}", "commission"))
        else:
            tone: Literal["good", "bad", ""] = "bad" if pen > bon else "good" if bon > pen else ""
            figs.append(Figure(c.contract.name, f"{fmt_amount(pen - bon)} {c.contract.currency}",
                               f"penalty {fmt_amount(pen)}, bonus {fmt_amount(bon)} (net = penalty − bonus)", tone))
    return figs


def _contract_rules(report: Report, basis: str) -> list[Rule]:
    rules: list[Rule] = []
    for c in report.contracts:
        if c.contract.tiers_on != "share" or c.contract.basis != basis:
            continue
        for b in c.contract.bounds:
            rules.append(Rule(f"{c.contract.name} {fmt_pct(float(b), 2)}", float(b),
                              RULE_COLORS[len(rules) % len(RULE_COLORS)]))
    return rules


def chart_specs(report: Report) -> list[ChartSpec]:
    cfg = report.programmes
    days = [d.isoformat() for d in report.rolling["date"].to_list()]
    specs = [ChartSpec(
        "fraud-rate-value", "Fraud rate by value against the contracts (settled, rolling 30 days)", "line", days,
        [Series("fraud rate by value", report.rolling["rate_value"].to_list(), PALETTE["blue"])],
        _contract_rules(report, "value"), note="A contract settles per period; the line shows where it is heading.",
    )]
    end = report.facts.end
    cnp_rules = []
    vamp_m = threshold_on(cfg.vamp_merchant_excessive, end)
    if vamp_m:
        cnp_rules.append(Rule(f"VAMP merchant excessive {fmt_pct(vamp_m[1])}", vamp_m[1], PALETTE["red"]))
    vamp_a = threshold_on(cfg.vamp_acquirer, end)
    if vamp_a:
        cnp_rules += [Rule(f"VAMP acquirer above standard {fmt_pct(vamp_a[1])}", vamp_a[1], PALETTE["orange"]),
                      Rule(f"VAMP acquirer excessive {fmt_pct(vamp_a[2])}", vamp_a[2], PALETTE["purple"])]
    cnp_rules.append(Rule(f"Mastercard ECM {fmt_pct(cfg.ecm_ratio)}", cfg.ecm_ratio, PALETTE["brown"]))
    specs.append(ChartSpec(
        "fraud-rate-cnp", "Card-not-present fraud by count against scheme thresholds (rolling 30 days)", "line", days,
        [Series("CNP fraud rate by count", report.rolling["cnp_rate_count"].to_list(), PALETTE["blue"])], cnp_rules,
        note="Schemes count reports by the month they arrive; this line dates them by the payment.",
    ))
    daily = report.psd2.daily
    card = daily.filter(pl.col("kind") == "remote_card").sort("date")
    transfer = daily.filter(pl.col("kind") == "credit_transfer").sort("date")
    psd2_rules = [Rule(f"card ≤ {b.up_to_eur} EUR: {fmt_pct(float(b.reference), 2)}", float(b.reference),
                       RULE_COLORS[i]) for i, b in enumerate(cfg.psd2_bands["remote_card"])]
    specs.append(ChartSpec(
        "psd2-tra", "PSD2 fraud rate (rolling 90 days, by value) against TRA reference rates", "line",
        [d.isoformat() for d in card["date"].to_list()],
        [Series("remote card payments", card["rate"].to_list(), PALETTE["blue"]),
         Series("credit transfers", transfer["rate"].to_list(), PALETTE["green"])], psd2_rules,
    ))
    x, pen, bon = [], [], []
    for c in report.contracts:
        if "commission" in c.contract.amounts and len(c.contract.amounts) == 1:
            continue
        for s in c.settlements:
            x.append(f"{c.contract.name} {s.period}{'*' if s.partial else ''}")
            pen.append(float(s.penalty))
            bon.append(-float(s.bonus))
    specs.append(ChartSpec(
        "penalties", "Penalties and bonuses per contract period", "bars", x,
        [Series("penalty", pen, PALETTE["red"]), Series("bonus (below zero)", bon, PALETTE["green"])],
        y_format="money", note="* the window covers only part of the period.",
    ))
    apd = report.alerts_per_day
    specs.append(ChartSpec(
        "alerts-per-day", "Alerts per day (decisions other than approve)", "stacked",
        [d.isoformat() for d in apd["date"].to_list()],
        [Series(a, [float(v) for v in apd[a].to_list()], ACTION_COLORS[a]) for a in ALERT_ACTIONS],
        y_format="count", note=f"Stopped = {', '.join(sorted(STOPPED))}; a challenge is a step-up, not a stop.",
    ))
    top = report.rules.head(15)
    specs.append(ChartSpec(
        "rule-precision", "Precision per rule (share of its hits labelled fraud)", "hbars",
        [f"{c} ({h:,})" for c, h in zip(top["code"].to_list(), top["hits"].to_list())],
        [Series("precision", top["precision"].to_list(), PALETTE["blue"])],
        note="The 15 rules with most hits; (n) = hits in the window. Unlabelled hits count as not fraud.",
    ))
    sc = report.scores
    legit_total, fraud_total = max(int(sc["legit"].sum()), 1), max(int(sc["fraud"].sum()), 1)
    specs.append(ChartSpec(
        "scores", "Model score distribution (share of each class per score bin)", "bars",
        [f"{lo:.2f}" for lo in sc["lo"].to_list()],
        [Series("not fraud", [v / legit_total for v in sc["legit"].to_list()], PALETTE["grey"]),
         Series("fraud", [v / fraud_total for v in sc["fraud"].to_list()], PALETTE["red"])],
        note="Scores of every decided movement in the window; 0 everywhere means no model is loaded.",
    ))
    return specs


def window_note(report: Report) -> str:
    months = window_months(report.facts)
    partial = [m.period.key for m in months if m.partial]
    return f"partial months (projected by run rate): {', '.join(partial)}" if partial else ""
