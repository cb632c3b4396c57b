"""The record: events, decisions, lists and state snapshots, behind one interface.

SQLite (embedded, the default) and PostgreSQL implement the same ``Record`` protocol; nothing
above this package knows which one is in use. ``open_record`` picks by URL.
"""

from __future__ import annotations

from .base import Record, Row, StoreError


def open_record(url: str, budget_s: float | None = None) -> Record:
    """``budget_s``: the most one call to a database server may take (PostgreSQL; store/watchdog.py)."""
    if url.startswith("sqlite:///"):
        from .sqlite import SqliteRecord

        return SqliteRecord(url[len("sqlite:///"):])
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresRecord

        return PostgresRecord(url) if budget_s is None else PostgresRecord(url, budget_s=budget_s)
    raise StoreError(f"QALQAN_DB: unsupported URL {url!r}; use sqlite:///PATH or postgresql://…")


__all__ = ["Record", "Row", "StoreError", "open_record"]
