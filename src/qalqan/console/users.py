"""People who log in to the console, with a role and an organisation, kept in
``$QALQAN_HOME/console-users.json``.

Passwords are stored only as scrypt hashes (n=2**14, r=8, p=1, a random 16-byte salt each): a
stolen file costs an attacker ~50 ms of memory-hard work per guess per user. API keys are long
random secrets and need no slow hash (api/keys.py); passwords are chosen by people and do.

A running console reads the file through ``LiveUsers``: it looks at the file's (mtime_ns, size,
inode) on every session lookup (one ``os.stat``) and re-reads it when they changed, so a user made
or disabled with ``qalqan users`` counts on every server at its next request. A file that cannot be
read or parsed keeps the last good book.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec

from ..private_file import write_private

ROLES = ("analyst", "admin", "auditor", "merchant")
MIN_PASSWORD = 10
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_N, _R, _P = 2**14, 8, 1
log = logging.getLogger("qalqan.console")


class UserError(ValueError):
    """A user cannot be made as asked: says which field and why."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class User(msgspec.Struct):
    name: str
    role: str
    org: str
    scrypt: str  # "n$r$p$salt_hex$hash_hex"
    created: float = 0.0
    disabled: bool = False
    merchant: str | None = None  # a merchant's own merchant_id: it sees only those payments


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"{_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        n, r, p, salt, digest = stored.split("$")
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(digest) // 2)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


# Checked against when the name is unknown, so that a wrong name costs as long as a wrong password.
_DUMMY = hash_password(secrets.token_hex(8))


@dataclass
class UserBook:
    path: Path
    users: dict[str, User]

    @classmethod
    def load(cls, home: Path) -> UserBook:
        path = home / "console-users.json"
        users: dict[str, User] = {}
        if path.exists():
            for u in msgspec.json.decode(path.read_bytes(), type=list[User]):
                users[u.name] = u
        return cls(path, users)

    def save(self) -> None:
        write_private(self.path, msgspec.json.encode(sorted(self.users.values(), key=lambda u: u.created)))

    def create(self, name: str, role: str, org: str, password: str, merchant: str | None = None) -> User:
        if not _NAME.match(name):
            raise UserError("name", "1 to 64 letters, digits or _ . @ -")
        if name in self.users:
            raise UserError("name", f"user {name!r} exists already")
        if role not in ROLES:
            raise UserError("role", f"must be one of {', '.join(ROLES)}, not {role!r}")
        if not org.strip():
            raise UserError("org", "must not be empty")
        if (role == "merchant") != bool(merchant):
            raise UserError("merchant", "a merchant user needs its merchant_id, and only a merchant user has one")
        if len(password) < MIN_PASSWORD:
            raise UserError("password", f"must be at least {MIN_PASSWORD} characters")
        user = User(name=name, role=role, org=org.strip(), scrypt=hash_password(password), created=time.time(),
                    merchant=merchant)
        self.users[name] = user
        self.save()
        return user

    def disable(self, name: str) -> bool:
        u = self.users.get(name)
        if u is None or u.disabled:
            return False
        u.disabled = True
        self.save()
        return True

    def authenticate(self, name: str, password: str) -> User | None:
        u = self.users.get(name)
        if u is None or u.disabled:
            verify_password(password, _DUMMY)
            return None
        return u if verify_password(password, u.scrypt) else None


class LiveUsers:
    """The user file of ``home`` as it is now (see the module's docstring)."""

    def __init__(self, home: Path) -> None:
        self.path = home / "console-users.json"
        self.seen: tuple[int, int, int] | None | bool = False  # False: never read
        self.last = UserBook(self.path, {})

    def book(self) -> UserBook:
        try:
            st = os.stat(self.path)
            sig: tuple[int, int, int] | None = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            sig = None
        except OSError as exc:
            log.warning("console users: cannot look at %s (%s): keeping the last good users", self.path, exc)
            return self.last
        if sig == self.seen:
            return self.last
        if sig is None:
            self.seen, self.last = None, UserBook(self.path, {})
            return self.last
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                data = f.read()
            users = {u.name: u for u in msgspec.json.decode(data, type=list[User])}
        except (OSError, msgspec.DecodeError) as exc:  # self.seen stays: the next lookup tries again
            log.warning("console users: %s does not parse (%s): keeping the last good users", self.path, exc)
            return self.last
        self.seen, self.last = (st.st_mtime_ns, st.st_size, st.st_ino), UserBook(self.path, users)
        return self.last
