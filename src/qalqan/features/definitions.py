"""Feature definitions, loaded from data (definitions.yaml) and checked at load time."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..rules.expr import Compiler, ExprError, Fn

DEFAULT_PATH = Path(__file__).with_name("definitions.yaml")



def scoped(v: Any, value: Any) -> Any:
    """A key that is no token (a merchant's, an ATM's id) is the organisation's own: the engine
    sets ``scope`` on the views of any organisation but the default one (tenancy.py)."""
    s = v.get("scope")
    return value if s is None or value is None else f"{s}\x1f{value}"


# How each entity's key is taken from the event view. Pairs join two tokens.
ENTITIES: dict[str, Any] = {
    "customer": lambda v: v["customer_id"],
    "card": lambda v: v.get("card_id"),
    "device": lambda v: v.get("device_id"),
    "ip": lambda v: v.get("ip"),
    "merchant": lambda v: scoped(v, v.get("merchant_id")),
    "atm": lambda v: scoped(v, v.get("atm_id")),
    "account": lambda v: v.get("recipient_account"),
    "counterparty": lambda v: v.get("counterparty"),
    "to_customer": lambda v: v.get("to_customer_id"),
    "customer_counterparty": lambda v: (c := v.get("counterparty")) and f"{v['customer_id']}|{c}",
    "customer_device": lambda v: (d := v.get("device_id")) and f"{v['customer_id']}|{d}",
}
KINDS = ("window", "last_seen", "first_seen")
AGGS = ("count", "sum", "max", "distinct")
# Names every filter and rule may read from the event view (features/view.py).
VIEW_NAMES = frozenset(
    """type event_id ts ts_us hour customer_id amount amount_base currency is_outflow counterparty
    recipient_account card_id merchant_id mcc merchant_country channel auth_method liveness_score
    device_id ip country infra_risk infra_level direction rail from_account to_account counterparty_id
    counterparty_type counterparty_bank self_transfer operation atm_id tokenized contactless
    apdu_response_ms success isp os app field source kind active sender_known sender_kind count
    duration_s listing_id title text price category city phone phone_country to_customer_id
    target_event_id label list entity value op expires_at suspicious_link extra action reason_codes
    response by""".split()
)
_DURATION = re.compile(r"^(\d+)\s*(s|min|h|d)$")
_UNIT_US = {"s": 1_000_000, "min": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000}


class DefinitionError(ValueError):
    pass


def parse_duration(text: Any, where: str) -> int:
    m = _DURATION.match(str(text).strip())
    if not m:
        raise DefinitionError(f"{where}: duration {text!r} must look like 90s, 10min, 24h or 180d")
    return int(m.group(1)) * _UNIT_US[m.group(2)]


@dataclass
class FeatureSpec:
    name: str
    kind: str
    entity: str
    on: frozenset[str]
    read: tuple[str, ...]
    windows: tuple[str, ...] = ()  # as named in outputs: "1h", "24h", "180d", "lt24h"
    windows_us: tuple[int, ...] = ()
    aggs: tuple[str, ...] = ()
    distinct: str | None = None
    where: str | None = None
    ttl_us: int = 0
    where_fn: Fn | None = field(default=None, repr=False)

    def outputs_for(self, read_entity: str) -> list[str]:
        prefix = "" if read_entity == self.read[0] else ("cp_" if read_entity == "counterparty" else f"{read_entity}__")
        if self.kind == "window":
            return [f"{prefix}{self.name}_{w}_{a}" for w in self.windows for a in self.aggs]
        return [f"{prefix}{self.name}"]

    @property
    def outputs(self) -> list[str]:
        return [o for e in self.read for o in self.outputs_for(e)]


@dataclass
class FeatureSet:
    specs: list[FeatureSpec]
    version: str

    @property
    def names(self) -> list[str]:
        return [o for s in self.specs for o in s.outputs]


def load(path: Path | str = DEFAULT_PATH) -> FeatureSet:
    path = Path(path)
    text = path.read_text()
    doc = yaml.safe_load(text) or {}
    raw_specs = doc.get("features")
    if not isinstance(raw_specs, list):
        raise DefinitionError(f"{path}: expected a list under `features`")
    specs: list[FeatureSpec] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_specs):
        where = f"{path}: feature #{i + 1} ({raw.get('name', '?') if isinstance(raw, dict) else '?'})"
        specs.append(_spec(raw, where))
    outputs = [o for s in specs for o in s.outputs]
    for o in outputs:
        if o in seen:
            raise DefinitionError(f"{path}: output {o!r} is defined twice")
        if o in VIEW_NAMES:  # reading it would overwrite the event's own field
            raise DefinitionError(f"{path}: output {o!r} has the name of an event field")
        seen.add(o)
    # Filters may read the event view and any feature value read before the update.
    compiler = Compiler(VIEW_NAMES | set(outputs))
    for s in specs:
        if s.where:
            try:
                s.where_fn = compiler.compile(s.where, f"{path}: feature {s.name}")
            except ExprError as exc:
                raise DefinitionError(str(exc)) from None
    version = hashlib.sha256(text.encode()).hexdigest()[:12]
    return FeatureSet(specs, version)


def _spec(raw: Any, where: str) -> FeatureSpec:
    if not isinstance(raw, dict):
        raise DefinitionError(f"{where}: expected a mapping")
    unknown = set(raw) - {"name", "kind", "entity", "events", "read", "windows", "aggs", "distinct", "where", "ttl"}
    if unknown:
        raise DefinitionError(f"{where}: unknown keys {sorted(unknown)}")
    name, kind, entity = raw.get("name"), raw.get("kind"), raw.get("entity")
    if not isinstance(name, str) or not re.match(r"^[a-z][a-z0-9_]*$", name):
        raise DefinitionError(f"{where}: name must be snake_case")
    if kind not in KINDS:
        raise DefinitionError(f"{where}: kind must be one of {KINDS}")
    read = tuple(raw.get("read") or [entity])
    for e in (entity, *read):
        if e not in ENTITIES:
            raise DefinitionError(f"{where}: unknown entity {e!r}; known: {sorted(ENTITIES)}")
    on = raw.get("events")
    if not isinstance(on, list) or not on:
        raise DefinitionError(f"{where}: `events` must list event types")
    spec = FeatureSpec(name=name, kind=kind, entity=entity, on=frozenset(on), read=read, where=raw.get("where"))
    if kind == "window":
        windows = raw.get("windows")
        if not isinstance(windows, list) or not windows:
            raise DefinitionError(f"{where}: `windows` must list durations, e.g. [1h, 24h]")
        written = [str(w).replace(" ", "") for w in windows]
        # "24h" is [ts - 24 h, ts]: "within 24 hours" includes an event exactly 24 h earlier.
        # "<24h" is (ts - 24 h, ts], for "less than 24 hours before" (ОД-2506 1.12): on integer
        # microseconds that is the closed window one microsecond shorter.
        spec.windows = tuple(f"lt{w[1:]}" if w.startswith("<") else w for w in written)
        spec.windows_us = tuple(
            parse_duration(w[1:], where) - 1 if w.startswith("<") else parse_duration(w, where) for w in written
        )
        if list(spec.windows_us) != sorted(set(spec.windows_us)):
            raise DefinitionError(f"{where}: `windows` must be distinct and from shortest to longest")
        spec.aggs = tuple(raw.get("aggs") or ("count",))
        bad = set(spec.aggs) - set(AGGS)
        if bad:
            raise DefinitionError(f"{where}: unknown aggs {sorted(bad)}; known: {AGGS}")
        if "distinct" in spec.aggs:
            spec.distinct = raw.get("distinct")
            if spec.distinct not in VIEW_NAMES:
                raise DefinitionError(f"{where}: `distinct` must name an event field")
    else:
        spec.ttl_us = parse_duration(raw.get("ttl", "400d"), where)
    return spec
