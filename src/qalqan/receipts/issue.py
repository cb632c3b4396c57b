"""Receipts issued from the record, on demand, and their verification against this operator's keys.

Signing is not part of the decision path: ``GET /v1/receipts/{event_id}`` reads the durable
decision and the stored event and signs then (tens of microseconds, paid only by whoever asks).
Ed25519 being deterministic, asking twice gives the same receipt.

Which money movements get one: a ``payment`` or a ``transfer`` that was approved, and a suspended
transfer once the client's confirmation released it (the money moved then; the receipt carries
that moment). An ``atm`` operation gets none: cash leaves or enters the customer's own account at
a machine, which prints its own slip; there is no third party to convince, which is what a
receipt is for. Declined, challenged, reviewed and still-suspended movements get none: the
money did not (yet) move, and a receipt for it would be exactly the fake a fraudster wants.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from ..config import Settings
from ..events import Payment, Transfer, decode_event
from ..privacy import Tokenizer
from ..store.base import DEFAULT_ORG
from .code import (
    VERSION,
    Payload,
    UnreadableReceipt,
    Verdict,
    as_json,
    canonical_amount,
    decode_code,
    encode_payload,
    from_json,
    matches_payee,
    payee_ref,
    sign,
    to_code,
    verify,
)
from .keys import ReceiptKeys

if TYPE_CHECKING:
    from ..engine import Engine


class NoReceipt(Exception):
    """This event gets no receipt: says why; ``status`` is the HTTP answer (404 unknown, 409 refused)."""

    def __init__(self, status: int, reason: str) -> None:
        self.status, self.reason = status, reason
        super().__init__(reason)


@dataclass(frozen=True)
class Issued:
    payload: Payload
    raw: bytes
    signature: bytes
    code: str

    def as_json(self) -> dict[str, Any]:
        return as_json(self.payload, self.signature, self.code)


class _Action(msgspec.Struct):
    action: str


_action = msgspec.json.Decoder(_Action).decode
_HOLD_STATES = {"pending": "still waiting for the client's confirmation",
                "asked_trusted": "still waiting for the trusted person's confirmation",
                "cooling_off": "confirmed, in its cooling-off period: not executed yet",
                "rejected": "rejected: never executed", "replaced": "repeated by the client as a new order, "
                "whose own receipt is the one to ask for"}


def issue(engine: Engine, ring: ReceiptKeys, event_id: str, org: str = DEFAULT_ORG) -> Issued:
    """The receipt of a durable, approved payment or transfer (``NoReceipt`` says why not).
    ``org``: the caller's organisation; another organisation's event is answered as unknown."""
    row = engine.record.event_in(org, event_id)
    if row is None:
        raise NoReceipt(404, f"no event {event_id!r} in the record")
    decision, body = row.decision, row.body
    if decision is None:
        raise NoReceipt(409, f"event {event_id!r} is a context event: no money moved")
    event = decode_event(body)
    if not isinstance(event, Payment | Transfer):
        raise NoReceipt(409, f"event {event_id!r} is an ATM operation: cash to or from the customer's own "
                             "account has no payee to show a receipt to")
    action = _action(decision).action
    when: datetime = event.ts
    if action == "hold":
        hold = engine.holds.of(event_id, org)
        if hold is None or hold.status != "released":
            state = "suspended and not executed" if hold is None else _HOLD_STATES.get(hold.status, hold.status)
            raise NoReceipt(409, f"event {event_id!r} was held (161-FZ art. 8): {state}; a receipt comes only "
                                 "once the client's confirmation releases it")
        released = next(ts for ts, status in reversed(hold.history) if status == "released")
        when = datetime.fromtimestamp(released // 1_000_000, when.tzinfo)  # shown in the payer's own offset
    elif action != "approve":
        raise NoReceipt(409, f"event {event_id!r} was decided {action!r}: only approved payments and "
                             "transfers get receipts")
    kid, _ = ring.signer()
    offset = when.utcoffset() or timedelta(0)
    merchant, refs = "", b""
    if isinstance(event, Payment):
        kind, merchant = "p", event.merchant_id
    else:
        kind, key = "t", engine.settings.key
        refs = payee_ref(key, event_id, event.to_account)
        other = event.counterparty_id
        if event.direction == "out" and other and other != event.to_account:
            refs += payee_ref(key, event_id, other)  # the recipient's identity or phone (SBP by number)
    payload = Payload(v=VERSION, kid=bytes.fromhex(kid), type=kind, event_id=event_id,
                      amount=canonical_amount(event.amount), currency=event.currency, merchant=merchant,
                      refs=refs, ts=int(when.timestamp()), tz=int(offset.total_seconds() // 60))
    raw, signature = sign(ring, payload)
    return Issued(payload, raw, signature, to_code(raw, signature))


class Verifier:
    """Checks receipts against this operator's keys; with the tokenisation key it can also tell a
    seller whether the money went to them (nobody without that key can)."""

    def __init__(self, settings: Settings, ring: ReceiptKeys | None = None) -> None:
        self.ring = ring or ReceiptKeys.load(settings.home)
        self._key = settings.key
        self._token = Tokenizer(settings.key).token

    def code(self, code: str, payee: str | None = None) -> Verdict:
        parts = decode_code(code)
        if isinstance(parts, str):
            return Verdict(False, parts, "not genuine: " + parts)
        return verify(self.ring, parts[0], parts[1], self._payee_check(payee))

    def receipt(self, doc: dict[str, Any], payee: str | None = None) -> Verdict:
        """A receipt as JSON (``Issued.as_json``); raises ``ReceiptFormatError`` naming a missing field."""
        try:
            payload, signature = from_json(doc)
            raw = encode_payload(payload)
        except (UnreadableReceipt, OverflowError) as exc:  # OverflowError: a version beyond 64 bits
            reason = f"not a readable receipt: {exc}"
            return Verdict(False, reason, "not genuine: " + reason)
        return verify(self.ring, raw, signature, self._payee_check(payee), payload)

    def _payee_check(self, payee: str | None) -> Callable[[Payload], bool] | None:
        """``payee``: the seller's own account, card, phone or merchant id."""
        if payee is None or not payee.strip():
            return None
        given = payee
        return lambda p: matches_payee(p, given, self._token, self._key)
