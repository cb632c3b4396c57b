"""Which event ids the record already holds, without asking the record for every new event.

Idempotency needs "have I seen this event id?" on every event, and nearly every answer is "no".
A Bloom filter answers "no" from memory, exactly; only a "maybe" (a real duplicate, or about 1 %
false positives at the configured capacity) costs a lookup in the record. Past its capacity the
filter still answers correctly, with more lookups. 20 M ids take 24 MB.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


class SeenFilter:
    def __init__(self, capacity: int = 20_000_000, bits_per_id: float = 12.8, k: int = 3) -> None:
        # k = 3 with 12.8 bits an id gives about 0.9 % false positives at capacity.
        self.m = max(1024, int(capacity * bits_per_id))
        self.k = k
        self.bits = bytearray((self.m + 7) // 8)
        self.count = 0

    def false_positive_rate(self) -> float:
        return (1 - math.exp(-self.k * self.count / self.m)) ** self.k

    def add(self, event_id: str) -> None:
        # Python's own string hash: randomised per process, which is fine for a filter that is
        # rebuilt from the record at every start, and far cheaper than a cryptographic hash.
        h = hash(event_id) & 0xFFFFFFFFFFFFFFFF
        h1, h2 = h & 0xFFFFFFFF, (h >> 32) | 1
        bits, m = self.bits, self.m
        for i in range(self.k):
            p = (h1 + i * h2) % m
            bits[p >> 3] |= 1 << (p & 7)
        self.count += 1

    def update(self, event_ids: Iterable[str]) -> None:
        for e in event_ids:
            self.add(e)

    def __contains__(self, event_id: str) -> bool:
        """False: certainly never added. True: maybe (ask the record)."""
        h = hash(event_id) & 0xFFFFFFFFFFFFFFFF
        h1, h2 = h & 0xFFFFFFFF, (h >> 32) | 1
        bits, m = self.bits, self.m
        for i in range(self.k):
            p = (h1 + i * h2) % m
            if not bits[p >> 3] & (1 << (p & 7)):
                return False
        return True
