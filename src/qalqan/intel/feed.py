"""Feeds, their signatures, the member's key and the trusted members (docs/intel.md).

A feed::

    {"feed": {"format": "qalqan-intel/1", "feed_id": …, "member": "bank-a", "key": <public, hex>,
              "issued_at": RFC 3339, "since": RFC 3339 | null,
              "entries": [{"op": "add" | "withdraw", "kind": "account" | "iban" | "card" | "phone" | "device",
                           "token": <consortium token>, "reason": …, "confidence": 0..1,
                           "first_seen": …, "last_seen": …, "ttl_s": …}, …]},
     "signature": <Ed25519 over the canonical JSON of "feed", hex>}

The canonical JSON is the feed's object with sorted keys, no spaces, UTF-8: any change to any byte
that matters (an entry, the member, the time) breaks the signature. An importer checks the signer's
key against its own trust file, never the name the feed claims.

Files in ``$QALQAN_HOME/intel/`` (owner-only): ``member.json`` (this bank's key pair, made by
``qalqan intel keygen``), ``trusted.json`` (members' public keys: ``qalqan intel trust add|revoke``),
``imports.jsonl`` (provenance: which feed, from whom, when, what it changed).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ..privacy import CX_KINDS
from ..private_file import write_private

FORMAT = "qalqan-intel/1"
OPS = ("add", "withdraw")
TOKEN = re.compile(r"[0-9a-f]{24}")  # privacy.Tokenizer: BLAKE2b, 12 bytes, hex
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_ENTRIES = 1_000_000


class FeedError(ValueError):
    """A feed that cannot be taken: says why (an unknown signer is named)."""


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def folder(home: Path) -> Path:
    return home / "intel"


def canonical(feed: dict[str, Any]) -> bytes:
    return json.dumps(feed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def fingerprint(public_hex: str) -> str:
    """A short name of a public key: the first 8 bytes of its SHA-256, hex."""
    return hashlib.sha256(bytes.fromhex(public_hex)).hexdigest()[:16]


def _public_hex(private: Ed25519PrivateKey) -> str:
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


# --- this bank's key pair --------------------------------------------------------------------
@dataclass
class Member:
    name: str
    private: Ed25519PrivateKey

    @property
    def public(self) -> str:
        return _public_hex(self.private)

    def sign(self, feed: dict[str, Any]) -> dict[str, Any]:
        return {"feed": feed, "signature": self.private.sign(canonical(feed)).hex()}


def keygen(home: Path, name: str, force: bool = False) -> Member:
    if not NAME.fullmatch(name):
        raise FeedError(f"member name {name!r}: letters, digits, '.', '_' and '-', at most 64")
    path = folder(home) / "member.json"
    if path.exists() and not force:
        raise FeedError(f"{path} exists: this bank has a key pair already (--force replaces it; "
                        "every member must then trust the new public key)")
    private = Ed25519PrivateKey.generate()
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    seed = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()).hex()
    doc = {"name": name, "public": _public_hex(private), "private": seed, "created": now_rfc3339()}
    write_private(path, json.dumps(doc, indent=2).encode())
    return Member(name, private)


def load_member(home: Path) -> Member:
    path = folder(home) / "member.json"
    try:
        doc = json.loads(path.read_text())
        return Member(doc["name"], Ed25519PrivateKey.from_private_bytes(bytes.fromhex(doc["private"])))
    except FileNotFoundError:
        raise FeedError(f"no member key in {path}: run `qalqan intel keygen NAME` first") from None
    except (ValueError, KeyError) as exc:
        raise FeedError(f"{path}: not a member key file: {exc}") from None


# --- the trusted members ---------------------------------------------------------------------
def _trust_path(home: Path) -> Path:
    return folder(home) / "trusted.json"


def trusted(home: Path) -> dict[str, dict[str, Any]]:
    """{name: {"public": hex, "added": …, "revoked": … | absent, "reason": …}}"""
    path = _trust_path(home)
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text())
    except ValueError as exc:
        raise FeedError(f"{path}: not a trust file: {exc}") from None
    if not isinstance(doc, dict):
        raise FeedError(f"{path}: not a trust file (expected an object of members)")
    return doc


def trust_add(home: Path, name: str, public: str) -> dict[str, Any]:
    if not NAME.fullmatch(name):
        raise FeedError(f"member name {name!r}: letters, digits, '.', '_' and '-', at most 64")
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public))
    except ValueError:
        raise FeedError(f"{public!r} is not an Ed25519 public key (64 hex digits, from `qalqan intel keygen`)") \
            from None
    doc = trusted(home)
    for other, m in doc.items():
        if m["public"] == public.lower() and other != name:
            raise FeedError(f"that key is trusted already as {other!r}")
    doc[name] = {"public": public.lower(), "added": now_rfc3339()}
    write_private(_trust_path(home), json.dumps(doc, indent=2, sort_keys=True).encode())
    return doc[name]


def trust_revoke(home: Path, name: str, reason: str) -> dict[str, Any]:
    doc = trusted(home)
    if name not in doc:
        raise FeedError(f"no trusted member {name!r}")
    doc[name].update(revoked=now_rfc3339(), reason=reason)
    write_private(_trust_path(home), json.dumps(doc, indent=2, sort_keys=True).encode())
    return doc[name]


# --- reading a feed --------------------------------------------------------------------------
@dataclass
class Verified:
    member: str        # the name this bank trusts the key under (not the feed's claim)
    key: str           # fingerprint of the signer's public key
    feed: dict[str, Any]
    sha256: str


def _entry_error(i: int, field: str, problem: str) -> FeedError:
    return FeedError(f"entries[{i}].{field}: {problem}")


def _check_entry(i: int, e: Any) -> None:
    if not isinstance(e, dict):
        raise FeedError(f"entries[{i}]: expected an object")
    if e.get("op") not in OPS:
        raise _entry_error(i, "op", f"expected one of {list(OPS)}")
    if e.get("kind") not in CX_KINDS:
        raise _entry_error(i, "kind", f"expected one of {list(CX_KINDS)}")
    if not isinstance(e.get("token"), str) or not TOKEN.fullmatch(e["token"]):
        # a raw identifier where the token goes: refused, never stored
        raise _entry_error(i, "token", "expected a consortium token (24 hex digits), never a raw identifier")
    if e["op"] == "add":
        c = e.get("confidence")
        if isinstance(c, bool) or not isinstance(c, int | float) or not 0 < c <= 1:
            raise _entry_error(i, "confidence", "expected a number above 0, at most 1")
        ttl = e.get("ttl_s")
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 < ttl <= 10 * 366 * 86400:
            raise _entry_error(i, "ttl_s", "expected whole seconds, above 0, at most 10 years")
        if not isinstance(e.get("reason"), str) or not 0 < len(e["reason"]) <= 64:
            raise _entry_error(i, "reason", "expected 1 to 64 characters")


def read(home: Path, data: bytes) -> Verified:
    """The feed in ``data``, if its signer is a trusted, unrevoked member and the signature holds;
    ``FeedError`` naming the problem (and the signer) otherwise."""
    try:
        doc = json.loads(data)
        feed, signature = doc["feed"], bytes.fromhex(doc["signature"])
        claimed, public = str(feed["member"]), str(feed["key"])
    except (ValueError, KeyError, TypeError) as exc:
        raise FeedError(f"not a qalqan intel feed: {exc}") from None
    if feed.get("format") != FORMAT:
        raise FeedError(f"format {feed.get('format')!r}: expected {FORMAT!r}")
    names = [n for n, m in trusted(home).items() if m.get("public") == public.lower()]
    if not names:
        fp = fingerprint(public) if re.fullmatch(r"[0-9a-fA-F]{64}", public) else public[:32]
        raise FeedError(f"signer {claimed!r} (key {fp}) is not a trusted member: refused "
                        "(`qalqan intel trust add NAME PUBKEY` once you know the key is theirs)")
    name = names[0]
    member = trusted(home)[name]
    if member.get("revoked"):
        raise FeedError(f"signer {name!r} was revoked on {member['revoked']} ({member.get('reason', '')}): refused")
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public)).verify(signature, canonical(feed))
    except (InvalidSignature, ValueError):
        raise FeedError(f"the signature of {name!r} does not match the feed: altered after signing, refused") from None
    if claimed != name:
        raise FeedError(f"the feed says it is from {claimed!r} but is signed by the key trusted as {name!r}: refused")
    entries = feed.get("entries")
    if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
        raise FeedError(f"entries: expected a list of at most {MAX_ENTRIES}")
    for i, e in enumerate(entries):
        _check_entry(i, e)
    return Verified(name, fingerprint(public), feed, hashlib.sha256(data).hexdigest())


def log_import(home: Path, record: dict[str, Any]) -> None:
    path = folder(home) / "imports.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with path.open("a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")


def imports(home: Path) -> list[dict[str, Any]]:
    path = folder(home) / "imports.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
