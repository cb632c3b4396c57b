"""The audit log: every read of a customer's data and every change a person makes, append-only.

Who (the API key's id or the console user), in which organisation and role, when (the wall
clock: this records people, not events), what, and on which target. The record exposes an
append and reads, nothing else; each backend also refuses UPDATE and DELETE on the table with a
trigger, so not even a hand-written SQL statement rewrites history.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .store.base import DEFAULT_ORG
from .store.workflow import Workflow


class Actor(msgspec.Struct, frozen=True):
    """Whoever acts: an API key (``id`` is the key's id) or a console user. ``merchant`` ties a
    merchant-role actor to the ``merchant_id`` of the payments it may see and decide."""

    id: str
    role: str
    org: str = DEFAULT_ORG
    merchant: str | None = None


# With QALQAN_AUTH off (the embedded default) nobody is authenticated: one local operator.
LOCAL = Actor(id="local", role="admin", org=DEFAULT_ORG)


def log(record: Workflow, actor: Actor, action: str, target: str, detail: str = "") -> int:
    """Appends one row (``action`` such as ``case.read``, ``list.add``); returns its id."""
    return record.audit_append(actor.org, actor.id, actor.role, action, target, detail)


def entries(record: Workflow, org: str, after_id: int = 0, limit: int = 100, actor: str | None = None,
            target: str | None = None) -> list[dict[str, Any]]:
    """The organisation's rows in order, after ``after_id`` (for paging)."""
    return record.audit_rows(org, after_id, limit, actor, target)


def log_once(db_url: str, actor: Actor, action: str, target: str, detail: str = "") -> int:
    """Appends one row from outside a server (the CLI's key changes): opens the record, closes it."""
    from .store import open_record

    record = open_record(db_url)
    try:
        return log(record, actor, action, target, detail)  # type: ignore[arg-type]
    finally:
        record.close()
