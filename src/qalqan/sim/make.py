"""Event builders: one function per event type of EVENTS.md, fields in the contract's order.

``ts`` is given as integer seconds and stored formatted; ``event_id`` is a placeholder the
timeline fills in when the day is written. Keeping both keys first keeps the envelope first on the
wire. Optional fields are left out when unknown, as the contract allows.
"""

from __future__ import annotations

from .timeline import ts_str


def payment(ts: int, cid: str, card: str, amount: float, cur: str, merchant: str, mcc: str, mcountry: str,
            channel: str, auth: str | None, device: str | None = None, ip: str | None = None,
            country: str | None = None, liveness: float | None = None, infra: dict | None = None) -> dict:
    ev = {"type": "payment", "event_id": "", "ts": ts_str(ts), "customer_id": cid, "card_id": card, "amount": amount,
          "currency": cur, "merchant_id": merchant, "mcc": mcc, "merchant_country": mcountry,
          "channel": channel}
    if auth is not None:
        ev["auth_method"] = auth
    if liveness is not None:
        ev["liveness_score"] = liveness
    if device is not None:
        ev["device_id"] = device
        ev["ip"] = ip
    if country is not None:
        ev["country"] = country
    if infra is not None:
        ev["infra_risk"] = infra
    return ev


def transfer(ts: int, cid: str, direction: str, rail: str, amount: float, cur: str, from_acc: str, to_acc: str,
             cp_id: str | None, cp_type: str = "individual", cp_bank: str | None = None, self_t: bool = False,
             device: str | None = None, ip: str | None = None, country: str | None = None,
             infra: dict | None = None) -> dict:
    ev = {"type": "transfer", "event_id": "", "ts": ts_str(ts), "customer_id": cid, "direction": direction,
          "rail": rail, "amount": amount, "currency": cur, "from_account": from_acc, "to_account": to_acc}
    if cp_id is not None:
        ev["counterparty_id"] = cp_id
    ev["counterparty_type"] = cp_type
    if cp_bank is not None:
        ev["counterparty_bank"] = cp_bank
    if self_t:
        ev["self_transfer"] = True
    if device is not None:
        ev["device_id"] = device
        ev["ip"] = ip
    if country is not None:
        ev["country"] = country
    if infra is not None:
        ev["infra_risk"] = infra
    return ev


def atm(ts: int, cid: str, op: str, amount: float, cur: str, card: str, atm_id: str, apdu: int | None,
        country: str, tokenized: bool = False, contactless: bool = False) -> dict:
    ev = {"type": "atm", "event_id": "", "ts": ts_str(ts), "customer_id": cid, "operation": op, "amount": amount,
          "currency": cur, "card_id": card}
    if tokenized:
        ev["tokenized"] = True
    if contactless:
        ev["contactless"] = True
    if apdu is not None:
        ev["apdu_response_ms"] = apdu
    ev["atm_id"] = atm_id
    ev["country"] = country
    return ev


def login(ts: int, cid: str, device: str, ip: str, isp: str, os: str, app: str, auth: str,
          success: bool = True, liveness: float | None = None) -> dict:
    ev = {"type": "login", "event_id": "", "ts": ts_str(ts), "customer_id": cid, "device_id": device, "ip": ip,
          "isp": isp, "os": os, "app": app, "auth_method": auth, "success": success}
    if liveness is not None:
        ev["liveness_score"] = liveness
    return ev


def profile_change(ts: int, cid: str, field: str, source: str) -> dict:
    return {"type": "profile_change", "event_id": "", "ts": ts_str(ts), "customer_id": cid, "field": field,
            "source": source}


def device_signal(ts: int, cid: str, device: str | None, kind: str, active: bool = True,
                  source: str = "sdk") -> dict:
    ev = {"type": "device_signal", "event_id": "", "ts": ts_str(ts), "customer_id": cid}
    if device is not None:
        ev["device_id"] = device
    ev["kind"] = kind
    ev["active"] = active
    ev["source"] = source
    return ev


def comms(ts: int, cid: str, channel: str, known: bool, kind: str, count: int = 1,
          duration: int | None = None) -> dict:
    ev = {"type": "comms_signal", "event_id": "", "ts": ts_str(ts), "customer_id": cid, "channel": channel,
          "sender_known": known, "sender_kind": kind, "count": count}
    if duration is not None:
        ev["duration_s"] = duration
    return ev


def listing(ts: int, cid: str, listing_id: str, title: str, text: str, price: float, cur: str, category: str,
            city: str, phone: str, phone_country: str, ip: str, device: str) -> dict:
    return {"type": "listing", "event_id": "", "ts": ts_str(ts), "customer_id": cid, "listing_id": listing_id,
            "title": title, "text": text, "price": price, "currency": cur, "category": category, "city": city,
            "phone": phone, "phone_country": phone_country, "ip": ip, "device_id": device}


def message(ts: int, cid: str, to_cid: str, text: str) -> dict:
    return {"type": "message", "event_id": "", "ts": ts_str(ts), "customer_id": cid, "to_customer_id": to_cid,
            "text": text}


def label(ts: int, cid: str, target: dict, value: str, scenario: str | None = None) -> dict:
    """``target`` is the event itself; the timeline swaps in its id when the label is written."""
    ev = {"type": "label", "event_id": "", "ts": ts_str(ts), "customer_id": cid, "target_event_id": target,
          "label": value, "source": "simulator"}
    if scenario is not None:
        ev["scenario"] = scenario
    return ev


def intel(ts: int, source: str, lst: str, entity: str, value: str, op: str = "add",
          expires_at: str | None = None) -> dict:
    ev = {"type": "intel", "event_id": "", "ts": ts_str(ts), "customer_id": source, "list": lst, "entity": entity,
          "value": value, "op": op}
    if expires_at is not None:
        ev["expires_at"] = expires_at
    return ev
