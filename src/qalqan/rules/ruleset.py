"""Rule packs: files of rules, compiled once, evaluated on every money movement.

A pack is a YAML file (``rules/packs/<pack>.yaml``): ``params`` (named constants a bank may
override, e.g. the ATM exchange-time norm), ``let`` (named sub-expressions several rules share)
and rules of the form::

    - id: "1.12"                       # reason code <pack>.<id>
      description: ...                 # what the regulation says, for a reader to check
      events: [transfer]               # event types it applies to (cheap pre-filter)
      when: "sbp_self_in_24h_sum > rub(200000) and pair_180d_count == 0"
      action: art8                     # approve|challenge|review|hold|decline, or art8
      reason: "SBP inflow {sbp_self_in_24h_sum!m} RUB; first transfer to this recipient"
      mode: enforce                    # or shadow: recorded, never changes the action
      jurisdictions: [RU]              # whose clients it applies to (default: the pack's)

A pack may say whose clients its rules apply to (``jurisdictions: [KZ]`` at the top; none: every
client's); a rule may narrow it. The engine evaluates, for each event, only the rules of its
client's jurisdiction (jurisdiction.py).

``art8`` is the action 161-FZ art. 8 gives the operation: a card, e-money or SBP operation is
refused (decline), another transfer order is suspended (hold). Every name in ``when`` and in the
reason template is checked at load time; the error names the file and the rule's line.
"""

from __future__ import annotations

import ast
import hashlib
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..events import Reason
from ..jurisdiction import JURISDICTIONS
from .expr import Compiler, ExprError, Fn, Typed
from .types import ANY, FUNC_TYPES, T

PACKS_DIR = Path(__file__).with_name("packs")
ACTIONS = ("approve", "challenge", "review", "hold", "decline")
RULE_ACTIONS = frozenset(ACTIONS) | {"art8"}
MONEY_EVENT_TYPES = frozenset({"payment", "transfer", "atm"})


class RuleError(ValueError):
    pass


class _ReasonFormatter(string.Formatter):
    """Reason templates: ``{x!m}`` prints minor units as money, ``{x!h}`` microseconds as hours."""

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion == "m":
            return "?" if value is None else f"{value / 100:,.2f}".replace(",", " ")
        if conversion == "h":
            return "?" if value is None else f"{value / 3_600_000_000:.1f} h"
        return super().convert_field(value, conversion)


_FMT = _ReasonFormatter()


@dataclass
class Rule:
    code: str
    description: str
    on: frozenset[str]
    when: Fn
    action: str
    reason: str
    mode: str
    source: str
    names: frozenset[str] = frozenset()
    constants: Mapping[str, Any] = field(default_factory=dict)
    # Examples beside the rule: events in the contract's form, and whether the last one hits.
    tests: list[dict[str, Any]] = field(default_factory=list)
    # Whose clients it applies to (RU, KZ); None: everyone's.
    jurisdictions: frozenset[str] | None = None


@dataclass
class RuleSet:
    rules: list[Rule]
    version: str
    packs: list[str]

    def evaluate(self, etype: str, ctx: dict[str, Any],
                 jurisdiction: str | None = None) -> tuple[list[Reason], list[Reason]]:
        """Reasons of the rules that hit: (enforced, shadow). ``jurisdiction``: only the rules that
        apply to a client of that jurisdiction run (None: every rule)."""
        hits: list[Reason] = []
        shadow: list[Reason] = []
        rules = self._by_type.get(etype, ()) if jurisdiction is None else \
            self._by_jurisdiction.get((jurisdiction, etype), ())
        for r in rules:
            if r.when(ctx):
                action = ctx["art8_action"] if r.action == "art8" else r.action
                reason = Reason(code=r.code, source="rule", text=_FMT.vformat(r.reason, (), _Safe(ctx, r.constants)),
                                action=action)
                (hits if r.mode == "enforce" else shadow).append(reason)
        return hits, shadow

    def names_for(self, etype: str) -> set[str]:
        """Every name the rules for this event type read (their conditions and reasons)."""
        return {n for r in self._by_type.get(etype, ()) for n in r.names}

    def __post_init__(self) -> None:
        self._by_type: dict[str, list[Rule]] = {}
        self._by_jurisdiction: dict[tuple[str, str], list[Rule]] = {}
        for r in self.rules:
            for t in r.on:
                self._by_type.setdefault(t, []).append(r)
                for j in JURISDICTIONS:
                    if r.jurisdictions is None or j in r.jurisdictions:
                        self._by_jurisdiction.setdefault((j, t), []).append(r)


class _Safe(dict):  # type: ignore[type-arg]
    def __init__(self, ctx: dict[str, Any], constants: Mapping[str, Any]) -> None:
        super().__init__()
        self.ctx = ctx
        self.constants = constants

    def __missing__(self, key: str) -> Any:
        if key in self.constants:
            value = self.constants[key]
            return value.value if isinstance(value, Typed) else value
        try:
            return self.ctx[key]
        except KeyError:
            return None


def load_packs(
    names: list[str] | None,
    scope: Mapping[str, T] | set[str],
    directory: Path | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> RuleSet:
    """Loads packs by name from ``directory`` (default: the built-in packs), or every pack there.

    ``params`` overrides a pack's parameters: ``{"od2506": {"reading_1_10": "press"}}``; the
    overrides are part of the rule set's version.
    """
    directory = Path(directory) if directory else PACKS_DIR
    if not directory.is_dir():
        raise RuleError(f"{directory}: not a directory of rule packs")
    files = sorted(directory.glob("*.yaml")) if names is None else [directory / f"{n}.yaml" for n in names]
    rules: list[Rule] = []
    digest = hashlib.sha256()
    params = params or {}
    for path in files:
        if not path.exists():
            raise RuleError(f"{path}: no such rule pack")
        text = path.read_text()
        digest.update(path.name.encode() + b"\0" + text.encode() + b"\0")
        override = dict(params.get(path.stem, {}))
        if override:
            digest.update(repr(sorted(override.items())).encode())
        rules.extend(_load_pack(path, text, scope, override))
    codes = [r.code for r in rules]
    dup = {c for c in codes if codes.count(c) > 1}
    if dup:
        raise RuleError(f"duplicate rule codes: {sorted(dup)}")
    return RuleSet(rules, digest.hexdigest()[:12], [p.stem for p in files])


def _line_of(text: str, rule_id: str) -> int:
    forms = (f'"{rule_id}"', f"'{rule_id}'")
    for i, line in enumerate(text.splitlines(), 1):
        if "id:" in line and (any(f in line for f in forms) or line.rstrip().endswith(f" {rule_id}")):
            return i
    return 0


def _params(path: Path, declared: Any, override: dict[str, Any], scope: Mapping[str, T] | set[str]) -> dict[str, Any]:
    """A pack's parameters: plain values, or constants with a unit written as in rules."""
    if declared is None:
        declared = {}
    if not isinstance(declared, dict):
        raise RuleError(f"{path}: `params` must be a mapping of name to value")
    unknown = set(override) - set(declared)
    if unknown:
        raise RuleError(f"{path}: no such parameters {sorted(unknown)}; the pack declares {sorted(declared)}")
    out: dict[str, Any] = {}
    unit_compiler = Compiler(())
    for name, default in declared.items():
        if name in scope:
            raise RuleError(f"{path}: parameter {name!r} shadows a feature or event field")
        value = override.get(name, default)
        if isinstance(value, dict) and "choices" in value:  # {default: x, choices: [...]}
            choices = value["choices"]
            value = override.get(name, value.get("default"))
            if value not in choices:
                raise RuleError(f"{path}: parameter {name} = {value!r}; choose one of {choices}")
        if isinstance(value, str) and "(" in value:
            try:
                tree = ast.parse(value, mode="eval").body
                unit_compiler._where = f"{path}: parameter {name}"
                folded = unit_compiler._const(tree)
            except (SyntaxError, ExprError) as exc:
                raise RuleError(f"{path}: parameter {name}: {exc}") from None
            fname = tree.func.id if isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) else ""
            value = Typed(folded, FUNC_TYPES.get(fname, ANY))
        out[name] = value
    return out


def _load_pack(path: Path, text: str, scope: Mapping[str, T] | set[str], override: dict[str, Any]) -> list[Rule]:
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise RuleError(f"{path}: not valid YAML: {exc}") from None
    pack = doc.get("pack") or path.stem
    pack_jurisdictions = _jurisdictions(doc.get("jurisdictions"), f"{path}: pack {pack}")
    constants = _params(path, doc.get("params"), override, scope)
    compiler = Compiler(scope, constants)
    lets = doc.get("let") or {}
    if not isinstance(lets, dict):
        raise RuleError(f"{path}: `let` must map names to expressions")
    for name, source in lets.items():
        try:  # names and types are checked here, with the file and the let's name in the error
            compiler.define(str(name), str(source), f"{path}: let {name}")
        except ExprError as exc:
            raise RuleError(str(exc)) from None
    out: list[Rule] = []
    for raw in doc.get("rules") or []:
        rid = str(raw.get("id", "?"))
        where = f"{path}:{_line_of(text, rid)} rule {pack}.{rid}"
        unknown = set(raw) - {"id", "description", "events", "when", "action", "reason", "mode", "tests",
                              "jurisdictions"}
        if unknown:
            raise RuleError(f"{where}: unknown keys {sorted(unknown)}")
        for key in ("id", "when", "action"):
            if key not in raw:
                raise RuleError(f"{where}: `{key}` is required")
        action = raw["action"]
        if action not in RULE_ACTIONS:
            raise RuleError(f"{where}: action {action!r} is not one of {sorted(RULE_ACTIONS)}")
        mode = raw.get("mode", "enforce")
        if mode not in ("enforce", "shadow"):
            raise RuleError(f"{where}: mode must be enforce or shadow")
        on = frozenset(raw.get("events") or MONEY_EVENT_TYPES)
        if not on <= MONEY_EVENT_TYPES:
            raise RuleError(f"{where}: rules apply to money movements only, not {sorted(on - MONEY_EVENT_TYPES)}")
        reason = raw.get("reason") or raw.get("description") or f"{pack}.{rid}"
        try:
            when = compiler.compile(str(raw["when"]), where)
        except ExprError as exc:
            raise RuleError(str(exc)) from None
        names = set(compiler.names_used(str(raw["when"]))) - set(constants)
        for _, fname, _, conv in string.Formatter().parse(reason):
            if fname:
                names.add(fname)
            if fname and fname not in compiler.names:
                raise RuleError(f"{where}: the reason refers to unknown name {fname!r}")
            if conv not in (None, "m", "h", "r", "s"):
                raise RuleError(f"{where}: unknown conversion !{conv} in the reason")
        tests = raw.get("tests") or []
        for t in tests:
            if not (isinstance(t, dict) and t.get("expect") in ("hit", "miss") and isinstance(t.get("given"), list)):
                raise RuleError(f"{where}: each test needs `given` (a list of events) and `expect` (hit or miss)")
        jurisdictions = _jurisdictions(raw.get("jurisdictions"), where) if "jurisdictions" in raw \
            else pack_jurisdictions
        if pack_jurisdictions is not None and jurisdictions is not None and not jurisdictions <= pack_jurisdictions:
            raise RuleError(f"{where}: jurisdictions {sorted(jurisdictions)} outside the pack's "
                            f"{sorted(pack_jurisdictions)}")
        out.append(Rule(f"{pack}.{rid}", raw.get("description", ""), on, when, action, reason, mode, str(path),
                        frozenset(names), constants, tests, jurisdictions))
    return out


def _jurisdictions(value: Any, where: str) -> frozenset[str] | None:
    """A pack's or a rule's ``jurisdictions``: a non-empty list of RU / KZ (absent: every client's)."""
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(j in JURISDICTIONS for j in value):
        raise RuleError(f"{where}: `jurisdictions` must be a non-empty list of {list(JURISDICTIONS)}, got {value!r}")
    return frozenset(value)
