"""Organisations are walls: each one's identifiers are tokenised under a key of its own.

One deployment serves several organisations, and each sends what it likes. Feature state, first-
and last-seen, lists and holds are all keyed by tokens (privacy.py), so the cheapest wall is in the
token itself: organisation B's customer ``C1`` is not organisation A's ``C1``, and its windows,
device counts and counterparty history never meet A's. The key of an organisation is derived
from the deployment's key and the organisation's name (BLAKE2b, keyed), so every process
configured with the same ``QALQAN_KEY`` agrees on it, and nobody without that key can link one
organisation's tokens to another's. Sharing between banks goes only through the explicit intel
exchange, never through a shared token.

The default organisation (replay, the CLI, the API with auth off) keeps the deployment's key
itself: its tokens are those of every record made before organisations were walled.

Entity keys that are not personal data (a merchant's or an ATM's id) are scoped by the
organisation in the feature definitions (``features/definitions.py``, ``scoped``), through the
view's ``scope`` entry that the engine sets for any organisation but the default.
"""

from __future__ import annotations

from hashlib import blake2b

from .privacy import Tokenizer
from .store.base import DEFAULT_ORG

__all__ = ["org_key", "Tokenizers"]


def org_key(key: bytes, org: str) -> bytes:
    """The tokenisation key of organisation ``org`` (the deployment's own for the default one)."""
    if org == DEFAULT_ORG:
        return key
    return blake2b(b"qalqan-org\x1f" + org.encode(), key=key[:64], digest_size=32).digest()


class Tokenizers:
    """One tokenizer per organisation, made on first use (each remembers its own tokens)."""

    def __init__(self, key: bytes, consortium: bytes | None = None) -> None:
        self._key = key
        # The consortium's key (QALQAN_CONSORTIUM_KEY, intel/) is one for every organisation and
        # every member bank: its tokens are the only ones that match outside this deployment.
        self._consortium = consortium
        self.default = Tokenizer(key, consortium)
        self._by_org: dict[str, Tokenizer] = {DEFAULT_ORG: self.default}

    def of(self, org: str) -> Tokenizer:
        tok = self._by_org.get(org)
        if tok is None:
            tok = self._by_org[org] = Tokenizer(org_key(self._key, org), self._consortium)
        return tok
