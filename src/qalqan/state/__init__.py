"""Where the engine's feature state lives besides its memory: ``QALQAN_STATE`` picks it.

Unset (the default), the state is in-process only and a restart rebuilds it from the record
(snapshot + fold). ``redis://…`` keeps it in Redis as well, written behind the engine's memory
after every durable commit (``redis.RedisState``), so a restart (a process, or a worker's
replacement) continues from Redis and folds at most the last batch. The engine calls the backend
through three hooks (``newest``, ``on_restored``, ``on_written``); the decision path never sees it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from .redis import RedisState, StateError

__all__ = ["RedisState", "StateError", "open_state", "record_namespace"]


def record_namespace(url: str) -> str | None:
    """Names a record without its credentials: two records must never share a state, and a key
    name must not carry a password. None for a record in memory: it has nothing to restore, and
    every such record would share the name."""
    u = urlsplit(url)
    if url.endswith(":memory:"):
        return None
    if u.scheme.startswith("sqlite"):
        return f"sqlite:{url.split(':///', 1)[-1]}"
    return f"{u.hostname or 'localhost'}:{u.port or 5432}{u.path}"


def open_state(url: str | None, namespace: str | None) -> RedisState | None:
    if not url or namespace is None:
        return None
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisState(url, namespace)
    raise StateError(f"QALQAN_STATE: unsupported URL {url!r}; use redis://host:6379/0 (or leave it unset)")
