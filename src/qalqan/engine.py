"""The one decision path. Every way in (HTTP, replay, stream, backtest) calls ``Engine.decide``.

    decode → protect → enrich → features → rules → models → policy → record

A money movement gets a decision; a context event is folded into state and answered with none.
Writes are buffered and committed in groups (``commit_every``); callers hand an answer out only
after ``commit`` returns (``Engine.commit`` is the durability point). State is a pure function of
the committed events: on open, the engine loads the last snapshot and folds the later events, so
a restart after SIGKILL decides the rest of a stream exactly as an uninterrupted run would.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from .config import Settings
from .events import (
    MONEY_TYPES,
    Decision,
    Event,
    EventConflict,
    EventError,
    Fallback,
    Hold,
    Reason,
    TargetNotFound,
    check_sent,
    decode_event,
    refuse_ahead,
    same_event,
    scoped_id,
    ts_to_us,
    us_to_rfc3339,
)
from .fallbacks import stricter
from .features import definitions
from .features.online import OnlineFeatures
from .features.view import Money, event_view
from .holds import HoldBook, HoldPolicy, Notice, hold_answer, repeated_order
from .jurisdiction import ardfm_notice, resolve
from .lists import CONSORTIUM, ListIndex
from .model_guard import ModelGuard
from .models import Scorer
from .models.registry import load_live_model
from .policy import ModelPolicy, decide_action, is_allowed
from .privacy import CX_FIELD
from .rules.ruleset import RuleSet, load_packs
from .rules.scope import scope
from .seen import SeenIds
from .state import RedisState, open_state, record_namespace
from .store import Record, open_record
from .store.base import DEFAULT_ORG, Batch, DuplicateEvents, ListRow, Row
from .tenancy import Tokenizers

__all__ = ["Engine", "Outcome", "EventError", "DEFAULT_PACKS"]

DEFAULT_PACKS = ["od2506", "od1765", "kz", "cnp", "ato", "marketplace", "mules", "consortium"]

_encode = msgspec.json.encode
_RECENT_MAX = 500_000


@dataclass(slots=True)
class Outcome:
    event_id: str
    type: str
    decision: Decision | None
    decision_json: bytes | None
    duplicate: bool = False
    # Hits of a candidate rule set run in shadow beside the live one (backtests).
    candidate: list[Reason] | None = None


def _art8_action(v: dict[str, Any]) -> str:
    """161-FZ art. 8: a card or SBP operation is refused; another transfer order is suspended."""
    if v["type"] == "transfer" and v["rail"] not in ("sbp", "card2card"):
        return "hold"
    return "decline"


_NO_CODES: frozenset[str] = frozenset()
_NO_EXTRA: dict[str, Any] = {}


def _org_key(org: str, value: Any) -> Any:
    """A list entry of an organisation other than the default one is keyed apart, so that one
    organisation's lists never decide another's events (the default's keys stay the plain token)."""
    return value if org == DEFAULT_ORG or value is None else f"{org}\x1f{value}"


def _decision_view(v: dict[str, Any], decision: Decision | None) -> None:
    """What was decided becomes part of the event as the state sees it: features may count
    refused withdrawals or remember a restriction's start (ОД-1765)."""
    if decision is None:
        v["action"], v["reason_codes"], v["hold_kind"] = None, _NO_CODES, None
    else:
        v["action"] = decision.action
        v["reason_codes"] = frozenset(r.code for r in decision.reasons)
        v["hold_kind"] = decision.hold.kind if decision.hold else None


class Engine:
    def __init__(
        self,
        settings: Settings,
        record: Record | None = None,
        rules: RuleSet | None = None,
        model: Scorer | None = None,
        snapshot_every: int | None = None,
        state_namespace: str | None = None,
    ) -> None:
        self.settings = settings
        self.record: Record = record or open_record(settings.db_url, settings.record_budget_ms / 1000)
        # QALQAN_STATE: a copy of the state outside the process (state/), keyed by the record
        # (or the worker's partition of it); None: in-process only, and no cost per commit.
        self.state: RedisState | None = open_state(
            settings.state_url, state_namespace or record_namespace(self.record.url))
        # Each organisation's identifiers are tokenised under its own key (tenancy.py): its
        # feature state, lists and holds never meet another's.
        self.tokenizers = Tokenizers(settings.key, settings.consortium_key)
        self.tokenizer = self.tokenizers.default
        self.money = Money(settings.fx)
        self.feature_set = definitions.load()
        self.rules = rules or self.load_rules()
        self.candidates: RuleSet | None = None
        self.model: Scorer = model or load_live_model(settings, self.feature_set.version)
        self.hold_policy = HoldPolicy()
        self.model_policy = ModelPolicy()
        # The model's budget (model_guard.py): kept only on a live server (``use_clock``).
        self.guard = ModelGuard(settings.model_budget_ms, settings.model_cooldown_s)
        self.snapshot_every = snapshot_every or settings.snapshot_every
        self._versions_key: tuple[str, str, str] | None = None
        self._versions: dict[str, str] = {}
        self.features = self._new_features()
        self.lists = ListIndex()
        self.holds = HoldBook(self.hold_policy)
        self.seen = SeenIds()
        # Keyed by scoped_id(org, event_id): an event id is unique within its organisation only.
        self._recent: dict[str, bytes | None] = {}
        # Old ids sent again with a new time (store.base.DuplicateEvents): always asked of the record.
        self._ask_record: set[str] = set()
        self._pending = 0
        self._since_snapshot = 0
        # Replay commits every ``commit_every`` events from inside ``decide``; the HTTP server
        # turns this off and commits groups itself, on a writer thread.
        self.auto_commit = True
        self.seq = 0
        # None: deadlines run on the events' own time (replay); live serving sets the server's clock.
        self.clock: Callable[[], int] | None = None
        self.restored = self._restore()
        if self.state is not None:
            self.state.on_restored(self)

    def load_rules(self, directory: Path | None = None, packs: list[str] | None = None) -> RuleSet:
        """Compiles a rule set against this engine's features (refused whole if any rule is bad)."""
        directory = directory or self.settings.rules_dir
        names = packs if packs is not None else (None if directory else DEFAULT_PACKS)
        return load_packs(names, scope(self.feature_set), directory, self.settings.rule_params)

    def reload_rules(self, directory: Path | None = None, packs: list[str] | None = None) -> str:
        """Swaps in a new rule set between two events: a request is decided wholly by the old
        set or wholly by the new one. Returns the new version."""
        rules = self.load_rules(directory, packs)
        self.rules = rules
        self.features.replan(self._needs())
        return rules.version

    def _needs(self) -> dict[str, set[str]]:
        """What each money movement reads before the rules run: the model's inputs. The rules
        read the rest lazily, as they name it (features/view.py, LazyView)."""
        wanted = self.model.features
        return {t: set(self.feature_set.names) if wanted is None else set(wanted) for t in MONEY_TYPES}

    def shadow_candidates(self, rules: RuleSet | None) -> None:
        """Runs a candidate rule set beside the live one: its hits are reported, never acted on."""
        self.candidates = rules
        self.features.replan(self._needs())

    def _new_features(self) -> OnlineFeatures:
        """Money movements read what their rules and the model read; context events only what
        their filters need: a feature nobody reads is not computed on the hot path."""
        return OnlineFeatures(self.feature_set, self._needs())

    @property
    def pending(self) -> int:
        """Events decided but not yet durable."""
        return self._pending

    @property
    def versions(self) -> dict[str, str]:
        """What decided: recorded on every decision (one shared dict, rebuilt when a part changes)."""
        key = (self.rules.version, self.model.version, self.feature_set.version)
        if self._versions_key != key:
            self._versions_key = key
            self._versions = {"rules": key[0], "model": key[1], "features": key[2]}
        return self._versions

    # --- the path -------------------------------------------------------------------------
    def decide(self, data: bytes | str, org: str = DEFAULT_ORG) -> Outcome:
        """Decides one raw JSON event of organisation ``org`` (the API key's; replay and the CLI
        use the default one). Raises ``EventError`` (nothing stored) on bad input."""
        t0 = time.perf_counter_ns()
        event = decode_event(data)
        return self.decide_event(event, t0, org=org, sent=True)

    # --- answers to holds (the API and the CLI call these) ------------------------------------
    def answer_hold(self, target: str, response: str, by: str = "client", ts: str | None = None,
                    org: str = DEFAULT_ORG) -> Outcome:
        """The client's (or trusted person's) answer, as an event: idempotent per answer."""
        held = self.holds.of(target, org)
        if held is None:
            raise TargetNotFound("target_event_id", f"no hold on event {target!r}")
        return self.decide_event(hold_answer(target, response, by, ts or self.now_ts(), held.customer),
                                 protected=True, org=org)

    def repeat_hold(self, target: str, ts: str | None = None, org: str = DEFAULT_ORG) -> Outcome:
        """The client repeats a suspended order with the same details (art. 8)."""
        stored = self._stored_row(target, org)
        if stored is None or self.holds.of(target, org) is None:
            raise TargetNotFound("target_event_id", f"no hold on event {target!r}")
        return self.decide_event(repeated_order(target, stored, ts or self.now_ts()), protected=True, org=org)

    def decide_event(self, event: Event, t0: int | None = None, protected: bool = False,
                     org: str = DEFAULT_ORG, sent: bool = False) -> Outcome:
        """``sent``: the event came as sent by a client (not built by qalqan's own people's API),
        so an id it reuses must carry the same event (idempotency by content)."""
        t0 = t0 or time.perf_counter_ns()
        eid = event.event_id
        etype: str = event.__struct_config__.tag  # type: ignore[assignment]
        key = scoped_id(org, eid)
        seen = self._seen(key, eid, org, event.ts)
        if seen is not None:
            if sent:
                self._same_as_stored(event, etype, org)
            stored_json = seen[1]
            stored = msgspec.json.decode(stored_json, type=Decision) if stored_json else None
            return Outcome(eid, etype, stored, stored_json, duplicate=True)

        clock_us = self._clock_for(event)
        if sent:
            check_sent(event)  # e.g. an allow-list entry: people make those, never a client's events
        if etype == "hold_response" and self.holds.of(event.target_event_id, org) is None:  # type: ignore[union-attr]
            # Only the organisation that holds the transfer may answer for its client.
            raise TargetNotFound("target_event_id", f"no hold on event {event.target_event_id!r}")  # type: ignore[union-attr]
        if not protected:  # events rebuilt from the record carry tokens already
            self.tokenizers.of(org).protect(event)
        v = event_view(event, self.money)
        if "amount" in v and v.get("amount_base") is None:  # never a silent skip of every amount rule
            raise EventError("currency", f"no exchange rate for {v['currency']!r}: known currencies are "
                                         f"{', '.join(sorted(self.money.rates))} (configure the rate table)")
        v.features = self.features
        if org != DEFAULT_ORG:
            v["scope"] = org  # merchants' and ATMs' keys are the organisation's own (tenancy.py)
        self._advance(v["ts_us"] if clock_us is None else clock_us)
        money = etype in MONEY_TYPES
        decision: Decision | None = None
        decision_json: bytes | None = None
        if money:
            self._enrich(v, org)
            self.features.read(v, v)
            v["art8_action"] = _art8_action(v)
            # Only the packs of the client's jurisdiction run (jurisdiction.py): the event's, else its org's.
            v["jurisdiction"] = jurisdiction = self.jurisdiction(v, org)
            hits, shadow = self.rules.evaluate(etype, v, jurisdiction)
            candidate = self.candidates.evaluate(etype, v, jurisdiction)[0] if self.candidates is not None else None
            # A model that raises or is late never fails a decision (model_guard.py): the decision
            # takes its channel's fallback as well (fallbacks.py), the strictest action winning.
            score, model_reasons, failed = self.guard.score(self.model, v)
            allowed = is_allowed(v["recipient_lists"], v["customer_lists"])
            action, reasons = decide_action(hits + model_reasons, score, allowed, self.model_policy)
            fallback: Fallback | None = None
            if failed is not None:
                fallback, action = self._fallback(v, "model", failed, action, reasons)
            if etype == "transfer" and v["direction"] == "out":
                action = self._repeat(v, action, reasons)
            decision = Decision(
                event_id=eid,
                action=action,  # type: ignore[arg-type]
                score=round(score, 6),
                reasons=reasons,
                hold=self._hold_terms(v, reasons) if action == "hold" else None,
                versions=self.versions,
                shadow=shadow or None,
                fallback=fallback,
                latency_ms=round((time.perf_counter_ns() - t0) / 1e6, 4),
            )
            decision_json = _encode(decision)
        else:
            self.features.read(v, v)
        _decision_view(v, decision)
        self._fold(event, v, org)
        self.seq += 1
        self.record.append(
            Row(self.seq, eid, etype, v["ts_us"], event.customer_id, _encode(event),
                decision.action if decision else None, decision_json, org, clock_us)
        )
        self._recent[key] = decision_json
        self.seen.add(key, v["ts_us"])
        self._pending += 1
        if self.auto_commit and self._pending >= self.settings.commit_every:
            self.commit()
        return Outcome(eid, etype, decision, decision_json, candidate=candidate if money else None)

    def _fallback(self, v: dict[str, Any], stage: str, cause: str, action: str,
                  reasons: list[Reason]) -> tuple[Fallback, str]:
        """The channel's fallback for a stage that could not do its part, combined with what the other
        stages said: the strictest wins, so a rule's decline is never weakened by a fail-open approve."""
        channel, fallback_action = self.settings.fallbacks.action_for(v)
        reasons.append(Reason(code=f"fallback.{stage}", source="fallback", action=fallback_action,
                              text=f"{stage} {cause}; {channel} fallback: {fallback_action}"))
        return Fallback(stage, cause, fallback_action), stricter(action, fallback_action)

    def decided(self, event_id: str, org: str = DEFAULT_ORG) -> tuple[bool, bytes | None]:
        """(known, decision JSON) of an event of ``org``, buffered or durable."""
        key = scoped_id(org, event_id)
        if key in self._recent:
            return True, self._recent[key]
        return self.record.lookup(event_id, org)

    # --- time: whose clock runs the deadlines ------------------------------------------------------
    def use_clock(self, clock: Callable[[], int] | None) -> None:
        """Live serving (``serve``, workers): deadlines run on ``clock`` (the server's, integer µs)
        and fire by ``tick`` without waiting for an event; an event more than ``max_skew_s``
        ahead of it is refused. None: deadlines run on the stream's own time (replay). The model's
        time budget is kept on a live server only: replay decides the same stream the same way."""
        self.clock = clock
        self.guard.enabled = clock is not None

    def _clock_for(self, event: Event) -> int | None:
        """The time deadlines are advanced to before this event: the server's clock when live,
        else None (the event's own time). Refuses a ``ts`` that would forge power over time."""
        if self.clock is not None:
            now = self.clock()
            refuse_ahead(event.ts, now, self.settings.max_skew_s, "the server's clock")
            return now
        running = self.seen.watermark
        if running:
            refuse_ahead(event.ts, running, self.settings.max_lead_s,
                         f"the stream's running time {us_to_rfc3339(running)}")
        return None

    def now_ts(self) -> str:
        """"Now" for an event qalqan builds itself (a hold's answer, a list change, a label): the
        server's clock when live; else the stream's running time (the CLI on a recorded stream), or
        the real time before any event."""
        us = self.clock() if self.clock is not None else (self.seen.watermark or time.time_ns() // 1000)
        return us_to_rfc3339(us)

    def tick(self) -> int:
        """Fires the deadlines that the server's clock has passed (live serving); returns how many
        notices it buffered (durable with the next commit)."""
        if self.clock is None:
            return 0
        n = self._advance(self.clock())
        if n:
            self._pending += 1  # the notices are a write of their own: the next commit makes them durable
        return n

    def _advance(self, ts_us: int) -> int:
        """Applies the holds' deadlines up to ``ts_us`` (the event's time in replay, the server's
        clock when live), before deciding the event."""
        notices = self.holds.advance(ts_us)
        for n in notices:
            self.record.append_outbox(n.row())
        return len(notices)

    def _same_as_stored(self, event: Event, etype: str, org: str) -> None:
        """An id sent again must carry the same event: another body or type is a conflict (409)."""
        body = self._stored_row(event.event_id, org)
        if body is None:
            return
        if not same_event(body, self.tokenizers.of(org).protect(event)):
            raise EventConflict(event.event_id, f"{event.event_id!r} was sent before with another "
                                            f"{'type' if msgspec.json.decode(body).get('type') != etype else 'body'}: "
                                            "an event id names one event; nothing was changed")

    def _stored_row(self, event_id: str, org: str) -> bytes | None:
        """The organisation's stored (protected) event, buffered or durable."""
        for row in self.record.buffered():
            if row.event_id == event_id and row.org == org:
                return row.body
        return self.record.event_body(event_id, org)

    # --- holds (161-FZ art. 8) -----------------------------------------------------------------

    def _repeat(self, v: dict[str, Any], action: str, reasons: list[Reason]) -> str:
        """Repeating a suspended order with the same details confirms it (art. 8): it executes,
        or, with the recipient in the FinCERT database, waits a 2-day cooling-off."""
        orig = self.holds.repeated(v["customer_id"], v["to_account"], v.get("amount_base"))
        if orig is None:
            return action
        new = "hold" if "cbr_fincert" in v["recipient_lists"] else "approve"
        reasons.append(Reason(code="art8.repeat", source="hold", action=new,
                              text=f"repeats the suspended order {orig}: confirmed by the client"))
        return new

    def jurisdiction(self, v: dict[str, Any], org: str = DEFAULT_ORG) -> str:
        """The client's jurisdiction, RU or KZ: the event's own ``jurisdiction`` if it names one, else its
        organisation's (QALQAN_JURISDICTIONS). From the event and the settings only: replay-stable."""
        return resolve(v.get("jurisdiction"), org, self.settings.jurisdictions)

    def _hold_terms(self, v: dict[str, Any], reasons: list[Reason]) -> Hold:
        ts = v["ts_us"]
        if any(r.code == "art8.repeat" and r.action == "hold" for r in reasons):
            return self.holds.cooling_hold(ts)
        # The hold follows the client's jurisdiction: the Kazakh AFC block, or 161-FZ art. 8.
        kind = "kz" if v["jurisdiction"] == "KZ" else "art8"
        trusted = kind == "art8" and v["since_trusted_person"] is not None
        return self.holds.hold_of(ts, kind, trusted)

    def _seen(self, key: str, eid: str, org: str, ts: datetime) -> tuple[bool, bytes | None] | None:
        if key in self._recent:  # decided since the last commit (or recently)
            return True, self._recent[key]
        if key not in self._ask_record and self.seen.check(key, ts_to_us(ts)) is False:
            return None  # certainly new: no need to ask the record
        known, decision_json = self.record.lookup(eid, org)
        return (True, decision_json) if known else None

    def _enrich(self, v: dict[str, Any], org: str = DEFAULT_ORG) -> None:
        ts = v["ts_us"]
        of = self.lists.lists_of
        if org != DEFAULT_ORG:  # another organisation's lists are keyed apart (_org_key)
            lists_of = of
            of = lambda entity, value, ts_us: lists_of(entity, _org_key(org, value), ts_us)  # noqa: E731
        recipient: frozenset[str] = frozenset()
        if v["type"] == "transfer" and v["direction"] == "out":
            recipient = of("account", v["to_account"], ts) | of("card", v["to_account"], ts)
            if v["counterparty_id"]:  # a customer token, or the recipient's phone (SBP by number)
                recipient |= of("customer", v["counterparty_id"], ts) | of("phone", v["counterparty_id"], ts)
        cards, devices = of("card", v.get("card_id"), ts), of("device", v.get("device_id"), ts)
        cx = (v.get("extra") or _NO_EXTRA).get(CX_FIELD)
        if cx:  # the consortium's tokens (privacy.py): only the consortium list is keyed by them
            for name, kind, token in cx:
                v[f"{name}_cx"] = token
                hit = of("account" if kind == "iban" else kind, token, ts) & CONSORTIUM
                if name == "card_id":
                    cards |= hit
                elif name == "device_id":
                    devices |= hit
                elif v["type"] == "transfer" and v["direction"] == "out":
                    recipient |= hit
        v["recipient_lists"] = recipient
        v["customer_lists"] = of("customer", v["customer_id"], ts)
        v["card_lists"] = cards
        v["device_lists"] = devices

    def _fold(self, event: Event, v: dict[str, Any], org: str = DEFAULT_ORG) -> None:
        """Folds an event into the state: the same code live and when rebuilding after a restart."""
        etype, ts = v["type"], v["ts_us"]
        notices = []
        if etype == "hold_response":
            held = self.holds.of(v["target_event_id"], org)  # another organisation's hold is not there
            if held is not None:
                db_hit = "cbr_fincert" in self.lists.lists_of("account", _org_key(org, held.to_account), ts)
                notices += self.holds.respond(v["target_event_id"], v["response"], v["by"], ts, db_hit, org)
        elif "art8.repeat" in v["reason_codes"]:
            orig = self.holds.repeated(v["customer_id"], v["to_account"], v.get("amount_base"))
            if orig is not None:
                notices += self.holds.replaced(orig, v["event_id"], ts, org)
        hold_kind = v.get("hold_kind")
        if hold_kind:
            notices += self.holds.start(
                v["event_id"], v["customer_id"], ts, "kz" if hold_kind == "kz_block" else "art8",
                hold_kind.endswith("trusted"), v.get("to_account"), v.get("amount_base"),
                cooling=hold_kind.endswith("cooling_off"), org=org,
            )
        if etype in ("login", "profile_change") and self.jurisdiction(v, org) == "KZ":
            notice = ardfm_notice(v)  # ARDFM: every login, password and phone change told to the client
            if notice is not None:
                notices.append(Notice(ts, v["customer_id"], v["event_id"], notice[0], notice[1], org))
        for n in notices:
            self.record.append_outbox(n.row())
        if etype == "intel":
            expires = v["expires_at"]
            exp_us = None if expires is None else int(expires.timestamp() * 1_000_000)
            self.lists.apply(v["list"], v["entity"], _org_key(org, v["value"]), v["op"], exp_us)
            self.record.append_list(ListRow(v["list"], v["entity"], v["value"], v["op"], exp_us, self.seq + 1))
        self.features.update(v, v)

    # --- durability -----------------------------------------------------------------------
    def commit(self) -> None:
        """Makes every decided event durable. Answers may be handed out after this returns."""
        batch, n = self.detach()
        self.write(batch, n)

    def detach(self) -> tuple[Batch, int]:
        """Takes the buffered writes (to be written, perhaps on another thread, by ``write``)."""
        n, self._pending = self._pending, 0
        return self.record.take(), n

    def write(self, batch: Batch, n: int) -> None:
        """Writes a detached batch; on failure the state forgets everything not in the record."""
        try:
            self.record.write(batch)
        except Exception as exc:
            self.recover(exc)
            raise
        self.written(n)

    def written(self, n: int) -> None:
        """Bookkeeping once a batch of ``n`` events is durable."""
        self._since_snapshot += n
        if len(self._recent) >= _RECENT_MAX:
            # Forget durable ids only (the record has them); keep those still buffered.
            self._recent = {scoped_id(r.org, r.event_id): r.decision for r in self.record.buffered()}
        if self._since_snapshot >= self.snapshot_every:
            self.checkpoint()
        if self.state is not None:
            self.state.on_written(self)

    def recover(self, cause: BaseException | None = None) -> None:
        """After a failed write: drop every buffered write and rebuild the state from the record."""
        self.forget(cause)
        self.rebuild()

    def forget(self, cause: BaseException | None = None) -> None:
        """Drops every buffered write (no I/O): the state still holds them until ``rebuild``.
        Ids that the record turned out to hold already are looked up there from now on."""
        if isinstance(cause, DuplicateEvents):
            self._ask_record.update(scoped_id(org, eid) for org, eid in cause.ids)
        self.record.rollback()
        self._pending = 0
        self._recent.clear()

    def rebuild(self) -> None:
        """The state again from the record alone (its snapshot and the events after it)."""
        self.record.rollback()
        self._pending = 0
        self._recent.clear()
        self._reset_state()
        self.restored = self._restore()
        if self.state is not None:
            self.state.on_restored(self)

    def checkpoint(self) -> None:
        """Buffers a snapshot of the state as of the last decided event; it is written with the
        events up to it, in the same transaction (the next ``commit``)."""
        blob = msgspec.msgpack.encode(
            {"features": self.features.dump(), "lists": self.lists.dump(), "holds": self.holds.dump()}
        )
        self.record.save_snapshot(self.seq, blob)
        self._since_snapshot = 0

    def close(self, write: bool = True) -> None:
        """``write``: a last snapshot and commit first; False when the record is unavailable (a
        live server acknowledges nothing before it is durable, so nothing acknowledged is dropped)."""
        if write:
            if self._since_snapshot or self._pending:
                self.checkpoint()
            self.commit()
        self.record.close()
        if self.state is not None:
            self.state.close()

    # --- restart ----------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self.features = self._new_features()
        self.holds = HoldBook(self.hold_policy)
        self.lists = ListIndex()
        self.seq = 0

    def _restore(self) -> int:
        """Loads the snapshot and folds the record's later events; returns how many were folded."""
        snap = self.record.load_snapshot()
        if self.state is not None:
            snap = self.state.newest(snap, self.record)
        after = 0
        if snap is not None:
            seq, blob = snap
            doc = msgspec.msgpack.decode(blob)
            if self.features.load(doc["features"]):
                self.lists.load(doc["lists"])
                self.holds.load(doc["holds"])
                after = seq
            else:
                self._reset_state()
        self.seq = after
        self.seen = SeenIds()
        self.seen.update((scoped_id(org, eid), ts) for eid, ts, org in self.record.recent_ids(self.seen.horizon))
        folded = 0
        for row in self.record.rows_after(after):
            event = decode_event(row.body)
            v = event_view(event, self.money)
            v.features = self.features
            if row.org != DEFAULT_ORG:
                v["scope"] = row.org
            self._advance(v["ts_us"] if row.clock_us is None else row.clock_us)
            self.features.read(v, v)
            _decision_view(v, msgspec.json.decode(row.decision, type=Decision) if row.decision else None)
            self.seq = row.seq - 1
            self._fold_restored(event, v, row.org)
            self.seq = row.seq
            folded += 1
        self.record.rollback()  # the fold re-buffered list rows that are already durable
        return folded

    def _fold_restored(self, event: Event, v: dict[str, Any], org: str = DEFAULT_ORG) -> None:
        self._fold(event, v, org)
