"""What a rule may read, and of which type: the event view, every feature output, the lists."""

from __future__ import annotations

import typing

from ..events import EVENT_TYPES
from ..features.definitions import VIEW_NAMES, FeatureSet
from .types import ANY, BOOL, COUNT, DURATION, MONEY, NUMBER, SET, TEXT, TIME, T, python_type

LIST_NAMES = ("recipient_lists", "customer_lists", "card_lists", "device_lists")
ACTIONS = frozenset({"approve", "challenge", "review", "hold", "decline"})

# Derived names of features/view.py and the engine.
_DERIVED: dict[str, T] = {
    "type": T("text", frozenset(EVENT_TYPES)),
    "ts_us": TIME,
    "hour": COUNT,
    "amount_base": MONEY,
    "is_outflow": BOOL,
    "counterparty": TEXT,
    "recipient_account": TEXT,
    "suspicious_link": BOOL,
    "infra_level": T("text", frozenset({"low", "medium", "high"})),
    "art8_action": T("text", ACTIONS),
    "action": T("text", ACTIONS),
    "reason_codes": SET,
    "amount": NUMBER,
    "price": NUMBER,
    "extra": ANY,
    "infra_risk": ANY,
}


def _field_types() -> dict[str, T]:
    """Each contract field's type; a field two event types declare differently is `any`."""
    out: dict[str, T] = {}
    for cls in EVENT_TYPES.values():
        hints = typing.get_type_hints(cls, include_extras=True)
        for name in cls.__struct_fields__:
            t = python_type(hints[name])
            prev = out.get(name)
            if prev is None:
                out[name] = t
            elif prev != t:
                if prev.kind == t.kind == "text" and prev.values and t.values:
                    out[name] = T("text", prev.values | t.values)
                elif prev.kind != t.kind:
                    out[name] = ANY
    return out


def scope(fs: FeatureSet) -> dict[str, T]:
    types = {n: ANY for n in VIEW_NAMES}
    types.update({k: v for k, v in _field_types().items() if k in VIEW_NAMES})
    types.update(_DERIVED)
    for spec in fs.specs:
        for entity in spec.read:
            names = spec.outputs_for(entity)
            if spec.kind == "window":
                aggs = [a for _ in spec.windows for a in spec.aggs]
                for n, a in zip(names, aggs):
                    types[n] = MONEY if a in ("sum", "max") else COUNT
            else:
                types[names[0]] = DURATION
    for n in LIST_NAMES:
        types[n] = SET
    return types
