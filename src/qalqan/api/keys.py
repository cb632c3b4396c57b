"""API keys with roles, stored hashed.

A key is 32 random bytes shown once, when it is made; the file keeps only its SHA-256 (a key this
long needs no slow hash), its role and its organisation. Roles say which endpoints a key may use:

- integrator: send events, read its decisions and their receipts, the schema;
- merchant: read decisions; see and decide the cases of its own payments (``merchant`` is the
  ``merchant_id`` they carry; a merchant key without one sees no case);
- analyst: read decisions, holds and the outbox, answer holds; work cases, lists and labels;
- auditor: read everything (and alone with admin, the audit log), change nothing;
- admin: everything.

A running server sees changes to the file at once: ``check`` looks at the file's (mtime_ns, size,
inode) at most every ``RECHECK_S`` and re-reads it when they changed, so a key made, revoked or given
another role with ``qalqan keys`` takes effect on every server reading the same ``QALQAN_HOME``
within that time, without a restart. A file that cannot be read or parsed keeps the last good ring
(writes go through ``write_private``: written beside, then renamed, so never seen half-written); a
file that is gone is an empty ring (every key refused).
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from ..private_file import write_private

ROLES = ("integrator", "merchant", "analyst", "auditor", "admin")
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", "/docs",
                        "/v1/receipts/verify", "/v1/receipt-keys", "/verify"})  # receipts: anyone checks one
# The console logs people in with its own sessions and CSRF tokens (console/app.py), not API keys.
OPEN_PREFIXES = ("/console",)

# (method, path prefix) → roles allowed; the first matching prefix decides.
_GRANTS: list[tuple[str, str, frozenset[str]]] = [
    ("POST", "/v1/events", frozenset({"integrator", "admin"})),
    ("GET", "/v1/decisions/", frozenset({"integrator", "merchant", "analyst", "auditor", "admin"})),
    ("GET", "/v1/schema", frozenset(ROLES)),
    ("GET", "/v1/holds/", frozenset({"analyst", "auditor", "admin"})),
    ("POST", "/v1/holds/", frozenset({"analyst", "admin"})),
    ("GET", "/v1/outbox", frozenset({"analyst", "auditor", "admin"})),
    ("GET", "/v1/receipts/", frozenset({"integrator", "admin"})),
    ("GET", "/v1/cases", frozenset({"merchant", "analyst", "auditor", "admin"})),
    ("POST", "/v1/cases/", frozenset({"merchant", "analyst", "admin"})),  # a merchant decides, never assigns
    ("GET", "/v1/lists", frozenset({"analyst", "auditor", "admin"})),
    ("POST", "/v1/lists/", frozenset({"analyst", "admin"})),
    ("DELETE", "/v1/lists/", frozenset({"analyst", "admin"})),
    ("GET", "/v1/labels", frozenset({"analyst", "auditor", "admin"})),
    ("POST", "/v1/labels", frozenset({"integrator", "analyst", "admin"})),  # chargebacks come from integrators
    ("GET", "/v1/audit", frozenset({"auditor", "admin"})),
    ("GET", "/v1/intel/feed", frozenset({"auditor", "admin"})),  # another member pulls this bank's feed
    ("GET", "/metrics", frozenset({"auditor", "admin"})),  # every organisation's counts: not for integrators
]
RECHECK_S = 0.25  # how often a running server looks whether the key file changed
log = logging.getLogger("qalqan.keys")


class ApiKey(msgspec.Struct):
    id: str
    sha256: str
    role: str
    org: str
    name: str = ""
    created: float = 0.0
    revoked: bool = False
    merchant: str | None = None  # a merchant key's merchant_id


Signature = tuple[int, int, int] | None  # (mtime_ns, size, inode) of the file; None: there is none


@dataclass
class KeyRing:
    path: Path
    keys: dict[str, ApiKey]
    seen: Signature = None  # the file's signature when ``keys`` was read
    _look_at: float = field(default=0.0, repr=False)  # time.monotonic() of the next look at the file

    @classmethod
    def load(cls, home: Path) -> KeyRing:
        path = home / "api-keys.json"
        seen, keys = _read(path)
        return cls(path, keys, seen, time.monotonic() + RECHECK_S)

    def refresh(self, force: bool = False) -> None:
        """Re-reads the file if it changed since it was read (one ``os.stat`` per ``RECHECK_S``);
        keeps the last good keys if it cannot be read or parsed."""
        now = time.monotonic()
        if not force and now < self._look_at:
            return
        self._look_at = now + RECHECK_S
        try:
            st = os.stat(self.path)
            sig: Signature = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            sig = None
        except OSError as exc:
            log.warning("api keys: cannot look at %s (%s): keeping the last good keys", self.path, exc)
            return
        if sig == self.seen:
            return
        try:
            self.seen, self.keys = _read(self.path)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            # self.seen stays: the next look tries again
            log.warning("api keys: %s does not parse (%s): keeping the last good keys", self.path, exc)

    def save(self) -> None:
        write_private(self.path, msgspec.json.encode(sorted(self.keys.values(), key=lambda k: k.created)))

    def create(self, role: str, org: str, name: str = "", merchant: str | None = None) -> tuple[ApiKey, str]:
        if role not in ROLES:
            raise ValueError(f"role: must be one of {ROLES}, not {role!r}")
        if merchant is not None and role != "merchant":
            raise ValueError(f"merchant: only a merchant key names a merchant, not a {role!r} key")
        self.refresh(force=True)  # change the file as it is now, not as it was read
        secret = "qk_" + secrets.token_urlsafe(32)
        key = ApiKey(id=secrets.token_hex(4), sha256=_digest(secret), role=role, org=org, name=name,
                     created=time.time(), merchant=merchant)
        self.keys[key.sha256] = key
        self.save()
        return key, secret

    def revoke(self, key_id: str) -> bool:
        self.refresh(force=True)
        for k in self.keys.values():
            if k.id == key_id and not k.revoked:
                k.revoked = True
                self.save()
                return True
        return False

    def set_role(self, key_id: str, role: str, merchant: str | None = None) -> ApiKey | None:
        """Gives an active key another role (a merchant key keeps its merchant unless given one;
        another role drops it). None: no active key with that id."""
        if role not in ROLES:
            raise ValueError(f"role: must be one of {ROLES}, not {role!r}")
        if merchant is not None and role != "merchant":
            raise ValueError(f"merchant: only a merchant key names a merchant, not a {role!r} key")
        self.refresh(force=True)
        for k in self.keys.values():
            if k.id == key_id and not k.revoked:
                k.merchant = (merchant or k.merchant) if role == "merchant" else None
                k.role = role
                self.save()
                return k
        return None

    def check(self, authorization: bytes | None) -> ApiKey | None:
        if not authorization or not authorization[:7].lower() == b"bearer ":
            return None
        self.refresh()
        key = self.keys.get(_digest(authorization[7:].strip().decode("latin-1")))
        return None if key is None or key.revoked else key


def _read(path: Path) -> tuple[Signature, dict[str, ApiKey]]:
    """The file's keys by hash, and the signature of what was read (from the open file: a file
    replaced meanwhile is seen as changed at the next look)."""
    try:
        f = open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        return None, {}
    with f:
        st = os.fstat(f.fileno())
        data = f.read()
    keys = {k.sha256: k for k in msgspec.json.decode(data, type=list[ApiKey])}
    return (st.st_mtime_ns, st.st_size, st.st_ino), keys


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def allowed(role: str, method: str, path: str) -> bool:
    for m, prefix, roles in _GRANTS:
        if method == m and (path == prefix or path.startswith(prefix)):
            return role in roles
    return role == "admin"
