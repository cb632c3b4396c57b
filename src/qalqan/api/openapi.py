"""The OpenAPI 3 description of the HTTP API, built from the same msgspec types the engine uses."""

from __future__ import annotations

import html
from typing import Any

import msgspec

from ..events import Decision, Event
from .intel import openapi_paths as intel_paths
from .keys import OPEN_PATHS, OPEN_PREFIXES
from .people_spec import openapi_paths as people_paths
from .receipts import openapi_paths as receipt_paths


def spec(version: str, auth: bool = True) -> dict[str, Any]:
    """``auth``: the server checks API keys (QALQAN_AUTH=on): operations declare the key and their
    401/403 answers; a server without keys publishes none."""
    (event_schema, decision_schema), components = msgspec.json.schema_components(
        [Event, Decision], ref_template="#/components/schemas/{name}"
    )
    problem = {"$ref": "#/components/schemas/Problem"}
    components["Problem"] = {
        "type": "object",
        "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                       "detail": {"type": "string"}, "field": {"type": "string"}, "problem": {"type": "string"}},
        "required": ["title", "status", "detail"],
    }
    components["BatchItem"] = {
        "type": "object",
        "properties": {"event_id": {"type": "string"}, "status": {"enum": ["decided", "accepted", "rejected"]},
                       "decision": decision_schema, "error": problem},
        "required": ["status"],
    }
    errors = {"422": {"description": "invalid input, names the field",
                      "content": {"application/problem+json": {"schema": problem}}},
              "503": {"description": "the record is unavailable: nothing was stored, send again",
                      "content": {"application/problem+json": {"schema": problem}}}}
    hold = {"type": "object", "additionalProperties": True}
    people, people_components = people_paths(problem)
    components.update(people_components)
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "qalqan", "version": version,
                 "description": "Real-time anti-fraud engine: events in, decisions out (docs/events.md)."},
        "paths": {
            "/v1/events": {"post": {
                "summary": "Send one event, or a JSON array of events (a batch)",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "oneOf": [event_schema, {"type": "array", "items": event_schema}]}}}},
                "responses": {
                    "200": {"description": "a money movement's decision, or a batch's results",
                            "content": {"application/json": {"schema": {"oneOf": [
                                decision_schema, {"type": "array",
                                                  "items": {"$ref": "#/components/schemas/BatchItem"}}]}}}},
                    "202": {"description": "a context event, stored and folded into state"},
                    "404": {"description": "a hold_response whose target_event_id holds no hold of this "
                                           "organisation: nothing changes",
                            "content": {"application/problem+json": {"schema": problem}}},
                    "409": {"description": "the event_id is another organisation's already: choose another",
                            "content": {"application/problem+json": {"schema": problem}}},
                    **errors}}},
            "/v1/decisions/{event_id}": {"get": {
                "summary": "The decision an event received",
                "parameters": [{"name": "event_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "the decision",
                                      "content": {"application/json": {"schema": decision_schema}}},
                              "404": {"description": "unknown event, or a context event"}}}},
            "/v1/holds/{event_id}": {"get": {
                "summary": "A suspended transfer's state and history",
                "parameters": [{"name": "event_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "the hold",
                                      "content": {"application/json": {"schema": hold}}},
                              "404": {"description": "no hold on that event"}}}},
            "/v1/holds/{event_id}/{verb}": {"post": {
                "summary": "confirm, reject (by the client or the trusted person) or repeat a suspended transfer",
                "parameters": [{"name": "event_id", "in": "path", "required": True, "schema": {"type": "string"}},
                               {"name": "verb", "in": "path", "required": True,
                                "schema": {"enum": ["confirm", "reject", "repeat"]}}],
                "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {
                    "ts": {"type": "string", "format": "date-time"}, "by": {"enum": ["client", "trusted_person"]}}}}}},
                "responses": {"200": {"description": "the hold after the answer",
                                      "content": {"application/json": {"schema": hold}}},
                              "404": {"description": "no hold on that event"}, **errors}}},
            "/v1/outbox": {"get": {
                "summary": "Notices for clients (holds started, confirmed, rejected, …) about the key's "
                           "organisation's events",
                "parameters": [{"name": "after", "in": "query",
                                "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}}],
                "responses": {"200": {"description": "notices after that id"},
                              "422": errors["422"]}}},
            "/v1/schema": {"get": {"summary": "The event contract as JSON Schema",
                                   "responses": {"200": {"description": "JSON Schema"}}}},
            **receipt_paths(problem),
            **intel_paths(problem),
            **people,
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text"}}}},
            "/healthz": {"get": {"summary": "The process is up", "responses": {"200": {"description": "ok"}}}},
            "/readyz": {"get": {"summary": "The record answers", "responses": {
                "200": {"description": "ready"}, "503": {"description": "the record is unreachable"}}}},
        },
        "components": {"schemas": components},
    }
    return _with_auth(doc, problem) if auth else doc


def _with_auth(doc: dict[str, Any], problem: dict[str, Any]) -> dict[str, Any]:
    """Every operation outside the open paths takes an API key (when QALQAN_AUTH=on) and may
    answer 401 (no valid key) or 403 (the key's role may not): say so, per operation."""
    doc["components"]["securitySchemes"] = {"apiKey": {"type": "http", "scheme": "bearer",
                                                       "description": "an API key: `qalqan keys create`"}}
    refused = {"content": {"application/problem+json": {"schema": problem}}}
    for path, item in doc["paths"].items():
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            continue
        for op in item.values():
            op["security"] = [{"apiKey": []}]
            op["responses"].setdefault("401", {"description": "no valid API key", **refused})
            op["responses"].setdefault("403", {"description": "the key's role may not do this", **refused})
    return doc


def docs_page(doc: dict[str, Any]) -> str:
    """A plain page listing the endpoints: readable offline, no script."""
    rows = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            codes = ", ".join(op.get("responses", {}))
            rows.append(f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                        f"<td>{html.escape(op.get('summary', ''))}</td><td>{codes}</td></tr>")
    return ("<!doctype html><meta charset=utf-8><title>qalqan API</title>"
            "<style>body{font-family:sans-serif;margin:2em}td{padding:.3em 1em;border-bottom:1px solid #ddd}</style>"
            f"<h1>qalqan API {html.escape(doc['info']['version'])}</h1><p>{html.escape(doc['info']['description'])}"
            " The full description: <a href='/openapi.json'>/openapi.json</a>.</p>"
            "<table><tr><th>method</th><th>path</th><th>what</th><th>answers</th></tr>" + "".join(rows) + "</table>")
