"""What a person changes from the console, through the same back end as the HTTP API: cases
(cases.py: assign, decide → a label and list entries as events through the engine), list changes
(list_changes.py: `intel` events), hold answers (the engine), each made durable before the page
answers and written to the append-only audit log (audit.py) with the user as the actor.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .. import audit, cases, list_changes
from ..audit import Actor
from ..engine import Engine
from ..events import EventError
from .sessions import Session

if TYPE_CHECKING:
    from ..api.holds import HoldDesk

# The lists people change from the console: the bank's own and the industry consortium's.
# Regulators' lists come from the regulators (intel events from integrators).
LIST_NAMES = ("internal", "consortium")
# What on a case can go on a list, as cases.LISTABLE names it, and what people read.
LISTABLE = [("counterparty", "counterparty (recipient account)"), ("card", "card"), ("device", "device")]
_FIELDS_OF = {"counterparty": ("to_account", "counterparty_id"), "card": ("card_id",), "device": ("device_id",)}


class WorkError(ValueError):
    """Bad input from a form: names the field (the page answers 422)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def actor_of(s: Session) -> Actor:
    return Actor(id=s.user, role=s.role, org=s.org, merchant=s.merchant)


def listable(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(what, label) of the things on this event that can go on a list."""
    return [(w, label) for w, label in LISTABLE if any(body.get(f) for f in _FIELDS_OF[w])]


class Work:
    def __init__(self, engine: Engine, durable: Callable[[], Awaitable[None]], holds: HoldDesk | None = None) -> None:
        from ..api.holds import EngineHolds  # here: the API's app imports the console

        self.engine = engine
        self.record: Any = engine.record
        self.durable = durable
        # Hold answers: the engine's HoldBook in one process; a front's workers (stream/front_console.py).
        self.holds: HoldDesk = holds or EngineHolds(engine, durable)

    def log(self, s: Session, action: str, target: str, detail: str = "") -> None:
        audit.log(self.record, actor_of(s), action, target, detail)

    def journal(self, s: Session, target: str) -> list[dict[str, Any]]:
        """The audit rows about ``target`` (this organisation's), changes only."""
        rows = audit.entries(self.record, s.org, target=target, limit=200)
        return [r for r in rows if not r["action"].endswith((".read", ".list"))]

    async def assign(self, s: Session, case_id: int) -> cases.Case:
        case = cases.assign(self.record, actor_of(s), case_id, s.user)
        self.log(s, "case.assign", f"case:{case_id}", s.user)
        return case

    async def decide(self, s: Session, case_id: int, outcome: str, note: str, add_to: list[str],
                     list_name: str) -> cases.Case:
        try:
            pending = cases.decide(self.engine, actor_of(s), case_id, outcome, note, add_to, list_name or "internal")
        except EventError as exc:  # CaseInputError among them
            raise WorkError(exc.field, exc.problem) from None
        await self.durable()
        case = cases.finish(self.record, pending)
        detail = f"{outcome} add_to={','.join(add_to)}" if add_to else outcome
        self.log(s, "case.decide", f"case:{case_id}", detail + (f" note={pending.note}" if pending.note else ""))
        return case

    async def list_change(self, s: Session, list_name: str, entity: str, value: str, op: str,
                          expires_at: str | None, tokenised: bool) -> str:
        if list_name not in LIST_NAMES:
            raise WorkError("list", f"must be one of {', '.join(LIST_NAMES)}, not {list_name!r}")
        if not value.strip():
            raise WorkError("value", "must not be empty")
        try:
            outcome = list_changes.change(self.engine, actor_of(s), list_name, entity, value.strip(), op,
                                          expires_at=expires_at or None, tokenised=tokenised)
        except EventError as exc:
            raise WorkError(exc.field, exc.problem) from None
        await self.durable()
        token = value.strip() if tokenised else self.engine.tokenizers.of(actor_of(s).org).token(value.strip())
        self.log(s, f"list.{op}", f"list:{list_name}", f"{entity}:{token}")
        return f"{op} {entity} {'on' if op == 'add' else 'off'} {list_name}" + (" (again)" if outcome.duplicate else "")

    async def answer_hold(self, s: Session, event_id: str, verb: str) -> str:
        if verb not in ("confirm", "reject", "repeat"):
            raise WorkError("verb", f"must be confirm, reject or repeat, not {verb!r}")
        try:
            await self.holds.answer(event_id, verb, "client", self.engine.now_ts(), s.org)  # durable when it returns
        except EventError as exc:
            raise WorkError(exc.field, exc.problem) from None
        self.log(s, f"hold.{verb}", f"event:{event_id}", "client" if verb != "repeat" else "")
        return f"hold {event_id}: {verb} recorded"


__all__ = ["LISTABLE", "LIST_NAMES", "Work", "WorkError", "actor_of", "listable"]
