"""The OpenAPI description of cases, lists, labels and the audit log (api/openapi.py merges it)."""

from __future__ import annotations

from typing import Any

import msgspec

from ..cases import LISTABLE, OUTCOMES, STATES, Case
from ..list_changes import ENTITIES, LISTS, MAX_TTL_S, RFC3339, ListEntry

PROBLEM = "application/problem+json"
_VALUE = r'[^,\s"\x00-\x1f\x7f-\x9f]([^,"\x00-\x1f\x7f-\x9f]{0,254}[^,\s"\x00-\x1f\x7f-\x9f])?'
CSV_PATTERN = rf"^entity,value\r?\n(({'|'.join(ENTITIES)}),{_VALUE}\r?\n)*(({'|'.join(ENTITIES)}),{_VALUE})?$"


def _param(name: str, where: str, schema: dict[str, Any], required: bool = False, text: str = "") -> dict[str, Any]:
    p: dict[str, Any] = {"name": name, "in": where, "schema": schema, "required": required or where == "path"}
    if text:
        p["description"] = text
    return p


def openapi_paths(problem: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(paths, component schemas)."""
    (case, entry), components = msgspec.json.schema_components([Case, ListEntry],
                                                               ref_template="#/components/schemas/{name}")
    err = {"content": {PROBLEM: {"schema": problem}}}
    e404 = {"404": {"description": "no such thing in the caller's organisation (another's is answered alike)",
                    **err}}
    e409 = {"409": {"description": "the case is decided already", **err}}
    e422 = {"422": {"description": "invalid input; names the field", **err}}
    e403 = {"403": {"description": "the key's role may not do this", **err}}
    ok = lambda schema, text="": {"description": text or "ok",  # noqa: E731
                                  "content": {"application/json": {"schema": schema}}}
    text = {"type": "string"}
    # The years the engine finds plausible (events.py, TS_MIN..TS_MAX); a live server also refuses a
    # time more than QALQAN_MAX_SKEW ahead of its clock, which no schema can say.
    year_20xx = "^20\\d\\d" + RFC3339.pattern.removeprefix(r"\d{4}") + "$"
    when = {"type": "string", "format": "date-time", "pattern": year_20xx}
    ts = {**when, "type": ["string", "null"], "description": "event time, RFC 3339 (default: now)"}
    value = {"type": "string", "minLength": 1, "maxLength": 256}
    both = {"required": ["ttl_s", "expires_at"],  # an expiry one way or the other, not both
            "properties": {"ttl_s": {"type": "number"}, "expires_at": {"type": "string"}}}
    ttl = {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": MAX_TTL_S}
    after = _param("after", "query", {"type": "integer", "minimum": 0, "maximum": 2**62},
                   text="page on: only rows after this id/seq")
    limit = _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000})
    case_id = _param("case_id", "path", {"type": "string"}, text="the case's id (digits)")
    list_name = _param("list", "path", {"type": "string", "enum": list(LISTS)})
    components["CaseDetail"] = {"type": "object", "properties": {
        "case": case, "event": {"type": "object", "description": "the stored (tokenised) event"},
        "decision": {"type": ["object", "null"]}, "reasons": {"type": "array", "items": {"type": "object"}},
        "features": {"type": ["object", "null"], "description": "when the decision recorded them"},
        "history": {"type": "array", "description": "the customer's latest events before this one",
                    "items": {"type": "object", "properties": {
                        "event_id": text, "type": text, "ts": text, "action": {"type": ["string", "null"]},
                        "amount": {"type": ["string", "null"]}, "currency": {"type": ["string", "null"]}}}}},
        "required": ["case", "event", "decision", "reasons", "history"]}
    components["Label"] = {"type": "object", "properties": {
        "seq": {"type": "integer"}, "event_id": text, "label": {"enum": ["fraud", "legit", "chargeback"]},
        "source": {"type": ["string", "null"]}, "ts": text, "label_id": text},
        "required": ["seq", "event_id", "label", "ts", "label_id"]}
    components["AuditRow"] = {"type": "object", "properties": {
        "id": {"type": "integer"}, "at": {"type": "string", "description": "wall clock, UTC"}, "org": text,
        "actor": text, "role": text, "action": text, "target": text, "detail": text},
        "required": ["id", "at", "org", "actor", "role", "action", "target", "detail"]}
    ref = lambda name: {"$ref": f"#/components/schemas/{name}"}  # noqa: E731
    change = {"type": "object", "properties": {
        "entity": {"enum": list(ENTITIES)}, "value": {**value, "description": "raw; tokenised at the boundary"},
        "ttl_s": ttl, "expires_at": {**ts, "description": "instead of ttl_s"}, "ts": ts},
        "required": ["entity", "value"], "additionalProperties": False,
        "not": both}
    item = {"type": "object", "properties": {"entity": {"enum": list(ENTITIES)}, "value": value,
                                             "ttl_s": ttl, "expires_at": {**when, "type": ["string", "null"]}},
            "required": ["entity", "value"], "additionalProperties": False,
            "not": both}
    idem = _param("Idempotency-Key", "header", {"type": "string"}, text="a retry with the same key is the same change")
    paths = {
        "/v1/cases": {"get": {
            "summary": "The review queue: cases opened by review and hold decisions, nearest deadline first",
            "parameters": [_param("state", "query", {"enum": list(STATES)}), _param("assignee", "query", text),
                           limit, after],
            "responses": {"200": ok({"type": "array", "items": case}, "the caller's cases"), **e422}}},
        "/v1/cases/{case_id}": {"get": {
            "summary": "A case: the event, its reasons, its features if recorded, the customer's recent history",
            "parameters": [case_id],
            "responses": {"200": ok(ref("CaseDetail")), **e404}}},
        "/v1/cases/{case_id}/assign": {"post": {
            "summary": "Assign a case (to the caller when no assignee is named); not for merchant keys",
            "parameters": [case_id],
            "requestBody": {"content": {"application/json": {"schema": {
                "type": "object", "properties": {"assignee": {"type": "string", "minLength": 1}}}}}},
            "responses": {"200": ok(case, "the case"), **e403, **e404, **e409, **e422}}},
        "/v1/cases/{case_id}/decide": {"post": {
            "summary": "Decide a case: fraud / legitimate become a label; contact_customer keeps it assigned",
            "parameters": [case_id],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["outcome"], "properties": {
                    "outcome": {"enum": list(OUTCOMES)}, "note": {"type": "string", "maxLength": 4000},
                    "add_to": {"type": "array", "items": {"enum": list(LISTABLE)},
                               "description": "put the event's counterparty, card or device on a list"},
                    "list": {"enum": list(LISTS), "default": "internal"},
                    "ttl_s": ttl, "ts": ts}}}}},
            "responses": {"200": ok(case, "the case after the decision"), **e404, **e409, **e422}}},
        "/v1/labels": {
            "post": {"summary": "Label a money movement (fraud, legitimate, chargeback): a label event, for training",
                     "parameters": [idem],
                     "requestBody": {"required": True, "content": {"application/json": {"schema": {
                         "type": "object", "required": ["event_id", "label"], "properties": {
                             "event_id": {"type": "string", "minLength": 1, "maxLength": 200},
                             "label": {"enum": ["fraud", "legitimate", "legit", "chargeback"]},
                             "source": {"type": ["string", "null"], "minLength": 1, "maxLength": 40}, "ts": ts}}}}},
                     "responses": {
                         "201": ok({"type": "object", "properties": {
                             "label_id": text, "event_id": text, "label": text, "duplicate": {"type": "boolean"}}},
                             "labelled"),
                         "200": {"description": "the same label again: nothing new"}, **e404, **e422}},
            "get": {"summary": "The organisation's labels in record order", "parameters": [after, limit],
                    "responses": {"200": ok({"type": "array", "items": ref("Label")}), **e422}}},
        "/v1/lists": {"get": {"summary": "The lists and entity kinds",
                              "responses": {"200": ok({"type": "object", "properties": {
                                  "lists": {"type": "array", "items": text},
                                  "entities": {"type": "array", "items": text}}})}}},
        "/v1/lists/{list}": {
            "get": {"summary": "A list's current entries (values are tokens); look one up by value or token",
                    "parameters": [list_name, _param("entity", "query", {"enum": list(ENTITIES)}),
                                   _param("value", "query", text, text="a raw value, tokenised to look it up"),
                                   _param("token", "query", text), after,
                                   _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 10000})],
                    "responses": {"200": ok({"type": "array", "items": entry}), **e404, **e422}},
            "post": {"summary": "Add one entry (an intel event through the engine)",
                     "parameters": [list_name, idem],
                     "requestBody": {"required": True, "content": {"application/json": {"schema": change}}},
                     "responses": {"201": ok({"type": "object", "properties": {
                         "event_id": text, "duplicate": {"type": "boolean"}, "entry": entry}}, "added"),
                         "200": {"description": "a retry with the same Idempotency-Key: nothing new"},
                         **e404, **e422}}},
        "/v1/lists/{list}/import": {"post": {
            "summary": "Bulk import: a JSON array or CSV (header entity,value[,expires_at|ttl_s]); all or nothing",
            "parameters": [list_name, _param("ttl_s", "query", {**ttl, "type": "number"},
                                             text="expiry for rows that give none"), _param("ts", "query", when),
                           idem],
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": {"type": "array", "items": item}},
                "text/csv": {"schema": {"type": "string", "pattern": CSV_PATTERN,
                                        "description": "entity,value rows; the header may add expires_at or ttl_s"}}}},
            "responses": {"201": ok({"type": "object", "properties": {
                "imported": {"type": "integer"}, "new": {"type": "integer"},
                "event_ids": {"type": "array", "items": text}}}, "imported"),
                "200": {"description": "a retried import: nothing new"}, **e404, **e422}}},
        "/v1/lists/{list}/{entity}/{value}": {"delete": {
            "summary": "Remove an entry (value raw, or a token with ?token=1)",
            "parameters": [list_name, _param("entity", "path", {"enum": list(ENTITIES)}),
                           _param("value", "path", text), _param("token", "query", {"enum": ["0", "1"]}),
                           _param("ts", "query", when)],
            "responses": {"200": ok({"type": "object"}, "removed"), **e404, **e422}}},
        "/v1/audit": {"get": {
            "summary": "The audit log (auditor, admin): reads of customers' data and people's changes",
            "parameters": [after, limit, _param("actor", "query", text), _param("target", "query", text)],
            "responses": {"200": ok({"type": "array", "items": ref("AuditRow")}), **e422}}},
    }
    return paths, components
