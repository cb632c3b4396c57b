"""A receipt: a compact canonical payload, its Ed25519 signature, and the short code that carries both.

The payload is a MessagePack array, in this order (``Payload``)::

    [1, key id (4 bytes), "p"|"t", event id, amount, currency, merchant id, payee refs, unix seconds, UTC offset min]

The amount is the event's exact decimal, written without exponent (``"25000.10"``); the time is
the event's own (or, for a suspended transfer, the moment the client's confirmation released it),
with the offset it was sent in, so the seller reads the time the payer saw. The payee is what a
seller can check and nobody else learns anything from: a payment names its merchant id (a
business, not a person); a transfer carries 8-byte *refs*, keyed hashes of this event's id and of
the recipient's tokenised account (and, for an outgoing transfer, the recipient's identity or
phone). Only the operator, who holds the tokenisation key, can tell a seller "to you"; the refs of
two receipts to the same seller do not match each other.

The code is base32 (RFC 4648, no padding) of payload ‖ signature: A–Z and 2–7 only, which QR codes
store in their dense alphanumeric mode, and which survives being read aloud or retyped.
Ed25519 signs deterministically: the same decision under the same key gives the same code.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from hashlib import blake2b
from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature

from .keys import ReceiptKeys

VERSION = 1
SIG_LEN = 64
REF_LEN = 8
_TYPES = {"p": "payment", "t": "transfer"}
_CODES = {v: k for k, v in _TYPES.items()}
_NOT_BASE32 = re.compile(r"[^A-Z2-7]")


class Payload(msgspec.Struct, array_like=True, frozen=True):
    v: int
    kid: bytes
    type: str            # "p" payment, "t" transfer
    event_id: str
    amount: str
    currency: str
    merchant: str        # a payment's merchant id; "" for a transfer
    refs: bytes          # a transfer's payee refs, REF_LEN bytes each; b"" for a payment
    ts: int              # unix seconds
    tz: int              # the sender's UTC offset, minutes


class ReceiptFormatError(ValueError):
    """A receipt given as JSON lacks a field or has one of the wrong shape: names the field."""

    def __init__(self, field: str, problem: str) -> None:
        self.field, self.problem = field, problem
        super().__init__(f"{field}: {problem}")


class UnreadableReceipt(ReceiptFormatError):
    """A JSON receipt of the right shape whose contents cannot be read back: simply not genuine."""


class Verdict(msgspec.Struct, omit_defaults=True):
    genuine: bool
    reason: str
    text: str
    to_you: bool | None = None    # None: the seller did not say who they are
    receipt: dict[str, Any] | None = None


_encode_payload = msgspec.msgpack.Encoder().encode
_decode_payload = msgspec.msgpack.Decoder(Payload).decode


def payee_ref(key: bytes, event_id: str, token: str) -> bytes:
    """Keyed with the tokenisation key and salted with the event: a ref reveals nothing of the
    account, and cannot be matched against another receipt's."""
    h = blake2b(key=key[:64], digest_size=REF_LEN, person=b"qalqan-receipt")
    h.update(event_id.encode() + b"\x00" + token.encode())
    return h.digest()


def canonical_amount(amount: Decimal) -> str:
    return format(amount, "f")


def sign(ring: ReceiptKeys, payload: Payload) -> tuple[bytes, bytes]:
    """The payload's bytes and their signature, by the active key (whose id the payload must name)."""
    kid, private = ring.signer()
    if payload.kid.hex() != kid:
        raise ValueError(f"kid: the payload names key {payload.kid.hex()}, the active key is {kid}")
    raw = _encode_payload(payload)
    return raw, private.sign(raw)


def to_code(raw: bytes, signature: bytes) -> str:
    return base64.b32encode(raw + signature).decode().rstrip("=")


def normalise_code(text: str) -> str:
    """What a person pastes: maybe the whole verification URL, maybe with spaces, dashes or in lower case."""
    text = text.strip()
    m = re.search(r"[?&]c=([^&#\s]+)", text)
    if m:
        text = m.group(1)
    return _NOT_BASE32.sub("", text.upper())


def as_json(p: Payload, signature: bytes, code: str) -> dict[str, Any]:
    """The receipt for people and programs; ``from_json`` reads it back, and any change to it shows."""
    payee: dict[str, Any] = (
        {"merchant_id": p.merchant} if p.type == "p"
        else {"refs": [p.refs[i:i + REF_LEN].hex() for i in range(0, len(p.refs), REF_LEN)]}
    )
    return {"version": p.v, "key_id": p.kid.hex(), "type": _TYPES.get(p.type, p.type), "event_id": p.event_id,
            "amount": p.amount, "currency": p.currency, "payee": payee, "ts": _when(p).isoformat(),
            "signature": base64.urlsafe_b64encode(signature).decode().rstrip("="), "code": code}


def from_json(doc: dict[str, Any]) -> tuple[Payload, bytes]:
    """The payload and signature a JSON receipt claims; the signature then says whether it is true.

    A missing field or one of the wrong JSON type is ``ReceiptFormatError`` (bad input); a field
    of the right type that cannot be read back is ``UnreadableReceipt`` (not genuine)."""
    fields: dict[str, str] = {}
    for name in ("key_id", "type", "event_id", "amount", "currency", "ts", "signature"):
        value = doc.get(name)
        if not isinstance(value, str) or not value:
            raise ReceiptFormatError(name, "missing, or not a non-empty string")
        fields[name] = value
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ReceiptFormatError("version", "missing, or not a whole number")
    payee = doc.get("payee")
    if not isinstance(payee, dict):
        raise ReceiptFormatError("payee", "must be an object: {merchant_id} or {refs}")
    kind = _CODES.get(fields["type"])
    if kind is None:
        raise ReceiptFormatError("type", "must be payment or transfer")
    if not isinstance(payee.get("merchant_id", ""), str):
        raise ReceiptFormatError("payee.merchant_id", "must be a string")
    if not isinstance(payee.get("refs", []), list) or not all(isinstance(r, str) for r in payee.get("refs", [])):
        raise ReceiptFormatError("payee.refs", "must be a list of strings")

    try:
        kid = bytes.fromhex(fields["key_id"])
    except ValueError:
        raise UnreadableReceipt("key_id", "must be hex") from None
    merchant, refs = "", b""
    if kind == "p":
        merchant = payee.get("merchant_id")  # type: ignore[assignment]
        if not isinstance(merchant, str) or not merchant:
            raise UnreadableReceipt("payee.merchant_id", "a payment's receipt names its merchant")
    else:
        items = payee.get("refs")
        try:
            if not isinstance(items, list) or not items:
                raise ValueError
            refs = b"".join(bytes.fromhex(r) for r in items)
        except (ValueError, TypeError):
            raise UnreadableReceipt("payee.refs", "a transfer's receipt carries a list of hex refs") from None
    try:
        when = datetime.fromisoformat(fields["ts"].upper())
        if when.tzinfo is None:
            raise ValueError
        ts = int(when.timestamp())
    except (ValueError, OverflowError):
        raise UnreadableReceipt("ts", "must be an RFC 3339 time with its offset") from None
    offset = when.utcoffset() or timedelta(0)
    sig = fields["signature"]
    try:
        signature = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    except (binascii.Error, ValueError):
        raise UnreadableReceipt("signature", "must be base64url") from None
    p = Payload(v=version, kid=kid, type=kind, event_id=fields["event_id"], amount=fields["amount"],
                currency=fields["currency"], merchant=merchant, refs=refs, ts=ts,
                tz=int(offset.total_seconds() // 60))
    return p, signature


def decode_code(code: str) -> tuple[bytes, bytes] | str:
    """(payload bytes, signature), or why this is not a receipt code."""
    code = normalise_code(code)
    if not code:
        return "empty: no receipt code given"
    try:
        raw = base64.b32decode(code + "=" * (-len(code) % 8))
    except (binascii.Error, ValueError):
        return "not a receipt code: its length is impossible for base32 (a character missing or extra?)"
    if len(raw) <= SIG_LEN + 8:
        return "not a receipt code: too short to hold a receipt and its signature"
    return raw[:-SIG_LEN], raw[-SIG_LEN:]


def encode_payload(payload: Payload) -> bytes:
    return _encode_payload(payload)


def verify(ring: ReceiptKeys, raw: bytes, signature: bytes, payee_check: Callable[[Payload], bool] | None = None,
           payload: Payload | None = None) -> Verdict:
    """Genuine when the operator's key, not revoked, signed exactly these bytes. ``payee_check``
    (the seller's own account or merchant id, checked by the operator) adds "to you" or "not to you"."""
    if payload is None:
        try:
            payload = _decode_payload(raw)
        except (msgspec.MsgspecError, ValueError):  # e.g. a flipped bit inside a string: not UTF-8
            return _fake("not a qalqan receipt: its contents cannot be read (altered, or not a receipt)")
    if payload.v != VERSION:
        return _fake(f"unknown receipt format version {payload.v}")
    kid = payload.kid.hex()
    key, public = ring.public(kid)
    if key is None or public is None:
        return _fake(f"signed with key {kid!r}, which is not one of this operator's keys")
    if key.status == "revoked":
        return _fake(f"signed with key {kid}, revoked on {key.revoked}: {key.reason}")
    try:
        public.verify(signature, raw)
    except InvalidSignature:
        return _fake("the signature does not match the contents: the receipt was altered or forged")
    try:
        human = describe(payload)
    except (InvalidOperation, ValueError, OverflowError):  # signed by us, so never; but never crash on it
        return _fake("the receipt's contents are malformed")
    receipt = as_json(payload, signature, to_code(raw, signature))
    if payee_check is None:
        hint = "" if payload.type == "p" else " (give your account, card or phone to check it is yours)"
        return Verdict(True, "signed by the operator's key " + kid, f"genuine: {human}{hint}", None, receipt)
    if payee_check(payload):
        return Verdict(True, "signed by the operator's key " + kid, "genuine: " + describe(payload, to_you=True),
                       True, receipt)
    return Verdict(True, "signed by the operator's key " + kid + ", but paid to someone else",
                   f"genuine receipt, but NOT to you: {human}", False, receipt)


def matches_payee(payload: Payload, given: str, token: Callable[[str], str], key: bytes) -> bool:
    """Is ``given`` (a seller's merchant id, or account / card / phone) the receipt's payee?"""
    given = given.strip()
    if not given:
        return False
    if payload.type == "p":
        return hmac.compare_digest(given.encode(), payload.merchant.encode())
    mine = payee_ref(key, payload.event_id, token(given))
    refs = payload.refs
    return any(hmac.compare_digest(mine, refs[i:i + REF_LEN]) for i in range(0, len(refs), REF_LEN))


def describe(p: Payload, to_you: bool = False) -> str:
    """ "25,000 KZT to you at 14:02 on 2026-02-02 (UTC+05:00)" """
    amount = format(Decimal(p.amount), ",f")
    if to_you:
        whom = "you"
    elif p.type == "p":
        whom = f"merchant {p.merchant}"
    else:
        whom = "the recipient's account"
    when = _when(p)
    offset = "UTC" if p.tz == 0 else "UTC" + when.strftime("%z")[:3] + ":" + when.strftime("%z")[3:]
    return f"{amount} {p.currency} to {whom} at {when:%H:%M} on {when:%Y-%m-%d} ({offset})"


def _when(p: Payload) -> datetime:
    tz = UTC if p.tz == 0 else timezone(timedelta(minutes=p.tz))
    return datetime.fromtimestamp(p.ts, tz)


def _fake(reason: str) -> Verdict:
    return Verdict(False, reason, "not genuine: " + reason)
