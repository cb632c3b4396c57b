"""The simulator's events: one small msgspec Struct per type of docs/events.md, and a builder for each.

Structs rather than dicts because they are about four times cheaper to build and cheaper to
encode, and the simulator builds hundreds of thousands a second. They are the simulator's own
write-side records, not ``qalqan.events``' validated types: the tag is the contract's ``type``,
field names are the contract's, optional fields left as ``None`` (or, for booleans, at the contract's
default) are not written. ``generate`` hands them out as plain dicts.

``ts`` is given to the builders as integer seconds and stored formatted; ``event_id`` is filled in
by the timeline when the day is written; a label's ``target_event_id`` holds the target event
itself until then.
"""

from __future__ import annotations

from typing import Any

from msgspec import Struct

from .timeline import ts_str


class Event(Struct, tag_field="type", omit_defaults=True):
    event_id: str
    ts: str
    customer_id: str


class Payment(Event, tag="payment"):
    card_id: str
    amount: float
    currency: str
    merchant_id: str
    channel: str
    mcc: str | None = None
    merchant_country: str | None = None
    auth_method: str | None = None
    liveness_score: float | None = None
    device_id: str | None = None
    ip: str | None = None
    country: str | None = None
    infra_risk: dict | None = None


class Transfer(Event, tag="transfer"):
    direction: str
    rail: str
    amount: float
    currency: str
    from_account: str
    to_account: str
    counterparty_type: str  # optional in the contract (default individual); always written here
    counterparty_id: str | None = None
    counterparty_bank: str | None = None
    self_transfer: bool = False
    device_id: str | None = None
    ip: str | None = None
    country: str | None = None
    infra_risk: dict | None = None


class Atm(Event, tag="atm"):
    operation: str
    amount: float
    currency: str
    card_id: str
    atm_id: str
    country: str
    tokenized: bool = False
    contactless: bool = False
    apdu_response_ms: int | None = None


class Login(Event, tag="login"):
    device_id: str
    ip: str
    isp: str
    os: str
    app: str
    auth_method: str
    success: bool
    liveness_score: float | None = None


class ProfileChange(Event, tag="profile_change"):
    field: str
    source: str


class DeviceSignal(Event, tag="device_signal"):
    kind: str
    active: bool  # always written (the contract's default is true)
    source: str
    device_id: str | None = None


class CommsSignal(Event, tag="comms_signal"):
    channel: str
    sender_known: bool
    sender_kind: str
    count: int
    duration_s: int | None = None


class Listing(Event, tag="listing"):
    listing_id: str
    title: str
    text: str
    price: float
    currency: str
    category: str
    city: str
    phone: str
    phone_country: str
    ip: str
    device_id: str


class Message(Event, tag="message"):
    to_customer_id: str
    text: str


class Label(Event, tag="label"):
    target_event_id: Any  # the target event until the day is written, then its id
    label: str
    source: str
    scenario: str | None = None  # not in the contract; unknown fields are kept


class Intel(Event, tag="intel"):
    list: str
    entity: str
    value: str
    op: str
    expires_at: str | None = None


MONEY = (Payment, Transfer, Atm)


def payment(ts: int, cid: str, card: str, amount: float, cur: str, merchant: str, mcc: str, mcountry: str,
            channel: str, auth: str | None, device: str | None = None, ip: str | None = None,
            country: str | None = None, liveness: float | None = None, infra: dict | None = None) -> Payment:
    return Payment("", ts_str(ts), cid, card, amount, cur, merchant, channel, mcc, mcountry, auth, liveness, device,
                   ip, country, infra)


def transfer(ts: int, cid: str, direction: str, rail: str, amount: float, cur: str, from_acc: str, to_acc: str,
             cp_id: str | None, cp_type: str = "individual", cp_bank: str | None = None, self_t: bool = False,
             device: str | None = None, ip: str | None = None, country: str | None = None,
             infra: dict | None = None) -> Transfer:
    return Transfer("", ts_str(ts), cid, direction, rail, amount, cur, from_acc, to_acc, cp_type, cp_id, cp_bank,
                    self_t, device, ip, country, infra)


def atm(ts: int, cid: str, op: str, amount: float, cur: str, card: str, atm_id: str, apdu: int | None,
        country: str, tokenized: bool = False, contactless: bool = False) -> Atm:
    return Atm("", ts_str(ts), cid, op, amount, cur, card, atm_id, country, tokenized, contactless, apdu)


def login(ts: int, cid: str, device: str, ip: str, isp: str, os: str, app: str, auth: str,
          success: bool = True, liveness: float | None = None) -> Login:
    return Login("", ts_str(ts), cid, device, ip, isp, os, app, auth, success, liveness)


def profile_change(ts: int, cid: str, field: str, source: str) -> ProfileChange:
    return ProfileChange("", ts_str(ts), cid, field, source)


def device_signal(ts: int, cid: str, device: str | None, kind: str, active: bool = True,
                  source: str = "sdk") -> DeviceSignal:
    return DeviceSignal("", ts_str(ts), cid, kind, active, source, device)


def comms(ts: int, cid: str, channel: str, known: bool, kind: str, count: int = 1,
          duration: int | None = None) -> CommsSignal:
    return CommsSignal("", ts_str(ts), cid, channel, known, kind, count, duration)


def listing(ts: int, cid: str, listing_id: str, title: str, text: str, price: float, cur: str, category: str,
            city: str, phone: str, phone_country: str, ip: str, device: str) -> Listing:
    return Listing("", ts_str(ts), cid, listing_id, title, text, price, cur, category, city, phone, phone_country,
                   ip, device)


def message(ts: int, cid: str, to_cid: str, text: str) -> Message:
    return Message("", ts_str(ts), cid, to_cid, text)


def label(ts: int, cid: str, target: Event, value: str, scenario: str | None = None) -> Label:
    return Label("", ts_str(ts), cid, target, value, "simulator", scenario)


def intel(ts: int, source: str, lst: str, entity: str, value: str, op: str = "add",
          expires_at: str | None = None) -> Intel:
    return Intel("", ts_str(ts), source, lst, entity, value, op, expires_at)
