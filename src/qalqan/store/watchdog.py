"""A budget for every call to a database server: a call that outlives it has its connection severed.

Why not a server-side ``statement_timeout`` or TCP keepalives: a server that is frozen (SIGSTOP, a
stalled disk, a hung VM) still has a kernel that acknowledges every packet, so neither the socket
nor the server ever says anything is wrong, and the caller waits for ever. Only the client can put
an end to it: the watchdog thread shuts the socket down under the blocked call, which then fails at
once with "connection lost", the lock it held is released, and the record is known to be down.

Long reads (a restart's fold of the record, an export) refresh their deadline as rows arrive
(``touch``): they are cut only when no row came for a whole budget.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

# How often the watchdog looks (seconds): a call is cut at most this much after its budget.
_TICK_S = 0.02


class Watchdog:
    """One thread for every connection of the process; a call registers while it runs."""

    _shared: Watchdog | None = None
    _shared_lock = threading.Lock()

    def __init__(self) -> None:
        self._calls: dict[int, list[Any]] = {}  # id -> [deadline, severing function]
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        threading.Thread(target=self._run, name="qalqan-db-watchdog", daemon=True).start()

    @classmethod
    def shared(cls) -> Watchdog:
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    @contextlib.contextmanager
    def watch(self, budget_s: float, sever: Callable[[], None]) -> Iterator[Callable[[], None]]:
        """Runs the block under ``budget_s``; yields ``touch``, which starts the budget again."""
        key = next(self._ids)
        entry = [time.monotonic() + budget_s, sever]
        with self._lock:
            self._calls[key] = entry
        self._wake.set()

        def touch() -> None:
            entry[0] = time.monotonic() + budget_s

        try:
            yield touch
        finally:
            with self._lock:
                self._calls.pop(key, None)

    def sever_all(self) -> None:
        """Cuts every call in flight now (shutdown: nothing may keep the process waiting)."""
        with self._lock:
            for entry in self._calls.values():
                entry[0] = 0.0
        self._wake.set()

    def _run(self) -> None:
        while True:
            with self._lock:
                busy = bool(self._calls)
            if not busy:
                self._wake.wait()
                self._wake.clear()
                continue
            time.sleep(_TICK_S)
            now = time.monotonic()
            with self._lock:
                late = [entry for entry in self._calls.values() if entry[0] <= now]
                for entry in late:
                    entry[0] = float("inf")  # severed once
            for entry in late:
                with contextlib.suppress(Exception):
                    entry[1]()


def shut_socket(fd: int) -> None:
    """Shuts the socket behind ``fd`` down in both directions: a call blocked on it wakes with an
    error. The descriptor itself stays open (its owner closes it): closing it under another thread
    could hand the number to an unrelated file."""
    dup = os.dup(fd)
    try:
        s = socket.socket(fileno=dup)
    except OSError:
        os.close(dup)
        raise
    try:
        s.shutdown(socket.SHUT_RDWR)
    finally:
        s.close()
