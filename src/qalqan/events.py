"""The event contract (docs/events.md, v1) as typed schemas, and the decoder.

Field names are fixed by the contract: integrators and acceptance cases are written against
them. This module imports nothing of qalqan's, so every other part can depend on it.

Decoding goes through a plain dict first (floats kept as exact ``Decimal``) and then
``msgspec.convert`` into the tagged union: that keeps the speed of msgspec while letting us
keep unknown fields (the contract says they are kept, not rejected) in ``extra``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Union

import msgspec
from msgspec import Meta, Struct, field

__all__ = [
    "Event",
    "EventError",
    "EventConflict",
    "TargetNotFound",
    "Decision",
    "Reason",
    "Hold",
    "Fallback",
    "MONEY_TYPES",
    "decode_event",
    "event_from_dict",
    "json_schema",
    "ts_to_us",
    "refuse_ahead",
    "scoped_id",
    "same_event",
    "us_to_rfc3339",
]


class EventError(ValueError):
    """An event that breaks the contract; names the field and the problem."""

    # The HTTP status it is answered with (a subclass names another: a conflict, a missing target).
    status = 422

    def __init__(self, field: str, problem: str, line: int | None = None) -> None:
        self.field = field
        self.problem = problem
        self.line = line
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"{where}{field}: {problem}")

    def at_line(self, line: int) -> EventError:
        """The same error, placed on a line of the file it came from."""
        self.line = line
        self.args = (f"line {line}: {self.field}: {self.problem}",)
        return self

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"field": self.field, "problem": self.problem}
        if self.line is not None:
            d["line"] = self.line
        return d


class EventConflict(EventError):
    """An event id already taken by another event (another body or type): 409, nothing changes."""

    status = 409

    def __init__(self, event_id: str, problem: str) -> None:
        super().__init__("event_id", problem)
        self.event_id = event_id


class TargetNotFound(EventError):
    """An event naming an object (a hold) that its organisation does not have: 404, nothing changes."""

    status = 404


# --- value types --------------------------------------------------------------------------
_MAX_AMOUNT = Decimal("1e15")
Amount = Annotated[Decimal, Meta(description="a positive decimal number or decimal string")]
Currency = Annotated[str, Meta(pattern="^[A-Z]{3}$", description="ISO 4217 code")]
Country = Annotated[str, Meta(pattern="^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]
Ts = Annotated[datetime, Meta(tz=True, description="RFC 3339 with a time zone")]
Id = Annotated[str, Meta(min_length=1, max_length=256)]
# An event id names one event of its organisation; control characters are refused (they are no
# one's ids, and qalqan scopes ids by organisation with one: ``scoped_id``).
EVENT_ID_PATTERN = "^[^\x00-\x1f\x7f]+$"
EventId = Annotated[str, Meta(min_length=1, max_length=256, pattern=EVENT_ID_PATTERN)]
Unit = Annotated[float, Meta(ge=0, le=1)]


class InfraRisk(Struct, forbid_unknown_fields=False):
    level: Literal["low", "medium", "high"]
    factors: list[str] = []


# Event time outside these years is a forged or broken clock, never a real event: refused, so that
# no timestamp can jump the windows, the duplicate horizon or a replay's deadlines by centuries.
TS_MIN = datetime(2000, 1, 1, tzinfo=UTC)
TS_MAX = datetime(2100, 1, 1, tzinfo=UTC)


def _check_time(name: str, value: datetime | None) -> None:
    if value is not None and not TS_MIN <= value < TS_MAX:
        raise ValueError(f"Implausible time for `{name}`: {value.isoformat()} is not within "
                         f"{TS_MIN:%Y-%m-%d}..{TS_MAX:%Y-%m-%d}")


class _Envelope(Struct, tag_field="type", kw_only=True, forbid_unknown_fields=True):
    event_id: EventId
    ts: Ts
    customer_id: Id
    # Whose law applies to this client (jurisdiction.py); None: the organisation's (QALQAN_JURISDICTIONS).
    jurisdiction: Literal["RU", "KZ"] | None = None
    # Unknown fields of the incoming event, kept as sent (after redaction).
    extra: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        _check_time("ts", self.ts)


class _Money(_Envelope, kw_only=True):
    def __post_init__(self) -> None:
        _check_time("ts", self.ts)
        # msgspec cannot bound a Decimal; a zero or negative amount is refused here.
        amount: Decimal = self.amount  # type: ignore[attr-defined]
        if not amount.is_finite() or amount <= 0 or amount >= _MAX_AMOUNT:
            raise ValueError(f"Expected a positive amount below 1e15, got {amount}")


# --- money movements ----------------------------------------------------------------------
class Payment(_Money, tag="payment", kw_only=True):
    card_id: Id
    amount: Amount
    currency: Currency
    merchant_id: Id
    channel: Literal["ecom", "pos", "biometric", "atm_qr"]
    mcc: str | None = None
    merchant_country: Country | None = None
    auth_method: Literal["none", "pin", "otp", "3ds", "biometric"] | None = None
    liveness_score: Unit | None = None
    device_id: Id | None = None
    ip: str | None = None
    country: Country | None = None
    infra_risk: InfraRisk | None = None


class Transfer(_Money, tag="transfer", kw_only=True):
    direction: Literal["out", "in"]
    rail: Literal["internal", "sbp", "interbank", "card2card", "cross_border", "crypto"]
    amount: Amount
    currency: Currency
    from_account: Id
    to_account: Id
    counterparty_id: Id | None = None
    counterparty_type: Literal["individual", "business"] = "individual"
    counterparty_bank: str | None = None
    self_transfer: bool = False
    device_id: Id | None = None
    ip: str | None = None
    country: Country | None = None
    infra_risk: InfraRisk | None = None


class Atm(_Money, tag="atm", kw_only=True):
    operation: Literal["withdrawal", "deposit"]
    amount: Amount
    currency: Currency
    card_id: Id
    atm_id: Id
    tokenized: bool = False
    contactless: bool = False
    apdu_response_ms: Annotated[float, Meta(ge=0)] | None = None
    country: Country | None = None


# --- context events -----------------------------------------------------------------------
class Login(_Envelope, tag="login", kw_only=True):
    device_id: Id
    success: bool
    ip: str | None = None
    isp: str | None = None
    os: str | None = None
    app: str | None = None
    auth_method: str | None = None
    liveness_score: Unit | None = None


class ProfileChange(_Envelope, tag="profile_change", kw_only=True):
    field: Literal["phone", "email", "password", "device", "sim", "trusted_person"]
    source: Literal["online_banking", "gosuslugi", "egov", "branch", "operator"] | None = None


class DeviceSignal(_Envelope, tag="device_signal", kw_only=True):
    kind: Literal[
        "malware", "os_change", "isp_change", "sim_change", "remote_access",
        "rooted", "emulator", "active_call", "session_hiding",
    ]
    device_id: Id | None = None
    active: bool = True
    source: str | None = None


class CommsSignal(_Envelope, tag="comms_signal", kw_only=True):
    channel: Literal["call", "sms", "messenger"]
    sender_known: bool
    sender_kind: Literal["bank", "gosuslugi", "courier", "other"] | None = None
    count: Annotated[int, Meta(ge=1)] = 1
    duration_s: Annotated[float, Meta(ge=0)] | None = None


class Listing(_Envelope, tag="listing", kw_only=True):
    listing_id: Id
    title: str | None = None
    text: str | None = None
    price: Amount | None = None
    currency: Currency | None = None
    category: str | None = None
    city: str | None = None
    phone: str | None = None
    phone_country: Country | None = None
    ip: str | None = None
    device_id: Id | None = None


class Message(_Envelope, tag="message", kw_only=True):
    to_customer_id: Id
    text: str


class Label(_Envelope, tag="label", kw_only=True):
    target_event_id: EventId
    label: Literal["fraud", "legit", "chargeback"]
    source: str | None = None


class Intel(_Envelope, tag="intel", kw_only=True):
    # "allow" is qalqan's addition (docs/events.md): made by people only (the list API, the console),
    # never by an event a client sends (Engine.decide_event refuses it: an integrator's key cannot whitelist).
    list: Literal["cbr_fincert", "gis_antifraud", "criminal_case", "internal", "kz_antifraud_center", "consortium",
                  "allow"]
    entity: Literal["account", "card", "phone", "device", "customer"]
    value: Id
    op: Literal["add", "remove"]
    expires_at: Ts | None = None

    def __post_init__(self) -> None:
        _check_time("ts", self.ts)
        _check_time("expires_at", self.expires_at)


class HoldResponse(_Envelope, tag="hold_response", kw_only=True):
    """qalqan's extension of the contract: the client (or the trusted person) answers a hold."""

    target_event_id: EventId
    response: Literal["confirm", "reject"]
    by: Literal["client", "trusted_person"] = "client"


Event = Union[
    Payment, Transfer, Atm, Login, ProfileChange, DeviceSignal, CommsSignal, Listing, Message, Label, Intel,
    HoldResponse,
]
EVENT_TYPES: dict[str, type[Struct]] = {
    cls.__struct_config__.tag: cls  # type: ignore[misc]
    for cls in (Payment, Transfer, Atm, Login, ProfileChange, DeviceSignal, CommsSignal, Listing, Message, Label, Intel,
                HoldResponse)
}
MONEY_TYPES = frozenset({"payment", "transfer", "atm"})
_FIELDS = {name: set(cls.__struct_fields__) | {"type"} for name, cls in EVENT_TYPES.items()}


# --- the decision -------------------------------------------------------------------------
class Reason(Struct, omit_defaults=True):
    code: str
    source: str
    text: str | None = None
    weight: float | None = None
    action: str | None = None


class Hold(Struct, omit_defaults=True):
    until: str
    confirm_by: str
    kind: str = "161fz_art8"


class Fallback(Struct):
    """A stage that could not do its part (``stage``: model, …), why (``cause``), and what decided
    instead (``action``: the action given without it)."""

    stage: str
    cause: str
    action: str


class Decision(Struct, omit_defaults=True):
    event_id: str
    action: Literal["approve", "challenge", "review", "hold", "decline"]
    score: float
    reasons: list[Reason]
    hold: Hold | None = None
    versions: dict[str, str] = field(default_factory=dict)
    # Rules in shadow mode that would have hit: recorded, never acted on.
    shadow: list[Reason] | None = None
    fallback: Fallback | None = None
    latency_ms: float = 0.0


def check_sent(event: Event) -> None:
    """What no client may send, whatever its key (the engine and the scaled fronts ask this of every
    event a client sent): an allow-list entry softens the engine's own judgement, so only people make
    one (the list API's analysts and admins, the console); a stolen integrator key must not whitelist."""
    if isinstance(event, Intel) and event.list == "allow":
        raise EventError("list", "the allow list is kept by people (POST /v1/lists/allow, the console), "
                                 "not by events a client sends")


# --- decoding -----------------------------------------------------------------------------
_json_decoder = msgspec.json.Decoder(float_hook=Decimal)
# The fast path: straight into the typed union. Unknown fields make it fail, and only then
# is the event decoded a second time through a dict to keep them.
_typed_decoder = msgspec.json.Decoder(Event)
_PATH = re.compile(r" - at `\$\.?([^`]*)`$")


def _error_from_msgspec(exc: msgspec.ValidationError) -> EventError:
    msg = str(exc)
    m = _PATH.search(msg)
    if m:
        fld = m.group(1) or "$"
        problem = msg[: m.start()]
    else:
        fld, problem = "$", msg
    if problem.startswith("Expected a positive amount"):
        fld = f"{fld}.amount" if fld != "$" else "amount"
    mt = re.match(r"Implausible time for `([^`]+)`: (.*)", problem)
    if mt:
        fld, problem = mt.group(1), f"implausible time: {mt.group(2)}"
    mm = re.match(r"Object missing required field `([^`]+)`", problem)
    if mm:
        fld = f"{fld}.{mm.group(1)}" if fld != "$" else mm.group(1)
        problem = "required field is missing"
    return EventError(fld, problem)


def event_from_dict(obj: Any) -> Event:
    """Validate a decoded JSON object against the contract; unknown fields go to ``extra``."""
    if not isinstance(obj, dict):
        raise EventError("$", f"an event must be a JSON object, got {type(obj).__name__}")
    etype = obj.get("type")
    if etype is None:
        raise EventError("type", "required field is missing")
    known = _FIELDS.get(etype) if isinstance(etype, str) else None
    if known is None:
        raise EventError("type", f"unknown event type {etype!r}; expected one of {sorted(EVENT_TYPES)}")
    for name in ("ts", "expires_at"):  # an epoch number is no RFC 3339 time (the slow path would take it)
        value = obj.get(name)
        if value is not None and not isinstance(value, str):
            raise EventError(name, f"expected an RFC 3339 string (e.g. 2026-01-15T10:22:03Z), "
                                   f"got {type(value).__name__}")
    if "extra" in obj or not known.issuperset(obj):
        extra = {k: v for k, v in obj.items() if k not in known or k == "extra"}
        obj = {k: v for k, v in obj.items() if k in known and k != "extra"}
        obj["extra"] = extra
    try:
        return msgspec.convert(obj, EVENT_TYPES[etype], strict=False)  # type: ignore[return-value]
    except msgspec.ValidationError as exc:
        raise _error_from_msgspec(exc) from None


def decode_event(data: bytes | str) -> Event:
    """Decode one JSON event; raises ``EventError`` naming the field and the problem."""
    try:
        return _typed_decoder.decode(data)  # type: ignore[no-any-return]
    except msgspec.DecodeError:
        pass  # unknown fields, or an error: the slow path keeps the first and names the second
    try:
        obj = _json_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise EventError("$", f"not valid JSON: {exc}") from None
    return event_from_dict(obj)


# --- time ---------------------------------------------------------------------------------
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ts_to_us(ts: datetime) -> int:
    """Event time as integer microseconds since the epoch: exact, and cheap to compare."""
    d = ts - _EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def same_event(stored: bytes, event: Event) -> bool:
    """Idempotency by content: ``event`` (protected) is the one stored under its id. Compared as
    events, not bytes, so ``25000`` and ``25000.00`` are one amount."""
    try:
        return decode_event(stored) == event
    except EventError:
        return False


def scoped_id(org: str, event_id: str) -> str:
    """An event id is unique within its organisation: the key that tells two organisations' equal
    ids apart wherever qalqan keeps ids of several in one place (the duplicate memory, the hold book,
    the stream's message ids). The default organisation's ids are their own key."""
    return event_id if org == "default" else f"{org}\x1f{event_id}"


def refuse_ahead(ts: datetime, limit_us: int, max_s: int, of_what: str) -> None:
    """Refuses a ``ts`` more than ``max_s`` seconds ahead of ``limit_us`` (a server's clock, or a
    stream's running time): a forged future must not fire deadlines nor jump windows."""
    if ts_to_us(ts) > limit_us + max_s * 1_000_000:
        raise EventError("ts", f"{ts.isoformat()} is more than {max_s} s ahead of {of_what}")


def us_to_rfc3339(us: int) -> str:
    secs, micros = divmod(us, 1_000_000)
    dt = datetime.fromtimestamp(secs, tz=UTC)
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{micros:06d}Z" if micros else f"{base}Z"


def json_schema() -> dict[str, Any]:
    """JSON Schema of every event type and of the decision (published for integrators)."""
    schema, components = msgspec.json.schema_components([Event, Decision], ref_template="#/$defs/{name}")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "qalqan event contract v1",
        "oneOf": [schema[0]],
        "$defs": components,
    }
