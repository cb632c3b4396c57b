"""Which partition an event belongs to, and the names every process derives from the stream's.

A customer's events must be decided in order by one worker, so the partition is a function of
the customer's keyed token (privacy.py): every process configured with the same key agrees, and
no raw identifier is needed to route. Some context events feed state that other customers'
events read (``broadcast_types``): they go to every partition (one copy each, in stream order
with that partition's events), so each worker applies them at the same point of its stream as
one process would.
"""

from __future__ import annotations

from functools import cache

from ..events import MONEY_TYPES, Event
from ..features import definitions
from ..privacy import Tokenizer

# Every partition of a stream: events of the broadcast types are copied to all of them.
EVERY = -1
# The record numbers a partition's rows local * PARTS_MAX + partition (record.py).
PARTS_MAX = 1024


class PartitionError(ValueError):
    """A partition spec that cannot be used; says what was expected."""


def parse_spec(spec: str) -> tuple[int, int]:
    """``"I/N"`` → (I, N) with 0 ≤ I < N ≤ PARTS_MAX."""
    try:
        i_raw, n_raw = spec.split("/")
        i, n = int(i_raw), int(n_raw)
    except ValueError:
        raise PartitionError(f"--partition: expected I/N (e.g. 0/2), got {spec!r}") from None
    if not 1 <= n <= PARTS_MAX:
        raise PartitionError(f"--partition: N must be 1..{PARTS_MAX}, got {n}")
    if not 0 <= i < n:
        raise PartitionError(f"--partition: I must be 0..{n - 1}, got {i}")
    return i, n


def of_token(token: str, parts: int) -> int:
    """A token is a hex keyed hash: its first 48 bits are uniform, so modulo spreads evenly."""
    return int(token[:12], 16) % parts


@cache
def broadcast_types() -> frozenset[str]:
    """The event types every partition folds. ``intel``: the lists every partition reads. And the
    context events that feed a customer's feature read by other customers' events (the feature
    definitions say so: ``read`` names another entity, e.g. a seller's ``listing`` events read by
    the buyers' payments as their counterparty's). Money movements are never copied: each is
    decided once; a feature of theirs read across customers is where partitions meet
    (docs/scaling.md)."""
    out = {"intel"}
    for spec in definitions.load().specs:
        if spec.entity == "customer" and any(r != "customer" for r in spec.read):
            out |= {t for t in spec.on if t not in MONEY_TYPES}
    return frozenset(out)


def partition_of(event: Event, tokenizer: Tokenizer, parts: int) -> int:
    """The partition of a raw (not yet protected) event, or EVERY for the broadcast types.

    A ``message`` goes to its addressee's partition: the only state it feeds is keyed by the
    addressee (``since_suspicious_link``), read later by the addressee's own payments.
    """
    etype = event.__struct_config__.tag  # type: ignore[union-attr]
    if etype in broadcast_types():
        return EVERY
    who = event.customer_id
    if etype == "message" and getattr(event, "to_customer_id", None):
        who = event.to_customer_id  # type: ignore[union-attr]
    return of_token(tokenizer.token(who), parts)


def events_subject(stream: str, part: int) -> str:
    return f"{stream}.events.{part}"


def decisions_subject(stream: str, part: int) -> str:
    return f"{stream}.decisions.{part}"


def durable_name(stream: str, part: int, parts: int) -> str:
    """One durable consumer per partition and partition count: changing N starts new cursors."""
    return f"{stream}-p{part}-of-{parts}"
