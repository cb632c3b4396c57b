"""The features of a case's event as the engine read them, recomputed point-in-time.

A decision records its reasons, not the feature values behind them. The offline builder
(features/offline.py) is held equal to the online state by a parity test, so running it over the
stored events that came before the case gives the values the rules saw — exactly for features
keyed on the customer and on the devices, cards and accounts they share with linked customers
(their events are included too); a feature keyed on a stranger's account (fan-in to a recipient)
counts only what this neighbourhood sent it. The page says so.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..events import Decision, decode_event
from ..features.definitions import FeatureSet
from ..features.offline import OfflineError, build
from ..features.view import Money, event_view
from ..store.base import Row

MAX_ROWS = 20_000


def point_in_time(rows: list[Row], event_id: str, fs: FeatureSet, money: Money) -> dict[str, Any]:
    """Feature values of ``event_id`` given the earlier ``rows`` (in seq order, the event included)."""
    views: list[dict[str, Any]] = []
    for row in rows[-MAX_ROWS:]:
        v = event_view(decode_event(row.body), money)  # stored bodies are tokenised already
        d = msgspec.json.decode(row.decision, type=Decision) if row.decision else None
        v["action"] = d.action if d is not None else None
        v["reason_codes"] = frozenset(r.code for r in d.reasons) if d is not None else frozenset()
        v["hold_kind"] = d.hold.kind if d is not None and d.hold is not None else None
        views.append(dict(v))
    try:
        table = build(views, fs)
    except OfflineError as exc:
        return {"error": str(exc)}
    mine = table.filter(table["event_id"] == event_id)
    if mine.height == 0:
        return {}
    return {k: v for k, v in mine.row(0, named=True).items() if k != "event_id"}
