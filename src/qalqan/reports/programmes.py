"""Thresholds of the card-scheme programmes and PSD2, and the alerts they raise.

The thresholds live in ``programmes.yaml`` (unverified figures, configuration); this module reads
them and holds the vocabulary ``schemes.py`` (Visa VAMP, Mastercard ECM/HECM/EFM) and ``psd2.py``
(transaction risk analysis) share: an ``Alert`` and the projection that turns "close to a threshold"
into an early warning.

Alerts come at two levels: a **breach** (a merchant or the PSP is over a threshold: it enters a
programme, or exceeds a PSD2 reference rate) and a **warning** (not over yet, but at ``warn_at`` of a
threshold, or projected to cross it). A projection is a run rate for a month the window covers only
in part (the counts so far scaled to the whole month), or else a straight line through the last two
periods carried one period on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .facts import ReportError
from .formula import FormulaError, parse_decimal

__all__ = ["Alert", "Band", "ProgrammeConfig", "load_programmes", "threshold_on", "trend"]


@dataclass(frozen=True)
class Alert:
    programme: str  # visa_vamp_merchant | visa_vamp_acquirer | mastercard_ecm | ... | psd2_tra
    level: str  # breach | warning
    entity: str  # a merchant id, or "PSP" for the whole portfolio
    period: str  # the month, quarter or day it is about
    metric: str
    value: float
    threshold: float
    projected: float | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Band:
    """A PSD2 exemption threshold value (ETV) and its reference fraud rate."""

    up_to_eur: Decimal
    reference: Decimal


@dataclass(frozen=True)
class ProgrammeConfig:
    source: str
    warn_at: float
    vamp_cnp_channels: tuple[str, ...]
    vamp_count_once: bool
    vamp_merchant_min_count: int
    vamp_merchant_excessive: tuple[tuple[date, float], ...]
    vamp_acquirer: tuple[tuple[date, float, float], ...]  # from, above standard, excessive
    ecm_min: int
    ecm_ratio: float
    hecm_min: int
    hecm_ratio: float
    efm_min_sales: int
    efm_min_fraud_usd: Decimal
    efm_ratio: float
    efm_3ds_sca: float
    efm_3ds_other: float
    sca_countries: frozenset[str]
    psd2_window_days: int
    psd2_quarters: int
    psd2_bands: dict[str, tuple[Band, ...]]  # remote_card / credit_transfer

    def warn(self, threshold: float) -> float:
        """``warn_at`` of ``threshold``, rounded once (0.8 × 0.005 is 0.004, not 0.004000000000000001)."""
        return float(Decimal(repr(self.warn_at)) * Decimal(repr(float(threshold))))


def threshold_on(schedule: tuple[tuple[Any, ...], ...], day: date) -> tuple[Any, ...] | None:
    """The schedule entry in force on ``day`` (the latest that started on or before it)."""
    current = None
    for entry in schedule:
        if entry[0] <= day:
            current = entry
    return current


def trend(previous: float | None, last: float) -> float:
    """One period on along the line through the last two periods (never below zero)."""
    if previous is None:
        return last
    return max(0.0, 2 * last - previous)


def load_programmes(path: str | Path | None = None) -> ProgrammeConfig:
    """The thresholds shipped in ``programmes.yaml``, or those of another file of the same shape."""
    if path is None:
        text, source = (resources.files(__package__) / "programmes.yaml").read_text(encoding="utf-8"), "programmes.yaml"
    else:
        text, source = Path(path).read_text(encoding="utf-8"), str(path)
    try:
        doc = yaml.load(text, Loader=yaml.BaseLoader)  # noqa: S506 - text only, exact decimals
        return _parse(doc, source)
    except (KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
        raise ReportError(f"{source}: cannot read the programme thresholds: {exc}") from None


def _dec(v: str, where: str) -> Decimal:
    try:
        return parse_decimal(v, where)
    except FormulaError as exc:
        raise ReportError(str(exc)) from None


def _parse(doc: dict[str, Any], source: str) -> ProgrammeConfig:
    vamp, mc, psd2 = doc["visa_vamp"], doc["mastercard"], doc["psd2_tra"]
    efm = mc["efm"]
    return ProgrammeConfig(
        source=source,
        warn_at=float(_dec(doc.get("warn_at", "80%"), "warn_at")),
        vamp_cnp_channels=tuple(vamp.get("cnp_channels") or ("ecom",)),
        vamp_count_once=str(vamp.get("count_once", "false")).lower() == "true",
        vamp_merchant_min_count=int(vamp["merchant"]["min_count"]),
        vamp_merchant_excessive=tuple(sorted(
            (date.fromisoformat(e["from"]), float(_dec(e["ratio"], "visa_vamp.merchant.excessive")))
            for e in vamp["merchant"]["excessive"]
        )),
        vamp_acquirer=tuple(sorted(
            (date.fromisoformat(e["from"]), float(_dec(e["above_standard"], "visa_vamp.acquirer")),
             float(_dec(e["excessive"], "visa_vamp.acquirer")))
            for e in vamp["acquirer"]
        )),
        ecm_min=int(mc["ecm"]["min_chargebacks"]), ecm_ratio=float(_dec(mc["ecm"]["ratio"], "mastercard.ecm")),
        hecm_min=int(mc["hecm"]["min_chargebacks"]), hecm_ratio=float(_dec(mc["hecm"]["ratio"], "mastercard.hecm")),
        efm_min_sales=int(efm["min_sales"]), efm_min_fraud_usd=_dec(efm["min_fraud_usd"], "mastercard.efm"),
        efm_ratio=float(_dec(efm["ratio"], "mastercard.efm.ratio")),
        efm_3ds_sca=float(_dec(efm["three_ds_below_sca"], "mastercard.efm")),
        efm_3ds_other=float(_dec(efm["three_ds_below_other"], "mastercard.efm")),
        sca_countries=frozenset(efm["sca_countries"]),
        psd2_window_days=int(psd2["window_days"]), psd2_quarters=int(psd2["quarters"]),
        psd2_bands={
            kind: tuple(Band(_dec(b["up_to_eur"], f"psd2_tra.{kind}"), _dec(b["reference"], f"psd2_tra.{kind}"))
                        for b in psd2[kind])
            for kind in ("remote_card", "credit_transfer")
        },
    )
