"""Where a worker's feature state lives besides its memory: ``QALQAN_STATE`` picks it.

Unset (the default), the state is in-process only and a replacement worker rebuilds it from the
record (snapshot + fold). ``redis://…`` keeps each partition's state in Redis as well, written
behind the worker's memory in every group commit cycle (``redis.RedisState``), so a replacement
continues from Redis and folds at most the last batch.
"""

from __future__ import annotations

from .redis import RedisState, StateError

__all__ = ["RedisState", "StateError", "open_state"]


def open_state(url: str | None, namespace: str) -> RedisState | None:
    if not url:
        return None
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisState(url, namespace)
    raise StateError(f"QALQAN_STATE: unsupported URL {url!r}; use redis://host:6379/0 (or leave it unset)")
