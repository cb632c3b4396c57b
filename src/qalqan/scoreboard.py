"""How the decisions in a record fare against the labels that came back.

Used by ``qalqan demo``: per fraud scenario (the simulator labels each fraudulent money movement
with its scenario), how many were stopped (any action but approve) and how many passed; and the
share of the other money movements that were not approved — the friction put on honest clients.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import msgspec

from .store import Record

FRAUD_LABELS = frozenset({"fraud", "chargeback"})


class _LabelBody(msgspec.Struct):
    target_event_id: str
    label: str
    extra: dict | None = None  # type: ignore[type-arg]


@dataclass
class Scoreboard:
    actions: Counter[str] = field(default_factory=Counter)
    caught: Counter[str] = field(default_factory=Counter)
    missed: Counter[str] = field(default_factory=Counter)
    legit_total: int = 0
    legit_not_approved: int = 0
    legit_by_action: Counter[str] = field(default_factory=Counter)

    @property
    def friction(self) -> float:
        return self.legit_not_approved / self.legit_total if self.legit_total else 0.0

    @property
    def scenarios(self) -> list[str]:
        return sorted(set(self.caught) | set(self.missed))


def score_record(record: Record) -> Scoreboard:
    decode = msgspec.json.Decoder(_LabelBody).decode
    actions: dict[str, str] = {}
    fraud: dict[str, str] = {}
    for row in record.rows_after(0):
        if row.action is not None:
            actions[row.event_id] = row.action
        elif row.type == "label":
            lb = decode(row.body)
            if lb.label in FRAUD_LABELS:
                fraud[lb.target_event_id] = str((lb.extra or {}).get("scenario") or "unnamed")
    sb = Scoreboard()
    for eid, action in actions.items():
        sb.actions[action] += 1
        scenario = fraud.get(eid)
        if scenario is None:
            sb.legit_total += 1
            sb.legit_by_action[action] += 1
            sb.legit_not_approved += action != "approve"
        elif action == "approve":
            sb.missed[scenario] += 1
        else:
            sb.caught[scenario] += 1
    return sb
