"""API keys with roles, stored hashed.

A key is 32 random bytes shown once, when it is made; the file keeps only its SHA-256 (a key this
long needs no slow hash), its role and its organisation. Roles say which endpoints a key may use:

- integrator: send events, read its decisions and their receipts, the schema;
- merchant: read decisions; see and decide the cases of its own payments (``merchant`` is the
  ``merchant_id`` they carry; a merchant key without one sees no case);
- analyst: read decisions, holds and the outbox, answer holds; work cases, lists and labels;
- auditor: read everything (and alone with admin, the audit log), change nothing;
- admin: everything.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec

from ..private_file import write_private

ROLES = ("integrator", "merchant", "analyst", "auditor", "admin")
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs",
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
]


class ApiKey(msgspec.Struct):
    id: str
    sha256: str
    role: str
    org: str
    name: str = ""
    created: float = 0.0
    revoked: bool = False
    merchant: str | None = None  # a merchant key's merchant_id


@dataclass
class KeyRing:
    path: Path
    keys: dict[str, ApiKey]

    @classmethod
    def load(cls, home: Path) -> KeyRing:
        path = home / "api-keys.json"
        keys: dict[str, ApiKey] = {}
        if path.exists():
            for k in msgspec.json.decode(path.read_bytes(), type=list[ApiKey]):
                keys[k.sha256] = k
        return cls(path, keys)

    def save(self) -> None:
        write_private(self.path, msgspec.json.encode(sorted(self.keys.values(), key=lambda k: k.created)))

    def create(self, role: str, org: str, name: str = "", merchant: str | None = None) -> tuple[ApiKey, str]:
        if role not in ROLES:
            raise ValueError(f"role: must be one of {ROLES}, not {role!r}")
        if merchant is not None and role != "merchant":
            raise ValueError(f"merchant: only a merchant key names a merchant, not a {role!r} key")
        secret = "qk_" + secrets.token_urlsafe(32)
        key = ApiKey(id=secrets.token_hex(4), sha256=_digest(secret), role=role, org=org, name=name,
                     created=time.time(), merchant=merchant)
        self.keys[key.sha256] = key
        self.save()
        return key, secret

    def revoke(self, key_id: str) -> bool:
        for k in self.keys.values():
            if k.id == key_id and not k.revoked:
                k.revoked = True
                self.save()
                return True
        return False

    def check(self, authorization: bytes | None) -> ApiKey | None:
        if not authorization or not authorization[:7].lower() == b"bearer ":
            return None
        key = self.keys.get(_digest(authorization[7:].strip().decode("latin-1")))
        return None if key is None or key.revoked else key


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def allowed(role: str, method: str, path: str) -> bool:
    for m, prefix, roles in _GRANTS:
        if method == m and (path == prefix or path.startswith(prefix)):
            return role in roles
    return role == "admin"
