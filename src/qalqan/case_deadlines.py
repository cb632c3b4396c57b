"""The clock closes the cases no one decided in time (issue 15, "grey deadlines").

A `review` payment waits for a person; at its case's deadline (deadlines.py) the server's clock
takes the configured default action: the case becomes ``decided`` with the outcome
``declined_at_deadline`` or ``approved_at_deadline``, ``updated_by`` = ``clock``, a note naming the
rule that applied; an audit row (actor ``clock``, role ``system``) and an outbox notice
(``case_deadline_decline`` / ``case_deadline_approve``, sent on by the webhooks) are written in the
same transaction. A hold's case follows its hold: past its deadline, once the hold book has
released, rejected or replaced the hold (its own notice is in the outbox already), the case is
closed with that outcome (``hold_released`` …) and no second notice.

Each close is a compare-and-set on the case's state (``update_case``: open or assigned → decided),
so two processes sweeping the same record at once act once, and a person who decided first is
never overridden. Sweeps run on a live server's clock (``serve``: api/app.py's ticks; a scaled
front: stream/front_people.py); replay and the CLI never close cases.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .cases import CasePolicy, sync
from .events import us_to_rfc3339
from .store.workflow import Workflow

log = logging.getLogger("qalqan.deadlines")
CLOCK = "clock"  # who the case and the audit log say decided: the server's clock
CLOCK_ROLE = "system"
OUTCOMES = {"decline": "declined_at_deadline", "approve": "approved_at_deadline"}
_HOLD_OUTCOMES = ("hold_released", "hold_rejected", "hold_replaced")


def sweep(record: Workflow, now_us: int, policy: CasePolicy, limit: int = 500) -> list[dict[str, Any]]:
    """Opens the cases of newly durable decisions, then closes every open or assigned case whose
    deadline is at or before ``now_us`` (the server's clock). Returns the cases this call closed
    (another process's closes are not counted)."""
    sync(record, policy)
    closed = []
    for case in record.due_cases(now_us, limit):
        if case["action"] == "hold":
            done = _close_hold_case(record, case)
        else:
            done = _close_review(record, case, policy)
        if done is not None:
            closed.append(done)
    return closed


def _close_review(record: Workflow, case: dict[str, Any], policy: CasePolicy) -> dict[str, Any] | None:
    rule = policy.deadlines.resolve(case["org"], case["type"], case["merchant_id"])
    outcome = OUTCOMES[rule.action]
    due = us_to_rfc3339(int(case["due_us"]))
    note = f"no decision by {due}: the default action for {rule.source} is {rule.action}"
    notice = (int(case["due_us"]), case["customer"], case["event_id"], f"case_deadline_{rule.action}",
              f"case {case['id']}: {note}", case["org"])
    won = record.update_case(case["org"], int(case["id"]), ("open", "assigned"), CLOCK, notice=notice,
                             audit=(CLOCK, CLOCK_ROLE, "case.deadline", f"{outcome} ({rule.source})"),
                             state="decided", outcome=outcome, note=note)
    return {**case, "state": "decided", "outcome": outcome, "note": note} if won else None


def _close_hold_case(record: Workflow, case: dict[str, Any]) -> dict[str, Any] | None:
    ended = record.hold_outcome(case["org"], case["event_id"])
    if ended is None:  # the hold book has not acted yet (its tick comes first): the next sweep
        return None
    kind, text = ended
    note = f"the hold ended: {text}"
    won = record.update_case(case["org"], int(case["id"]), ("open", "assigned"), CLOCK,
                             audit=(CLOCK, CLOCK_ROLE, "case.deadline", kind),
                             state="decided", outcome=kind, note=note)
    return {**case, "state": "decided", "outcome": kind, "note": note} if won else None


class Sweeper:
    """A live server's sweep: ``source.record`` is read at each call (an engine swaps its record
    when it recovers), ``clock`` is the server's (integer µs)."""

    def __init__(self, source: Any, clock: Callable[[], int], policy: CasePolicy | None = None) -> None:
        self.source, self.clock = source, clock
        self.policy = policy or CasePolicy.from_env()
        self._indexed: Any = None  # the record the sweep's index was made in

    def run(self) -> int:
        """One sweep (blocking: a server calls it on a thread); returns how many cases it closed."""
        record = self.source.record
        if record is not self._indexed:
            record.due_index()
            self._indexed = record
        closed = sweep(record, self.clock(), self.policy)
        for c in closed:
            log.info("case %s (%s, org %s) closed by the clock: %s", c["id"], c["event_id"], c["org"], c["outcome"])
        return len(closed)


__all__ = ["CLOCK", "OUTCOMES", "Sweeper", "sweep"]
