"""Contracts as data: the penalty, bonus or commission a fraud share (or a volume) earns.

A contract is a YAML file a risk officer can read and diff (``templates/*.yaml`` ship the press
case): its period (month or quarter), its basis (the fraud share by count or by value), named
constants, and tiers, each with a formula per amount (``penalty``, ``bonus``, ``commission``).
A tier holds the measure below its ``below`` bound; the value at a bound belongs to the next tier.
Formulas are exact Decimal arithmetic (``formula.py``), and every amount is rounded once, at the
end, to the contract's quantum.

Tiers are chosen exactly: "the share is below 0.5 %" is tested as ``fraud < 0.5% * volume``, with
no division, so a share that sits on a boundary is never misplaced by rounding.

Examples
--------
>>> c = load_contract("airline-bank")
>>> s = settle(c, Decimal("100000000"), Decimal("900000"))
>>> s.penalty, s.bonus, s.fraud_share
(Decimal('175000.00'), Decimal('0.00'), Decimal('0.009'))
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from .facts import Converter, Facts, ReportError
from .formula import CONTEXT, Formula, FormulaError, compile_formula, parse_decimal
from .periods import PeriodName, periods_between

__all__ = [
    "AMOUNTS", "Contract", "ContractError", "Settlement", "Tier", "load_contract", "settle", "settle_facts",
    "template_names",
]

AMOUNTS = ("penalty", "bonus", "commission")
VARIABLES = ("volume", "fraud", "share")
_ROUNDING = {"half_up": decimal.ROUND_HALF_UP, "half_even": decimal.ROUND_HALF_EVEN, "down": decimal.ROUND_DOWN}
_KEYS = {"name", "title", "period", "basis", "tiers_on", "currency", "scope", "pays", "constants", "tiers",
         "continuous", "rounding", "notes"}
_SHARE_DIGITS = Decimal("1e-12")


class ContractError(ReportError):
    """A contract file that cannot be used, or figures it cannot settle: says where and why."""


@dataclass(frozen=True)
class Tier:
    below: Decimal | None  # the measure is below this (exclusive); None: no upper bound
    formulas: Mapping[str, Formula]
    text: Mapping[str, str]  # each formula as written, for the report


@dataclass(frozen=True)
class Contract:
    name: str
    title: str
    source: str
    period: PeriodName  # month | quarter
    basis: str  # count | value
    tiers_on: str  # share | volume
    currency: str
    types: tuple[str, ...]
    channels: tuple[str, ...] | None
    constants: Mapping[str, Decimal]
    tiers: tuple[Tier, ...]
    amounts: tuple[str, ...]  # the amounts this contract defines, in AMOUNTS order
    pays: Mapping[str, str]
    continuous: bool
    quantum: Decimal
    rounding: str

    @property
    def bounds(self) -> list[Decimal]:
        return [t.below for t in self.tiers if t.below is not None]


@dataclass(frozen=True)
class Settlement:
    """What one period (or one pair of figures) earns under a contract."""

    template: str
    volume: Decimal
    fraud: Decimal
    fraud_share: Decimal
    tier: int  # index into the contract's tiers
    amounts: Mapping[str, Decimal]
    period: str | None = None
    start: str | None = None
    end: str | None = None  # the last day counted, included
    partial: bool = False  # the window covers only part of the period
    extra: Mapping[str, Any] = field(default_factory=dict)
    quantum: Decimal = Decimal("0.01")

    @property
    def penalty(self) -> Decimal:
        return self.amounts.get("penalty", Decimal(0).quantize(self.quantum))

    @property
    def bonus(self) -> Decimal:
        return self.amounts.get("bonus", Decimal(0).quantize(self.quantum))

    @property
    def commission(self) -> Decimal | None:
        return self.amounts.get("commission")

    def to_json(self) -> dict[str, Any]:
        """Money and shares as decimal strings (exact; a JSON number would invite a float)."""
        out: dict[str, Any] = {"template": self.template}
        if self.period is not None:
            out.update(period=self.period, start=self.start, end=self.end, partial=self.partial,
                       volume=_s(self.volume), fraud=_s(self.fraud))
        out.update(fraud_share=_s(self.fraud_share), penalty=_s(self.penalty), bonus=_s(self.bonus))
        if self.commission is not None:
            out["commission"] = _s(self.commission)
        if self.period is not None:
            out["tier"] = self.tier + 1  # the first tier is 1, as a contract reads
        return out


def _s(d: Decimal) -> str:
    return format(d, "f")


# --- loading -------------------------------------------------------------------------------
def template_names() -> list[str]:
    """The contracts shipped with qalqan (``reports/templates``)."""
    folder = resources.files(__package__) / "templates"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_contract(name_or_path: str | Path) -> Contract:
    """A shipped template by name (``airline-bank``) or a contract file by path."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise ContractError(f"{p}: no such contract file")
        return parse_contract(p.read_text(encoding="utf-8"), str(p))
    name = str(name_or_path)
    res = resources.files(__package__) / "templates" / f"{name}.yaml"
    if not res.is_file():
        raise ContractError(f"--template {name}: no such template; shipped: {', '.join(template_names())} "
                            "(or give the path of a contract file)")
    return parse_contract(res.read_text(encoding="utf-8"), f"templates/{name}.yaml")


def _need(cond: bool, where: str, problem: str) -> None:
    if not cond:
        raise ContractError(f"{where}: {problem}")


def parse_contract(text: str, source: str) -> Contract:
    # BaseLoader keeps every scalar as text: numbers are parsed as exact decimals, never floats.
    try:
        doc = yaml.load(text, Loader=yaml.BaseLoader)  # noqa: S506 - BaseLoader builds no objects
    except yaml.YAMLError as exc:
        raise ContractError(f"{source}: not valid YAML: {exc}") from None
    _need(isinstance(doc, dict), source, "a contract is a mapping (name, period, basis, tiers, ...)")
    unknown = set(doc) - _KEYS
    _need(not unknown, source, f"unknown keys {sorted(unknown)}; known: {sorted(_KEYS)}")
    for key in ("name", "period", "basis", "tiers"):
        _need(key in doc, source, f"{key} is required")
    period = doc["period"]
    _need(period in ("month", "quarter"), f"{source}: period", f"{period!r} is not month or quarter")
    basis = doc["basis"]
    _need(basis in ("count", "value"), f"{source}: basis", f"{basis!r} is not count or value")
    tiers_on = doc.get("tiers_on", "share")
    _need(tiers_on in ("share", "volume"), f"{source}: tiers_on", f"{tiers_on!r} is not share or volume")

    constants: dict[str, Decimal] = {}
    for k, v in (doc.get("constants") or {}).items():
        where = f"{source}: constants.{k}"
        _need(k.isidentifier() and k not in VARIABLES and k not in ("min", "max"), where,
              f"a constant needs a plain name other than {', '.join(VARIABLES)}, min, max")
        try:
            constants[k] = parse_decimal(v, where)
        except FormulaError as exc:
            raise ContractError(str(exc)) from None
    names = {*VARIABLES, *constants}

    raw_tiers = doc["tiers"]
    _need(isinstance(raw_tiers, list) and raw_tiers, f"{source}: tiers", "a non-empty list of tiers")
    tiers: list[Tier] = []
    defined: set[str] = set()
    for i, t in enumerate(raw_tiers):
        where = f"{source}: tiers[{i}]"
        _need(isinstance(t, dict), where, "a tier is a mapping (below, penalty/bonus/commission)")
        bad = set(t) - {"below", *AMOUNTS}
        _need(not bad, where, f"unknown keys {sorted(bad)}; a tier has below and {', '.join(AMOUNTS)}")
        below = None
        if "below" in t:
            b = t["below"]
            below = constants[b] if b in constants else _decimal(b, f"{where}.below")
        last = i == len(raw_tiers) - 1
        _need((below is None) == last, where,
              "every tier but the last has a 'below' bound, and the last has none")
        if tiers and below is not None:
            prev = tiers[-1].below
            _need(prev is not None and below > prev, where, f"bounds must rise: {below} after {prev}")
        formulas: dict[str, Formula] = {}
        texts: dict[str, str] = {}
        for amount in AMOUNTS:
            if amount in t:
                try:
                    formulas[amount] = compile_formula(t[amount], names, f"{where}.{amount}")
                except FormulaError as exc:
                    raise ContractError(str(exc)) from None
                texts[amount] = str(t[amount])
                defined.add(amount)
        _need(bool(formulas), where, f"a tier defines at least one of {', '.join(AMOUNTS)}")
        tiers.append(Tier(below, formulas, texts))

    scope = doc.get("scope") or {}
    types = tuple(scope.get("types") or ("payment",))
    channels = tuple(scope["channels"]) if scope.get("channels") else None
    rounding = doc.get("rounding") or {}
    mode = rounding.get("mode", "half_up")
    _need(mode in _ROUNDING, f"{source}: rounding.mode", f"{mode!r} is not one of {', '.join(_ROUNDING)}")
    return Contract(
        name=doc["name"], title=doc.get("title", doc["name"]), source=source, period=period,  # type: ignore[arg-type]
        basis=basis, tiers_on=tiers_on, currency=doc.get("currency", "RUB"), types=types, channels=channels,
        constants=constants, tiers=tuple(tiers), amounts=tuple(a for a in AMOUNTS if a in defined),
        pays=dict(doc.get("pays") or {}), continuous=str(doc.get("continuous", "false")).lower() == "true",
        quantum=_decimal(rounding.get("quantum", "0.01"), f"{source}: rounding.quantum"), rounding=mode,
    )


def _decimal(text: str, where: str) -> Decimal:
    try:
        return parse_decimal(text, where)
    except FormulaError as exc:
        raise ContractError(str(exc)) from None


# --- settling ------------------------------------------------------------------------------
def _share(volume: Decimal, fraud: Decimal) -> Decimal:
    if not volume:
        return Decimal(0)
    with decimal.localcontext(CONTEXT):
        return fraud / volume


def tier_index(contract: Contract, volume: Decimal, fraud: Decimal) -> int:
    """The tier that holds these figures; a share is compared without dividing."""
    for i, t in enumerate(contract.tiers):
        if t.below is None:
            return i
        if contract.tiers_on == "volume":
            inside = volume < t.below
        else:
            inside = fraud < t.below * volume if volume else Decimal(0) < t.below
        if inside:
            return i
    return len(contract.tiers) - 1


def raw_amounts(contract: Contract, tier: int, volume: Decimal, fraud: Decimal) -> dict[str, Decimal]:
    """Each amount by tier ``tier``'s formulas, unrounded (tests use it to check continuity)."""
    values = {**contract.constants, "volume": volume, "fraud": fraud, "share": _share(volume, fraud)}
    out = {a: Decimal(0) for a in contract.amounts}
    for amount, fn in contract.tiers[tier].formulas.items():
        try:
            out[amount] = fn(values)
        except FormulaError as exc:
            raise ContractError(str(exc)) from None
    return out


def settle(contract: Contract, volume: Decimal, fraud: Decimal) -> Settlement:
    """The penalty, bonus and commission for a period with this volume and fraud."""
    volume, fraud = Decimal(volume), Decimal(fraud)
    if volume < 0 or fraud < 0:
        raise ContractError(f"{contract.name}: volume and fraud cannot be negative ({volume}, {fraud})")
    if fraud > volume:
        raise ContractError(f"{contract.name}: the fraud ({fraud}) cannot exceed the volume ({volume})")
    tier = tier_index(contract, volume, fraud)
    rounding = _ROUNDING[contract.rounding]
    amounts = {a: v.quantize(contract.quantum, rounding=rounding)
               for a, v in raw_amounts(contract, tier, volume, fraud).items()}
    share = _share(volume, fraud)
    share = share.quantize(_SHARE_DIGITS).normalize() if share else Decimal(0)
    return Settlement(contract.name, volume, fraud, share, tier, amounts, quantum=contract.quantum)


def settle_facts(contract: Contract, facts: Facts, fx: Mapping[str, str],
                 merchant: str | None = None) -> list[Settlement]:
    """Settles every contract period that touches the report window, from the record's facts.

    Volume and fraud are the settled movements in the contract's scope (and of ``merchant`` if
    given) and the fraud among them as of ``facts.as_of``; a period the window covers only in
    part is marked ``partial`` and counts only the days in the window."""
    frame = facts.window().filter(pl.col("type").is_in(list(contract.types)) & pl.col("settled"))
    if contract.channels:
        frame = frame.filter(pl.col("channel").is_in(list(contract.channels)))
    if merchant:
        frame = frame.filter(pl.col("merchant") == merchant)
    rate = Converter(fx, facts.currency).rate(facts.currency, contract.currency)
    out: list[Settlement] = []
    for p in periods_between(facts.start, facts.end, contract.period):
        first, last = max(p.start, facts.start), min(p.end - timedelta(days=1), facts.end)
        part = frame.filter(pl.col("date").is_between(first, last))
        if contract.basis == "count":
            volume, fraud = Decimal(part.height), Decimal(int(part["fraud"].sum()))
        else:
            volume = _money(int(part["minor"].sum()), rate)
            fraud = _money(int(part.filter(pl.col("fraud"))["minor"].sum()), rate)
        s = settle(contract, volume, fraud)
        whole = (first, last) == (p.start, p.end - timedelta(days=1))
        out.append(Settlement(
            s.template, s.volume, s.fraud, s.fraud_share, s.tier, s.amounts, period=p.key,
            start=first.isoformat(), end=last.isoformat(), partial=not whole,
            extra={"movements": part.height, "merchant": merchant, "as_of": facts.as_of.isoformat()},
            quantum=contract.quantum,
        ))
    return out


def _money(minor: int, rate: Decimal) -> Decimal:
    value = Decimal(minor).scaleb(-2)
    return value if rate == 1 else (value * rate).quantize(Decimal("0.01"))
