"""Allow, block and grey lists with expiry on event time, fed by `intel` events and analysts.

An entry is (list, entity, value token) with an optional expiry. Lists from regulators and the
industry (FinCERT, ГИС «Антифрод», the Kazakh Anti-Fraud Center, criminal cases, the bank's own)
are deny lists; `allow` entries (analysts') soften only the engine's own judgement, never a
regulator's database hit (policy.py enforces that).
"""

from __future__ import annotations

from typing import Any

import msgspec

REGULATOR_LISTS = frozenset({"cbr_fincert", "gis_antifraud", "criminal_case", "kz_antifraud_center"})
ALLOW_LIST = "allow"
# Keyed by the consortium's tokens (intel/), not the organisation's: the only list they are looked up in.
CONSORTIUM = frozenset({"consortium"})
NONE: frozenset[str] = frozenset()


class ListIndex:
    """The in-memory index of every list entry; the record keeps the durable copy."""

    def __init__(self) -> None:
        # (entity, value) -> {list name: expires_at_us or None}
        self.entries: dict[tuple[str, str], dict[str, int | None]] = {}
        self.changes = 0  # counts applied changes: a copy kept elsewhere is rewritten only after one

    def apply(self, list_name: str, entity: str, value: str, op: str, expires_us: int | None) -> None:
        self.changes += 1
        key = (entity, value)
        if op == "add":
            self.entries.setdefault(key, {})[list_name] = expires_us
        else:
            lists = self.entries.get(key)
            if lists is not None:
                lists.pop(list_name, None)
                if not lists:
                    del self.entries[key]

    def lists_of(self, entity: str, value: Any, ts_us: int) -> frozenset[str]:
        """The lists holding this value at event time ts (expired entries do not count)."""
        if value is None:
            return NONE
        lists = self.entries.get((entity, value))
        if not lists:
            return NONE
        return frozenset(name for name, exp in lists.items() if exp is None or ts_us < exp)

    def __len__(self) -> int:
        return sum(len(v) for v in self.entries.values())

    def dump(self) -> bytes:
        return msgspec.msgpack.encode([[e, v, lists] for (e, v), lists in self.entries.items()])

    def load(self, blob: bytes) -> None:
        self.entries = {(e, v): dict(lists) for e, v, lists in msgspec.msgpack.decode(blob)}
        self.changes += 1
