"""Keyed tokenisation of personal data, applied once, at the boundary.

Every identifier that names a person or an instrument (customer, card, account, phone, device,
ip) is replaced by a keyed BLAKE2b token before anything stores, logs or keys state on it. The
same raw value gives the same token under the same key, so windows, lists and intel still match;
without the key nobody can map a token back, nor test a guessed card number against it.

Every other string of every event type, known or unknown, is searched for personal data that an
integrator put where it does not belong, and what is found is REDACTED (the substring replaced by
``[redacted]``, never tokenised) before the event is stored; a value with nothing in it is kept as
sent, so plain ids ("M1", "ATM-7", "L42"), enums, codes, amounts and times never change:

- a card number: 13–19 digits (spaces or dashes between them allowed) that pass the Luhn check
  and begin as a card scheme's numbers do (Visa, Mastercard, Mir, Amex, UnionPay, JCB, Discover,
  Diners, Maestro, UzCard, Humo, Troy) — so a timestamp or a sequence number is not a card;
- a phone number: 10–15 digits written with ``+`` or a bracketed code, or the Russian/Kazakh
  11-digit form (``8 701 …``, ``7701…``), or a 10-digit one beginning 7 or 9 with separators;
- an account number: 20 digits or more (the Russian 20-digit account), or an IBAN (capitals, its
  country's length and its mod-97 check digits);
- an e-mail address: its local part (``[redacted]@mail.ru``): the domain is kept, since the
  screening of look-alike domains (features/links.py) reads it.

Identifiers (the ``Id`` fields of events.py: merchant_id, atm_id, listing_id, target_event_id,
an intel record's source) name things with numbers, so there only the unmistakable shapes count:
a card number, a phone written with ``+`` or brackets, an IBAN, an e-mail address, and a
20-digit number shaped as a Russian account (30/40–42…, then a currency code); a bare 11-digit or
20-digit number there is a sequence or a timestamp. The digits of a UUID or of a long hex id are
never a number. Free text (a listing's title and text, a message's text) and unknown fields
(``extra``: keys, strings and numbers) lose every run of seven digits or more, as before, and
e-mail addresses and IBANs.

Speed: a string without an ``@`` and without ten digits in a row (spaces, dashes, brackets between
them allowed) holds none of the above, every IBAN included, and is not searched further (one
regex scan that gives nothing back); the outcome of each search is remembered for the values that
come back all day (merchant ids, codes), as tokens are. The string fields of each event type are
listed once, from the schemas.

``event_id`` is stored as sent (it is the integrator's key for retries and lookups, and the engine
keeps it from before ``protect``): one that carries any of the above, under the identifiers'
rules, is refused (``EventError``, 422 over HTTP) before anything is stored; the answer does not
repeat the value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from hashlib import blake2b
from typing import Any, NamedTuple

import msgspec.inspect as mi
from msgspec import Struct

from .events import EVENT_ID_PATTERN, EVENT_TYPES, Event, EventError

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
# Identifiers a consortium of banks may list (intel/, docs/intel.md): besides the organisation's own
# token, each gets a token under the consortium's key (QALQAN_CONSORTIUM_KEY), computed here, where
# the raw value still is, and kept in ``extra[CX_FIELD]`` as [field, kind, token] — never the value.
CONSORTIUM_FIELDS: dict[str, tuple[str, ...]] = {
    "payment": ("card_id", "device_id"),
    "transfer": ("to_account", "counterparty_id", "device_id"),
    "atm": ("card_id",),
    "intel": ("value",),
}
CX_FIELD = "qalqan_cx"
CX_KINDS = ("account", "card", "phone", "device", "iban")
# Raw identifiers whose tokens are kept in memory (about 150 bytes each).
TOKEN_MEMO = 1 << 16

_TEXT_FIELDS = {"listing": ("title", "text"), "message": ("text",)}

REDACTED = "[redacted]"

# --- finding personal data in a string --------------------------------------------------------
# A local part, matched from its first character only (linear time on long runs of letters).
_EMAIL = re.compile(r"(?<![\w.%+\-])[\w.%+\-]++(?=@[\w\-]+(?:\.[\w\-]+)+)")
# Capitals, at the start of a word (a UUID's hex digits are not a country code).
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}")
_IBAN_SEP = " -"
# Ten digits or more with at most three separators between two of them: "+7 (701) 555-12-34",
# "4276 3800 …"; every number below is one of these.
# (Starting only where a chain of digits starts, and giving nothing back: one pass over the string.)
_LONG_NUMBER = re.compile(r"(?<!\d)(?<!\d[ \-()])(?<!\d[ \-()]{2})(?<!\d[ \-()]{3})"
                          r"[+(]*+\d(?:[ \-()]{0,3}+\d){9,}+")
_GROUPS = re.compile(r"\d+")
# A UUID, or a hex id of 16 digits or more with a letter in it: random ids, not numbers.
_HEX_ID = re.compile(r"(?<![0-9A-Za-z])(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
                     r"|(?=[0-9]*[a-fA-F])[0-9a-fA-F]{16,})(?![0-9A-Za-z])")
# IBAN lengths by country (ISO 13616 registry).
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25,
    "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24,
    "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_scheme(d: str) -> bool:
    """Whether ``d`` (13–19 digits) begins and runs as a card scheme's numbers do."""
    n, p2, p4 = len(d), int(d[:2]), int(d[:4])
    if d[0] == "4":  # Visa
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:  # Mastercard
        return n == 16
    if p2 in (34, 37):  # Amex
        return n == 15
    if 2200 <= p4 <= 2204 or p2 == 62 or 3528 <= p4 <= 3589 or p4 == 6011 or 644 <= int(d[:3]) <= 649 \
            or p2 == 65:  # Mir, UnionPay, JCB, Discover
        return n >= 16
    if 300 <= int(d[:3]) <= 305 or p2 in (36, 38, 39):  # Diners
        return n == 14 or n >= 16
    if p2 == 50 or 56 <= p2 <= 69:  # Maestro (its 12–15-digit numbers are long gone)
        return n >= 16
    return p4 in (8600, 9860, 9792) and n == 16  # UzCard, Humo, Troy


def is_card_number(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and digits.isdigit() and _card_scheme(digits) and _luhn(digits)


def _account(digits: str) -> bool:
    """A Russian account's shape: a client's (40…–42…) or correspondent (30…) balance account,
    then the currency (810 or 643 roubles, 398 tenge, 840 dollars, 978 euros, 156 yuan)."""
    return digits[:2] in ("30", "40", "41", "42") and digits[5:8] in ("810", "643", "398", "840", "978", "156")


def _number_kind(run: str, glued: bool = False, ids: bool = False) -> str | None:
    """What a run of digits and separators is, if it is personal data. ``glued``: the run is one
    group of digits inside a word; ``ids``: the string is an identifier, where numbers name
    things (sequences, timestamps), so only unmistakable shapes count: a card number that passes
    Luhn, a phone written with ``+`` or a bracketed code, a 20-digit number shaped as an account."""
    digits = _NON_DIGITS.sub("", run)
    n = len(digits)
    if n < 10:
        return None
    if n >= 20:
        return "an account number" if not ids or (n == 20 and _account(digits)) else None
    if n >= 13 and is_card_number(digits):
        return "a card number"
    if n <= 15 and (run[0] in "+(" or "(" in run or ")" in run):
        return "a phone number"
    if not (glued or ids):
        if n == 11 and digits[0] in "78":
            return "a phone number"
        if n == 10 and digits[0] in "79" and not run.isdigit():
            return "a phone number"
    if n > 13 and not run.isdigit():  # a card number written beside other numbers: "order 12 4111 1111 …"
        groups = _GROUPS.findall(run)
        for i in range(len(groups)):
            acc = ""
            for g in groups[i:]:
                acc += g
                if len(acc) > 19:
                    break
                if len(acc) >= 13 and is_card_number(acc):
                    return "a card number"
    return None


def _match_kind(m: re.Match[str], ids: bool = False) -> str | None:
    """``_number_kind`` of a match of ``_LONG_NUMBER``, in its string: a lone group of digits
    glued to letters is part of a word ("evt71999863748"), not a phone; a card number stays one."""
    s, a, b, run = m.string, m.start(), m.end(), m.group(0)
    glued = (a > 0 and s[a - 1].isalpha()) or (b < len(s) and s[b].isalpha())
    return _number_kind(run, glued=glued and run.lstrip("+(").isdigit(), ids=ids)


def _iban_end(s: str, start: int) -> int | None:
    """Where the IBAN that begins at ``start`` ends (its length and check digits hold), or None."""
    want = _IBAN_LENGTHS.get(s[start:start + 2])
    if want is None:
        return None
    chars: list[str] = []
    i, size = start, len(s)
    while i < size and len(chars) < want:
        ch = s[i]
        if ch.isascii() and ch.isalnum():
            chars.append(ch.upper())
        elif ch not in _IBAN_SEP or not chars:
            break
        i += 1
    if len(chars) < want:
        return None
    code = "".join(chars)
    moved = code[4:] + code[:4]
    try:
        return i if int("".join(str(int(c, 36)) for c in moved)) % 97 == 1 else None
    except ValueError:
        return None


def _redact_ibans(s: str) -> str:
    out: list[str] = []
    pos = last = 0
    while (m := _IBAN_START.search(s, pos)) is not None:
        end = _iban_end(s, m.start())
        if end is None:
            pos = m.start() + 1
            continue
        out += [s[last:m.start()], REDACTED]
        pos = last = end
    if not out:
        return s
    out.append(s[last:])
    return "".join(out)


def _redact_number(m: re.Match[str]) -> str:
    return REDACTED if _match_kind(m) else m.group(0)


def _redact_id_number(m: re.Match[str]) -> str:
    return REDACTED if _match_kind(m, ids=True) else m.group(0)


def has_pii_hint(s: str) -> bool:
    """The cheap test: only a string with an '@' or ten digits in a row (spaces, dashes and
    brackets between them allowed) can hold personal data; every IBAN has such a run too."""
    return "@" in s or _LONG_NUMBER.search(s) is not None


def _redact_piece(s: str, ids: bool) -> str:
    if _LONG_NUMBER.search(s) is None:
        return s
    return _LONG_NUMBER.sub(_redact_id_number if ids else _redact_number, _redact_ibans(s))


def _piece_kind(s: str, ids: bool) -> str | None:
    if _LONG_NUMBER.search(s) is None:
        return None
    if _redact_ibans(s) != s:
        return "an IBAN"
    for m in _LONG_NUMBER.finditer(s):
        kind = _match_kind(m, ids)
        if kind:
            return kind
    return None


def _pieces(s: str) -> list[tuple[str, bool]]:
    """``s`` cut into (piece, is a UUID or hex id): the digits of a random id are no number."""
    out, last = [], 0
    for m in _HEX_ID.finditer(s):
        out += [(s[last:m.start()], False), (m.group(0), True)]
        last = m.end()
    out.append((s[last:], False))
    return out


def redact(s: str, ids: bool = False) -> str:
    """``s`` with the card, phone and account numbers, IBANs and e-mail addresses in it redacted;
    anything else is kept (ids, codes and short numbers are not personal data). ``ids``: ``s``
    is an identifier (see ``_number_kind``)."""
    if "@" in s:
        s = _EMAIL.sub(REDACTED, s)
    if _LONG_NUMBER.search(s) is None:
        return s
    if _HEX_ID.search(s) is None:
        return _redact_piece(s, ids)
    return "".join(p if is_id else _redact_piece(p, ids) for p, is_id in _pieces(s))


def pii_kind(s: str, ids: bool = False) -> str | None:
    """What personal data ``s`` carries ("a card number", …), or None."""
    if "@" in s and _EMAIL.search(s):
        return "an e-mail address"
    if _LONG_NUMBER.search(s) is None:
        return None
    if _HEX_ID.search(s) is None:
        return _piece_kind(s, ids)
    return next((k for p, is_id in _pieces(s) if not is_id and (k := _piece_kind(p, ids))), None)


def redact_text(text: str) -> str:
    """Free text keeps its words and links, but not its long digit runs (card and phone numbers
    hide there), IBANs and e-mail addresses."""
    if "@" in text:
        text = _EMAIL.sub(REDACTED, text)
    return _DIGIT_RUN.sub(REDACTED, _redact_ibans(text))


def check_event_id(event_id: str) -> None:
    """An event id is stored as sent: one carrying personal data is refused (``EventError``)."""
    kind = pii_kind(event_id, ids=True)
    if kind is not None:
        raise EventError("event_id", f"looks like {kind}: an event id is stored as sent, so it must carry no "
                                     "personal data; send an id of your own system instead")


# --- which strings each event type has ----------------------------------------------------------
def _has_plain_str(t: Any) -> bool:
    if isinstance(t, mi.Metadata):
        return _has_plain_str(t.type)
    if isinstance(t, mi.UnionType):
        return any(_has_plain_str(x) for x in t.types)
    # A pattern makes a code (currency, country); an event id's only refuses control characters.
    return isinstance(t, mi.StrType) and t.pattern in (None, EVENT_ID_PATTERN)


def _str_list(t: Any) -> bool:
    if isinstance(t, mi.Metadata):
        return _str_list(t.type)
    if isinstance(t, mi.UnionType):
        return any(_str_list(x) for x in t.types)
    return isinstance(t, mi.ListType) and _has_plain_str(t.item_type)


def _struct_of(t: Any) -> type[Struct] | None:
    if isinstance(t, mi.Metadata):
        return _struct_of(t.type)
    if isinstance(t, mi.UnionType):
        return next((s for x in t.types if (s := _struct_of(x)) is not None), None)
    return t.cls if isinstance(t, mi.StructType) else None


def _is_id(t: Any) -> bool:
    """An ``Id`` of events.py: a bounded string that names something (merchant, ATM, listing, event)."""
    if isinstance(t, mi.Metadata):
        return _is_id(t.type)
    if isinstance(t, mi.UnionType):
        return any(_is_id(x) for x in t.types)
    return isinstance(t, mi.StrType) and t.max_length is not None


class _Strings(NamedTuple):
    """The strings of one struct type that no token replaces: identifiers, free strings, lists
    of strings, structs."""

    ids: tuple[str, ...]
    plain: tuple[str, ...]
    lists: tuple[str, ...]
    nested: tuple[tuple[str, _Strings], ...]


def _strings_of(cls: type[Struct], skip: frozenset[str]) -> _Strings:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    ids, plain, lists, nested = [], [], [], []
    for f in info.fields:
        if f.name in skip:
            continue
        if _has_plain_str(f.type):
            (ids if _is_id(f.type) else plain).append(f.name)
        elif _str_list(f.type):
            lists.append(f.name)
        elif (inner := _struct_of(f.type)) is not None:
            nested.append((f.name, _strings_of(inner, frozenset())))
    return _Strings(tuple(ids), tuple(plain), tuple(lists), tuple(nested))


_SKIP = {"event_id", "customer_id", "extra"}
_STRINGS: dict[str, _Strings] = {
    etype: _strings_of(cls, frozenset(_SKIP | set(_PII_FIELDS[etype]) | set(_TEXT_FIELDS.get(etype, ()))))
    for etype, cls in EVENT_TYPES.items()
}
# An intel record's customer_id names the list's source, not a client: it is not tokenised, so searched.
_STRINGS["intel"] = _STRINGS["intel"]._replace(ids=("customer_id", *_STRINGS["intel"].ids))
# Lists of strings and structs (a payment's infra_risk): few types have them.
_NESTED: dict[str, _Strings | None] = {
    etype: st._replace(ids=(), plain=()) if st.lists or st.nested else None for etype, st in _STRINGS.items()
}


class Tokenizer:
    """Replaces identifiers with keyed tokens; the key never leaves this object."""

    def __init__(self, key: bytes, consortium: bytes | None = None) -> None:
        if len(key) < 16:
            raise ValueError("tokenisation key must be at least 16 bytes")
        # The consortium's tokens (intel/): the same raw value gives the same one at every member.
        self.consortium: Tokenizer | None = Tokenizer(consortium) if consortium is not None else None
        # Keying BLAKE2b costs a compression of the key block; copying a keyed state does not.
        self._keyed = blake2b(key=key[:64], digest_size=12)
        # The same customers, cards and devices come back all day: their tokens are remembered
        # (in memory only, never written) up to a bound, then the memory starts afresh.
        self._memo: dict[str, str] = {}
        # The same for other strings: each value as it is stored (itself, or redacted).
        self._clean: dict[str, str] = {}
        self._clean_ids: dict[str, str] = {}

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

    def redact(self, value: str, ids: bool = False) -> str:
        """``redact(value, ids)``, remembered (the values that come back all day are searched once)."""
        memo = self._clean_ids if ids else self._clean
        out = memo.get(value)
        if out is None:
            if len(memo) >= TOKEN_MEMO:
                memo.clear()
            out = redact(value, ids)
            out = memo[value] = value if out == value else out  # the same object when unchanged
        return out

    def protect(self, event: Event) -> Event:
        """Tokenise and redact the event in place (it is ours from decode on) and return it.
        Raises ``EventError`` (before anything is stored) for an event id carrying personal data."""
        etype = event.__struct_config__.tag  # type: ignore[union-attr]
        check_event_id(event.event_id)
        tok = self.token
        cx = self._consortium_tokens(event, etype) if self.consortium is not None else None
        if etype != "intel":  # an intel record's customer_id names the list's source, not a client
            event.customer_id = tok(event.customer_id)
        for name in _PII_FIELDS[etype]:
            value = getattr(event, name)
            if value is not None:
                setattr(event, name, tok(value))
        strings = _STRINGS[etype]
        memo = self._clean_ids  # (inlined: most values are remembered, and this runs on every event)
        for name in strings.ids:
            value = getattr(event, name)
            if value:
                new = memo.get(value) or self.redact(value, True)
                if new is not value:
                    setattr(event, name, new)
        memo = self._clean
        for name in strings.plain:
            value = getattr(event, name)
            if value:
                new = memo.get(value) or self.redact(value)
                if new is not value:
                    setattr(event, name, new)
        rest = _NESTED[etype]
        if rest is not None:
            _scrub(event, rest, self.redact)
        for name in _TEXT_FIELDS.get(etype, ()):
            value = getattr(event, name)
            if value:
                setattr(event, name, redact_text(value))
        if event.extra:
            event.extra = _redact_any(event.extra)
            event.extra.pop(CX_FIELD, None)  # only qalqan writes it: a sent one is dropped
            if not event.extra:
                event.extra = None
        if cx:
            event.extra = {**(event.extra or {}), CX_FIELD: cx}
        return event

    def _consortium_tokens(self, event: Event, etype: str) -> list[list[str]] | None:
        """[field, kind, consortium token] of each identifier a consortium may list (the raw
        values are still on the event: this runs before they are replaced)."""
        names = CONSORTIUM_FIELDS.get(etype)
        if not names:
            return None
        assert self.consortium is not None
        out = []
        for name in names:
            value = getattr(event, name)
            if not value:
                continue
            kind = _cx_kind(etype, name, value, event)
            if kind is not None:
                out.append([name, kind, self.consortium.token(value)])
        return out or None


def _cx_kind(etype: str, name: str, value: str, event: Any) -> str | None:
    """The consortium's kind of an identifier (``CX_KINDS``), or None where it is none of them
    (a counterparty named by the bank's own customer id, an intel entry on a customer)."""
    if name == "device_id":
        return "device"
    if name == "card_id":
        return "card"
    if etype == "intel":
        entity = event.entity
        if entity == "customer":
            return None
        if entity == "account" and _iban_end(value.strip(), 0) is not None:
            return "iban"
        return str(entity)
    if name == "to_account":
        return "iban" if _iban_end(value.strip(), 0) is not None else "account"
    # counterparty_id: a phone (SBP by number) is one; a customer id of the bank's own is not
    digits = _NON_DIGITS.sub("", value)
    return "phone" if _NUMBERISH.fullmatch(value.strip()) and 10 <= len(digits) <= 15 else None


def _scrub(obj: Any, strings: _Strings, clean: Callable[[str, bool], str]) -> None:
    for names, ids in ((strings.ids, True), (strings.plain, False)):  # identifiers by the stricter rules
        for name in names:
            value = getattr(obj, name)
            if value:
                new = clean(value, ids)
                if new is not value:
                    setattr(obj, name, new)
    for name in strings.lists:
        value = getattr(obj, name)
        if value:
            setattr(obj, name, [clean(v, False) if isinstance(v, str) else v for v in value])
    for name, inner in strings.nested:
        value = getattr(obj, name)
        if value is not None:
            _scrub(value, inner, clean)


def _redact_any(value: Any) -> Any:
    """Unknown fields are kept, but nothing in them (keys, strings, numbers) may carry a card or
    phone number, an account or an e-mail address in clear."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {redact_text(k) if isinstance(k, str) else k: _redact_any(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_any(v) for v in value]
    if isinstance(value, int | Decimal) and not isinstance(value, bool) and abs(value) >= 1_000_000:
        text = str(value)
        out = redact_text(text)
        return value if out == text else out  # a redacted number becomes a string
    return value
