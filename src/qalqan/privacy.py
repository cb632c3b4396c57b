"""Keyed tokenisation of personal data, applied once, at the boundary.

Every identifier that names a person or an instrument (customer, card, account, phone, device,
ip) is replaced by a keyed BLAKE2b token before anything stores, logs or keys state on it. The
same raw value gives the same token under the same key, so windows, lists and intel still match;
without the key nobody can map a token back, nor test a guessed card number against it.
Free text (listing text, messages) keeps its words and links but loses long digit runs, which is
where card numbers and phone numbers hide.
"""

from __future__ import annotations

import re
from hashlib import blake2b
from typing import Any

from .events import Event

_NON_DIGITS = re.compile(r"\D")
# Card and phone numbers come formatted many ways; an id made only of digits and separators is
# compared by its digits, so "+7 701 000-00-00", "77010000000" and a counterparty's phone match.
_NUMBERISH = re.compile(r"[+\d][\d\s\-()]*")
_DIGIT_RUN = re.compile(r"\+?\d[\d \-()]{5,}\d")

# Which fields of which event type hold identifiers; the envelope's customer_id is added below.
_PII_FIELDS: dict[str, tuple[str, ...]] = {
    "payment": ("card_id", "device_id", "ip"),
    "transfer": ("from_account", "to_account", "counterparty_id", "device_id", "ip"),
    "atm": ("card_id",),
    "login": ("device_id", "ip"),
    "profile_change": (),
    "device_signal": ("device_id",),
    "comms_signal": (),
    "listing": ("phone", "ip", "device_id"),
    "message": ("to_customer_id",),
    "label": (),
    "intel": ("value",),
    "hold_response": (),
}
# Raw identifiers whose tokens are kept in memory (about 150 bytes each).
TOKEN_MEMO = 1 << 16

_TEXT_FIELDS = {"listing": ("title", "text"), "message": ("text",)}


def redact_text(text: str) -> str:
    return _DIGIT_RUN.sub("[redacted]", text)


class Tokenizer:
    """Replaces identifiers with keyed tokens; the key never leaves this object."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("tokenisation key must be at least 16 bytes")
        # Keying BLAKE2b costs a compression of the key block; copying a keyed state does not.
        self._keyed = blake2b(key=key[:64], digest_size=12)
        # The same customers, cards and devices come back all day: their tokens are remembered
        # (in memory only, never written) up to a bound, then the memory starts afresh.
        self._memo: dict[str, str] = {}

    def token(self, value: str) -> str:
        memo = self._memo
        tok = memo.get(value)
        if tok is None:
            if len(memo) >= TOKEN_MEMO:
                memo.clear()
            tok = memo[value] = self._token(value)
        return tok

    def _token(self, value: str) -> str:
        raw = value.strip()
        if not raw.isdigit() and _NUMBERISH.fullmatch(raw):  # all digits already: nothing to strip
            raw = _NON_DIGITS.sub("", raw)
        h = self._keyed.copy()
        h.update(raw.encode())
        return h.hexdigest()

    def protect(self, event: Event) -> Event:
        """Tokenise the event in place (it is ours from decode on) and return it."""
        etype = event.__struct_config__.tag  # type: ignore[union-attr]
        tok = self.token
        if etype != "intel":  # an intel record's customer_id names the list's source, not a client
            event.customer_id = tok(event.customer_id)
        for name in _PII_FIELDS[etype]:
            value = getattr(event, name)
            if value is not None:
                setattr(event, name, tok(value))
        for name in _TEXT_FIELDS.get(etype, ()):
            value = getattr(event, name)
            if value:
                setattr(event, name, redact_text(value))
        if event.extra:
            event.extra = _redact_any(event.extra)
        return event


def _redact_any(value: Any) -> Any:
    """Unknown fields are kept, but nothing in them may carry a card or phone number in clear."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_any(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_any(v) for v in value]
    return value
