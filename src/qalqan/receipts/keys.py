"""The operator's receipt-signing keys (Ed25519), kept in ``$QALQAN_HOME/receipt-keys.json``.

One key is active and signs; rotating makes a new one active and *retires* the old one: its
private half is erased (nothing can sign with it any more, so a stolen backup of it forges
nothing new) but its public half stays, so every receipt it signed still verifies. A key that
leaked is *revoked*: receipts signed with it fail verification, saying why — a forger holding it
could backdate anything, so no receipt of that key can be trusted.

The file holds private key material: it is written owner-only (0600), atomically, and a file
that others can read is refused rather than used. Key management happens on the wall clock (it
is the operator's act, not part of any decision).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ..private_file import write_private

FILE_NAME = "receipt-keys.json"
Status = Literal["active", "retired", "revoked"]


class ReceiptKeyError(RuntimeError):
    """The key file cannot be used as it is: says what to do."""


class ReceiptKey(msgspec.Struct, omit_defaults=True):
    kid: str                      # 8 hex digits: the first 4 bytes of SHA-256 of the public key
    public: str                   # raw 32-byte public key, hex
    status: Status
    created: str
    private: str = ""             # raw 32-byte seed, hex; erased when the key is retired
    retired: str = ""
    revoked: str = ""
    reason: str = ""              # why it was revoked


def key_id(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).digest()[:4].hex()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ReceiptKeys:
    path: Path
    keys: dict[str, ReceiptKey] = field(default_factory=dict)
    _stamp: tuple[int, int] | None = None  # (inode, mtime): a rotation replaces the file
    _signer: tuple[str, Ed25519PrivateKey] | None = None
    _publics: dict[str, Ed25519PublicKey] = field(default_factory=dict)

    @classmethod
    def load(cls, home: Path) -> ReceiptKeys:
        ring = cls(home / FILE_NAME)
        ring.refresh()
        return ring

    def refresh(self) -> None:
        """Re-reads the file if it changed: a server picks up `qalqan receipts key rotate|revoke`
        made by the CLI on its next receipt request, without a restart."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            if self._stamp is not None or self.keys:
                self.keys, self._stamp = {}, None
                self._forget()
            return
        if (st.st_ino, st.st_mtime_ns) == self._stamp:
            return
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ReceiptKeyError(f"{self.path}: holds private keys but others may read it; "
                                  f"run `chmod 600 {self.path}`")
        try:
            keys = msgspec.json.decode(self.path.read_bytes(), type=list[ReceiptKey])
        except msgspec.DecodeError as exc:
            raise ReceiptKeyError(f"{self.path}: not a receipt key file: {exc}") from None
        self.keys = {k.kid: k for k in keys}
        self._stamp = (st.st_ino, st.st_mtime_ns)
        self._forget()

    def _forget(self) -> None:
        self._signer = None
        self._publics = {}

    def save(self) -> None:
        write_private(self.path, msgspec.json.format(msgspec.json.encode(list(self.keys.values()))))
        st = self.path.stat()
        self._stamp = (st.st_ino, st.st_mtime_ns)
        self._forget()

    @contextmanager
    def _changing(self) -> Iterator[None]:
        """Read-modify-write under an exclusive lock: a server making its first key while the CLI
        rotates must not lose either key (receipts signed with a lost key would stop verifying)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._stamp = None
            self.refresh()
            yield
            self.save()
        finally:
            os.close(fd)  # releases the lock

    # --- the operator's acts ---------------------------------------------------------------------
    def rotate(self) -> ReceiptKey:
        """A new active key; the previous one is retired (verifies, never signs again)."""
        with self._changing():
            return self._rotate()

    def _rotate(self) -> ReceiptKey:
        private = Ed25519PrivateKey.generate()
        public_raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        now = _now()
        for k in self.keys.values():
            if k.status == "active":
                k.status, k.private, k.retired = "retired", "", now
        new = ReceiptKey(kid=key_id(public_raw), public=public_raw.hex(), status="active", created=now,
                         private=private.private_bytes_raw().hex())
        self.keys[new.kid] = new
        return new

    def revoke(self, kid: str, reason: str) -> ReceiptKey:
        with self._changing():
            k = self.keys.get(kid)
            if k is None:
                raise KeyError(f"no receipt key {kid!r}")
            if k.status != "revoked":
                k.status, k.private, k.revoked = "revoked", "", _now()
                k.reason = reason or "revoked by the operator"
            return k

    # --- use -----------------------------------------------------------------------------------------
    def signer(self) -> tuple[str, Ed25519PrivateKey]:
        """The active key (made on first use, so an embedded setup needs no step)."""
        self.refresh()
        if self._signer is None:
            active = next((k for k in self.keys.values() if k.status == "active" and k.private), None)
            if active is None:
                with self._changing():  # another process may have made one meanwhile
                    active = next((k for k in self.keys.values() if k.status == "active" and k.private), None)
                    if active is None:
                        active = self._rotate()
            self._signer = (active.kid, Ed25519PrivateKey.from_private_bytes(bytes.fromhex(active.private)))
        return self._signer

    def public(self, kid: str) -> tuple[ReceiptKey | None, Ed25519PublicKey | None]:
        """The key's record and its public half; (None, None) for a key this operator never had."""
        self.refresh()
        k = self.keys.get(kid)
        if k is None:
            return None, None
        pub = self._publics.get(kid)
        if pub is None:
            pub = self._publics[kid] = Ed25519PublicKey.from_public_bytes(bytes.fromhex(k.public))
        return k, pub

    def published(self) -> list[dict[str, str]]:
        """What anyone may know: every key's id, public half and status (never a private one)."""
        self.refresh()
        return [{"kid": k.kid, "public": k.public, "status": k.status, "created": k.created,
                 **({"retired": k.retired} if k.retired else {}),
                 **({"revoked": k.revoked, "reason": k.reason} if k.status == "revoked" else {})}
                for k in self.keys.values()]
