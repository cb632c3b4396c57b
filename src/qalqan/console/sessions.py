"""Console sessions: an opaque random id in an HttpOnly, SameSite=Lax cookie, and a CSRF token
per session (the synchroniser-token pattern: every form carries it, every POST must echo it).

Sessions live in the server's memory: a restart logs everyone out, which is the safe failure.
The id is 32 random bytes, so it needs no signature: there is nothing to forge, only to guess.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field

COOKIE = "qalqan_session"
IDLE_S = 2 * 3600       # logged out after two hours without a request
ABSOLUTE_S = 12 * 3600  # and after a working day, whatever happens


@dataclass
class Session:
    id: str
    user: str
    role: str
    org: str
    csrf: str
    created: float
    seen: float
    merchant: str | None = None
    flash: list[str] = field(default_factory=list)

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf.encode(), (token or "").encode())


class Sessions:
    def __init__(self) -> None:
        self.by_id: dict[str, Session] = {}

    def start(self, user: str, role: str, org: str, merchant: str | None = None) -> Session:
        now = time.monotonic()
        s = Session(secrets.token_urlsafe(32), user, role, org, secrets.token_urlsafe(32), now, now, merchant)
        self.by_id[s.id] = s
        if len(self.by_id) % 256 == 0:
            self._sweep(now)
        return s

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        s = self.by_id.get(sid)
        if s is None:
            return None
        now = time.monotonic()
        if now - s.seen > IDLE_S or now - s.created > ABSOLUTE_S:
            del self.by_id[sid]
            return None
        s.seen = now
        return s

    def end(self, sid: str | None) -> None:
        if sid:
            self.by_id.pop(sid, None)

    def end_user(self, user: str) -> None:
        for sid in [k for k, s in self.by_id.items() if s.user == user]:
            del self.by_id[sid]

    def _sweep(self, now: float) -> None:
        for sid in [k for k, s in self.by_id.items() if now - s.seen > IDLE_S or now - s.created > ABSOLUTE_S]:
            del self.by_id[sid]


def cookie_header(sid: str, secure: bool) -> str:
    flags = f"{COOKIE}={sid}; Path=/console; HttpOnly; SameSite=Lax; Max-Age={ABSOLUTE_S}"
    return flags + ("; Secure" if secure else "")


def clear_cookie_header() -> str:
    return f"{COOKIE}=; Path=/console; HttpOnly; SameSite=Lax; Max-Age=0"
