"""Receipts over HTTP: issue one (``GET /v1/receipts/{event_id}``, integrators), verify one
(``POST /v1/receipts/verify``, open), the public keys (``GET /v1/receipt-keys``, open) and the page
a seller opens by scanning the QR or pasting the code (``GET|POST /verify``, open).

None of this runs inside ``POST /v1/events``: a receipt is signed when someone asks for it, so the
decision path pays nothing (docs/receipts.md has the measured costs).
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import parse_qs, quote

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from .. import audit
from ..engine import Engine
from ..receipts.code import ReceiptFormatError, Verdict
from ..receipts.issue import NoReceipt, Verifier, issue
from ..receipts.keys import FILE_NAME, ReceiptKeyError, ReceiptKeys
from .cases import actor_of

PROBLEM = "application/problem+json"
_MAX_BODY = 16_384  # a receipt is a few hundred bytes; anything far larger is not one
# The page shows money and names a payee: never cached, never framed by a phishing site, never leaked by referrer.
_PAGE_HEADERS = {"cache-control": "no-store", "referrer-policy": "no-referrer", "x-frame-options": "DENY",
                 "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                                            "frame-ancestors 'none'"}


def _problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    body = {"type": f"https://qalqan.dev/problems/{title.lower().replace(' ', '-')}", "title": title,
            "status": status, "detail": detail, **extra}
    return Response(msgspec.json.encode(body), status_code=status, media_type=PROBLEM)


def receipt_routes(engine: Engine) -> list[Route]:
    """The receipts' routes, bound to the engine whose record they read and whose keys they use."""
    ring = ReceiptKeys(engine.settings.home / FILE_NAME)  # read on first use: a bad file fails receipts only
    verifier = Verifier(engine.settings, ring)

    async def get_receipt(request: Request) -> Response:
        event_id, actor = request.path_params["event_id"], actor_of(request)
        if event_id == "verify":  # the open path: it must never hand out a receipt without a key
            return Response(status_code=405, headers={"allow": "POST"})
        try:
            issued = issue(engine, ring, event_id, actor.org)  # another organisation's: "not found"
        except NoReceipt as exc:
            title = "Not found" if exc.status == 404 else "No receipt"
            return _problem(exc.status, title, exc.reason, field="event_id")
        except ReceiptKeyError as exc:
            return _problem(503, "Receipt keys unavailable", str(exc))
        audit.log(engine.record, actor, "receipt.issue", f"event:{event_id}")
        body = issued.as_json()
        body["text"] = verifier.code(issued.code).text
        body["verify_url"] = f"{str(request.base_url).rstrip('/')}/verify?c={issued.code}"
        return JSONResponse(body)

    async def verify(request: Request) -> Response:
        raw = await request.body()
        if len(raw) > _MAX_BODY:
            return _problem(422, "Invalid request", f"the body is {len(raw)} bytes: a receipt is far smaller",
                            field="$")
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            return _problem(422, "Invalid request", "the body is not UTF-8 text", field="$")
        payee: str | None = None
        doc: Any = text
        kind = request.headers.get("content-type", "")
        if "json" in kind or (not kind.startswith("text/plain") and text.lstrip()[:1] in ("{", "[", '"')):
            try:
                doc = msgspec.json.decode(raw)
            except msgspec.DecodeError as exc:
                return _problem(422, "Invalid request", f"not valid JSON: {exc}", field="$")
        try:
            if isinstance(doc, dict):
                payee = doc.get("payee_check")
                if "payee_check" in doc and not isinstance(payee, str):
                    raise ReceiptFormatError("payee_check", "must be a string: your account, card, phone or "
                                                            "merchant id")
                if "signature" in doc:
                    verdict = verifier.receipt(doc, payee)
                else:
                    extra = sorted(set(doc) - {"code", "payee_check"})
                    if extra:
                        raise ReceiptFormatError(extra[0], "unknown field: send {\"code\", \"payee_check\"} "
                                                           "or the receipt itself")
                    code = doc.get("code")
                    if not isinstance(code, str) or not code.strip():
                        raise ReceiptFormatError("code", "give the receipt code, or the receipt itself as JSON")
                    verdict = verifier.code(code, payee)
            elif isinstance(doc, str):
                if not doc.strip():
                    raise ReceiptFormatError("code", "the body is empty: send the receipt code")
                verdict = verifier.code(doc)
            else:
                raise ReceiptFormatError("$", "send the code as text, {\"code\": …} or the receipt JSON")
        except ReceiptFormatError as exc:
            return _problem(422, "Invalid request", str(exc), field=exc.field, problem=exc.problem)
        except ReceiptKeyError as exc:
            return _problem(503, "Receipt keys unavailable", str(exc))
        return Response(msgspec.json.encode(verdict), media_type="application/json")

    async def public_keys(request: Request) -> Response:
        try:
            return JSONResponse({"keys": ring.published()})
        except ReceiptKeyError as exc:
            return _problem(503, "Receipt keys unavailable", str(exc))

    async def page(request: Request) -> Response:
        code, payee = request.query_params.get("c", ""), ""
        if request.method == "POST":
            raw = await request.body()
            form = parse_qs(raw[:_MAX_BODY].decode("utf-8", "replace"))  # bounded by the size cap
            code = form.get("c", [""])[0]
            payee = form.get("payee", [""])[0]
        verdict: Verdict | None = None
        if code.strip():
            try:
                verdict = verifier.code(code, payee or None)
            except ReceiptKeyError:
                verdict = Verdict(False, "keys unavailable", "cannot check now: the operator's keys are unavailable")
        return HTMLResponse(render_page(code, verdict), headers=_PAGE_HEADERS)

    return [
        Route("/v1/receipts/verify", verify, methods=["POST"]),
        Route("/v1/receipts/{event_id}", get_receipt, methods=["GET"]),
        Route("/v1/receipt-keys", public_keys, methods=["GET"]),
        Route("/verify", page, methods=["GET", "POST"]),
    ]


def render_page(code: str, verdict: Verdict | None) -> str:
    """One server-rendered page, no script: it works on the oldest phone a seller has."""
    result = ""
    if verdict is not None:
        if not verdict.genuine:
            colour, headline = "#b00020", "NOT GENUINE"
        elif verdict.to_you is False:
            colour, headline = "#b35c00", "NOT TO YOU"
        else:
            colour, headline = "#1b5e20", "GENUINE"
        details = ""
        if verdict.receipt is not None:
            r = verdict.receipt
            details = (f"<p class=small>event {html.escape(r['event_id'])} · {html.escape(r['type'])} · "
                       f"signed with key {html.escape(r['key_id'])}</p>")
        result = (f"<section style='border:3px solid {colour};padding:1em;margin:1em 0'>"
                  f"<h2 style='color:{colour};margin:0' id=verdict>{headline}</h2>"
                  f"<p id=text style='font-size:1.3em'>{html.escape(verdict.text)}</p>{details}</section>")
    link = (f"<p class=small>Link for a QR code: <code>/verify?c={html.escape(quote(code))}</code></p>"
            if verdict is not None and verdict.genuine else "")
    return ("<!doctype html><html lang=en><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width,initial-scale=1'><title>Check a receipt — qalqan</title>"
            "<style>body{font-family:sans-serif;max-width:40em;margin:1em auto;padding:0 1em}"
            "textarea,input{width:100%;font:1em monospace;box-sizing:border-box}.small{color:#555;font-size:.9em}"
            "code{word-break:break-all}"
            "button{font-size:1.1em;padding:.4em 1.2em;margin-top:.5em}</style>"
            "<h1>Check a payment receipt</h1>"
            "<p>Paste the receipt code the payer showed you, or scan its QR code with your phone's camera.</p>"
            f"{result}"
            "<form method=post action='/verify'>"
            f"<label for=c>Receipt code</label><textarea id=c name=c rows=5 required>{html.escape(code)}</textarea>"
            "<label for=payee>Your account, card, phone or merchant id (optional: to check the money is for you;"
            " it is checked and forgotten, never stored)</label>"
            "<input id=payee name=payee autocomplete=off>"
            "<button type=submit>Check</button></form>"
            "<p class=small>A genuine receipt is signed by the bank's key: a picture of a receipt, a screenshot or a "
            "message from a bot is no proof of payment. Check the amount, the time, and that it is to you.</p>"
            f"{link}</html>")


def openapi_paths(problem: dict[str, Any]) -> dict[str, Any]:
    """The receipts' part of /openapi.json (api/openapi.py merges it)."""
    as_problem = {"content": {PROBLEM: {"schema": problem}}}
    text = {"type": "string", "minLength": 1}
    receipt = {"type": "object", "properties": {
        "version": {"type": "integer"}, "key_id": text, "type": {"enum": ["payment", "transfer"]},
        "event_id": text, "amount": text, "currency": text,
        "payee": {"type": "object", "properties": {"merchant_id": {"type": "string"},
                                                   "refs": {"type": "array", "items": {"type": "string"}}}},
        "ts": text, "signature": text, "code": {"type": "string"},
        "text": {"type": "string"}, "verify_url": {"type": "string"}},
        "required": ["version", "key_id", "type", "event_id", "amount", "currency", "payee", "ts", "signature"]}
    # Sent back for checking, the receipt's own fields count; the informative ones are ignored.
    payee_check = {"type": "string", "description": "your account, card, phone or merchant id: answers to_you"}
    receipt_in = {**receipt, "properties": {**{k: v for k, v in receipt["properties"].items()
                                               if k not in ("code", "text", "verify_url")},
                                            "payee_check": payee_check}}
    verdict = {"type": "object", "properties": {
        "genuine": {"type": "boolean"}, "reason": {"type": "string"}, "text": {"type": "string"},
        "to_you": {"type": "boolean"}, "receipt": receipt}, "required": ["genuine", "reason", "text"]}
    html_page = {"200": {"description": "the page, with the verdict when a code was given",
                         "content": {"text/html": {"schema": {"type": "string"}}}}}
    return {
        "/v1/receipts/verify": {"post": {
            "summary": "Is this receipt genuine? (open: no key needed)",
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": {"oneOf": [
                    {"type": "object", "properties": {"code": {**text, "pattern": r"\S"}, "payee_check": payee_check},
                     "required": ["code"], "additionalProperties": False},
                    receipt_in, {"type": "string", "pattern": r"\S", "description": "the receipt code"}]}},
                "text/plain": {"schema": {"type": "string", "pattern": r"\S", "description": "the receipt code"}}}},
            "responses": {"200": {"description": "the verdict: genuine or not, why, and the text for a person",
                                  "content": {"application/json": {"schema": verdict}}},
                          "422": {"description": "no code and no receipt in the body; names the field",
                                  **as_problem},
                          "503": {"description": "the operator's receipt keys are unavailable", **as_problem}}}},
        "/v1/receipts/{event_id}": {"get": {
            "summary": "The signed receipt of an approved payment or transfer",
            "parameters": [{"name": "event_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "the receipt, its short code and the verification link",
                                  "content": {"application/json": {"schema": receipt}}},
                          "404": {"description": "no such event", **as_problem},
                          "405": {"description": "event id 'verify': that path is the open POST /v1/receipts/verify"},
                          "409": {"description": "the event gets no receipt (not approved, an ATM operation, "
                                                 "a context event)", **as_problem},
                          "503": {"description": "the operator's receipt keys are unavailable", **as_problem}}}},
        "/v1/receipt-keys": {"get": {
            "summary": "The operator's receipt public keys (Ed25519), for verifying offline (open)",
            "responses": {"200": {"description": "every key: id, public key (hex), status",
                                  "content": {"application/json": {"schema": {"type": "object"}}}},
                          "503": {"description": "the operator's receipt keys are unavailable", **as_problem}}}},
        "/verify": {
            "get": {"summary": "The public page where a seller checks a receipt (open; ?c=CODE from a QR)",
                    "parameters": [{"name": "c", "in": "query", "schema": {"type": "string"}}],
                    "responses": html_page},
            "post": {"summary": "The page's form: the code and, optionally, the seller's own account",
                     "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {
                         "type": "object", "properties": {"c": {"type": "string"}, "payee": {"type": "string"}}}}}},
                     "responses": html_page}},
    }
