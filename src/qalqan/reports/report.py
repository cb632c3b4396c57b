"""One report, computed once, written as HTML, JSON or CSV and shown on the console.

``build_report`` gathers every section from the same facts: fraud rates, contract settlements,
card-scheme programmes, PSD2, the engine's alerts, rule precision and scores. The writers only
format it, so the HTML page, the JSON, the CSV tables and the terminal dashboard cannot disagree.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import polars as pl

from . import psd2, quality, rates, schemes
from .contracts import Contract, Settlement, load_contract, settle_facts, template_names
from .facts import Facts
from .periods import PeriodName
from .programmes import Alert, ProgrammeConfig, load_programmes

__all__ = ["ContractResult", "Report", "build_report", "report_to_dict", "write_csv", "write_json"]

# Columns holding money in minor units of the reporting currency.
_MONEY = frozenset(c for c in rates.COUNT_COLUMNS if c.endswith("value"))
_DIMENSIONS = ("channel", "rail", "type", "merchant")


@dataclass(frozen=True)
class ContractResult:
    contract: Contract
    settlements: list[Settlement]


@dataclass
class Report:
    facts: Facts
    period: PeriodName
    totals: dict[str, Any]
    rates: pl.DataFrame  # long: period, dimension, key, counts and rates
    merchants: pl.DataFrame  # the whole window per merchant, most fraud (by value) first
    rolling: pl.DataFrame
    contracts: list[ContractResult]
    schemes: schemes.SchemeResult
    psd2: psd2.Psd2Result
    alerts_per_day: pl.DataFrame
    rules: pl.DataFrame
    scores: pl.DataFrame
    programmes: ProgrammeConfig
    merchant: str | None = None
    alerts: list[Alert] = field(default_factory=list)

    @property
    def currency(self) -> str:
        return self.facts.currency


def build_report(
    facts: Facts, fx: Mapping[str, str], period: PeriodName = "month", contracts: Sequence[str] | None = None,
    programmes: ProgrammeConfig | None = None, merchant: str | None = None,
) -> Report:
    """Every section of the report from one set of facts.

    ``contracts``: template names or contract files (default: every shipped template);
    ``merchant``: settle the contracts for one merchant (rates and programmes stay portfolio-wide)."""
    cfg = programmes or load_programmes()
    loaded = [load_contract(c) for c in (contracts if contracts is not None else template_names())]
    parts = [rates.fraud_rates(facts, period).with_columns(dimension=pl.lit("all"), key=pl.lit("all"))]
    for dim in _DIMENSIONS:
        parts.append(rates.fraud_rates(facts, period, [dim]).rename({dim: "key"})
                     .with_columns(dimension=pl.lit(dim), key=pl.col("key").fill_null("—")))
    long = pl.concat([p.select("period", "dimension", "key", *[c for c in p.columns
                                                               if c not in ("period", "dimension", "key")])
                      for p in parts])
    merchants = (rates.summarise(facts.window().filter(pl.col("merchant").is_not_null()), ["merchant"])
                 .sort(["fraud_settled_value", "fraud_value", "merchant"], descending=[True, True, False]))
    scheme = schemes.vamp(facts, cfg)
    mc = schemes.mastercard(facts, cfg)
    scheme.mastercard, scheme.alerts = mc.mastercard, scheme.alerts + mc.alerts
    tra = psd2.tra(facts, cfg)
    report = Report(
        facts=facts, period=period, totals=rates.totals(facts), rates=long, merchants=merchants,
        rolling=rates.rolling_rates(facts), contracts=[ContractResult(c, settle_facts(c, facts, fx, merchant))
                                                     for c in loaded],
        schemes=scheme, psd2=tra, alerts_per_day=quality.alerts_per_day(facts), rules=quality.rule_precision(facts),
        scores=quality.score_distribution(facts), programmes=cfg, merchant=merchant,
    )
    report.alerts = sorted(scheme.alerts + tra.alerts, key=lambda a: (a.level != "breach", a.programme, a.entity,
                                                                      a.period))
    return report


# --- plain data ----------------------------------------------------------------------------
def money(minor: int | None) -> str | None:
    """Minor units as an exact decimal string: 12345 → "123.45"."""
    return None if minor is None else format(Decimal(int(minor)).scaleb(-2), "f")


def _records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    rows = frame.to_dicts()
    for r in rows:
        for k, v in r.items():
            if k in _MONEY:
                r[k] = money(v)
            elif hasattr(v, "isoformat"):
                r[k] = v.isoformat()
    return rows


def report_to_dict(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data. Money: decimal strings in ``currency``; rates: fractions."""
    f = report.facts
    totals = {k: money(v) if k in _MONEY else v for k, v in report.totals.items()}
    return {
        "window": {"from": f.start.isoformat(), "to": f.end.isoformat(), "as_of": f.as_of.isoformat(),
                   "currency": f.currency, "period": report.period, "merchant": report.merchant},
        "definitions": {
            "passed": "approved", "challenged": "step-up asked; counted as settled",
            "stopped": "review, hold or decline; not settled",
            "fraud": "latest label as of the as_of day is fraud or chargeback",
            "rate": "fraud among settled movements", "attempted_rate": "fraud among all decided movements",
        },
        "totals": totals,
        "rates": _records(report.rates),
        "merchants": _records(report.merchants),
        "rolling": _records(report.rolling),
        "contracts": [
            {"template": c.contract.name, "title": c.contract.title, "period": c.contract.period,
             "basis": c.contract.basis, "currency": c.contract.currency, "source": c.contract.source,
             "pays": dict(c.contract.pays), "settlements": [s.to_json() for s in c.settlements]}
            for c in report.contracts
        ],
        "programmes": {
            "thresholds": report.programmes.source,
            "visa_vamp_acquirer": report.schemes.vamp_acquirer,
            "visa_vamp_merchants": report.schemes.vamp_merchants,
            "mastercard": report.schemes.mastercard,
            "psd2_tra": {"bands": report.psd2.bands, "quarters": report.psd2.quarters,
                         "daily": _records(report.psd2.daily)},
        },
        "alerts": [a.to_json() for a in report.alerts],
        "alerts_per_day": _records(report.alerts_per_day),
        "rules": _records(report.rules),
        "scores": _records(report.scores),
    }


def write_json(report: Report) -> bytes:
    return msgspec.json.format(msgspec.json.encode(report_to_dict(report)), indent=2) + b"\n"


def _csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        fields = list(dict.fromkeys(k for r in rows for k in r))  # rows may differ (a commission column)
        w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: ";".join(map(str, v)) if isinstance(v, list) else v for k, v in r.items()})
    return buf.getvalue()


def write_csv(report: Report, folder: Path) -> list[Path]:
    """One CSV per table into ``folder``; returns the files written."""
    data = report_to_dict(report)
    folder.mkdir(parents=True, exist_ok=True)
    tables = {
        "rates": data["rates"], "merchants": data["merchants"],
        "contracts": [{"title": c["title"], **s} for c in data["contracts"] for s in c["settlements"]],
        "visa_vamp_acquirer": data["programmes"]["visa_vamp_acquirer"],
        "visa_vamp_merchants": data["programmes"]["visa_vamp_merchants"],
        "mastercard": data["programmes"]["mastercard"], "psd2_tra": data["programmes"]["psd2_tra"]["bands"],
        "alerts": data["alerts"], "alerts_per_day": data["alerts_per_day"], "rules": data["rules"],
        "scores": data["scores"],
    }
    written = []
    for name, rows in tables.items():
        path = folder / f"{name}.csv"
        path.write_text(_csv(rows), encoding="utf-8")
        written.append(path)
    return written
