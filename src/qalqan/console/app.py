"""The analysts' console under ``/console``: login, the queue, cases, lists, holds, rules and a
dashboard, server-rendered.

Authentication is the console's own (api/keys.py leaves ``/console`` to it): a session cookie and
a CSRF token per session that every POST must echo (403 without it). Roles:

- analyst, admin: every page, and work cases, lists and holds;
- auditor: every page, change nothing;
- merchant: the queue and cases of its own payments (the user's ``merchant``) only;
- the audit log: auditor and admin.

Pages read the record on a connection of their own (reader.py); changes go through the engine as
events (work.py) and are durable before the page answers.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from .. import audit, cases
from ..case_deadlines import CLOCK
from ..engine import Engine
from ..holds import HoldState
from . import pages
from .html import page
from .reader import Reader
from .sessions import COOKIE, Session, Sessions, clear_cookie_header, cookie_header
from .tally import Tally
from .users import LiveUsers, User, UserBook
from .work import LISTABLE, Work, WorkError, actor_of

READ_ALL = frozenset({"analyst", "admin", "auditor"})
WRITE = frozenset({"analyst", "admin"})
CASES_READ = READ_ALL | {"merchant"}
CASES_WRITE = WRITE | {"merchant"}
AUDIT_READ = frozenset({"auditor", "admin"})
AUDIT_PAGE = 200
LOGIN_COOKIE = "qalqan_login"
MAX_FAILURES, LOCKOUT_S = 5, 900.0
HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-frame-options": "DENY", "referrer-policy": "same-origin", "cache-control": "no-store",
    "x-content-type-options": "nosniff",
}
Handler = Callable[[Request, Session, dict[str, str]], Awaitable[Response]]


def _html(body: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers={**HEADERS, **(headers or {})})


class Console:
    def __init__(self, engine: Engine, durable: Callable[[], Awaitable[None]], home: Path | None = None) -> None:
        self.engine = engine
        self.home = home or engine.settings.home
        self.sessions = Sessions()
        self.reader = Reader(engine.record.url)
        self.tally = Tally(self.reader)
        self.record: Any = engine.record
        self.policy = cases.CasePolicy.from_env()
        self.work = Work(engine, durable)
        self._users = LiveUsers(self.home)
        self._serial = asyncio.Lock()
        self._failures: dict[str, list[float]] = {}

    # --- who is asking --------------------------------------------------------------------
    def users(self) -> UserBook:
        """The user file as it is now (``qalqan users create|disable`` on a running server count at
        the next request; users.py, ``LiveUsers``)."""
        return self._users.book()

    def session(self, request: Request) -> Session | None:
        """The request's session, if its user is still there, enabled, with the same role,
        organisation and merchant (checked against the user file on every request)."""
        s = self.sessions.get(request.cookies.get(COOKIE))
        if s is None:
            return None
        u = self.users().users.get(s.user)
        if u is None or u.disabled or (u.role, u.org, u.merchant) != (s.role, s.org, s.merchant):
            self.sessions.end(s.id)
            return None
        return s

    def guard(self, roles: frozenset[str]) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
        def wrap(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
            async def handler(request: Request) -> Response:
                s = self.session(request)
                form: dict[str, str] = {}
                if request.method == "POST":
                    form = _form(await request.body())
                    if s is None:
                        return self.denied(None, 403, "log in first")
                    if not s.csrf_ok(form.get("csrf") or request.headers.get("x-csrf-token")):
                        return self.denied(s, 403, "the form's CSRF token is missing or wrong: reload the page")
                elif s is None:
                    return RedirectResponse(f"/console/login?next={quote(request.url.path)}", 303, headers=HEADERS)
                if s.role not in roles:
                    return self.denied(s, 403, f"role {s.role!r} may not {request.method} {request.url.path}")
                # One console request at a time, and the record's new rows folded on a worker thread:
                # the console shares the event loop with the decision path, and a first look at a big
                # record must not stall the answers to payments.
                async with self._serial:
                    await asyncio.to_thread(self.tally.refresh)
                    try:
                        return await fn(request, s, form)
                    except WorkError as exc:
                        return _html(page("Not done", f'<p class="error" role="alert" data-field="{_esc(exc.field)}">'
                                          f"{_esc(str(exc))}</p>", s), 422)
            return handler
        return wrap

    def denied(self, s: Session | None, status: int, why: str) -> Response:
        return _html(page("Forbidden", f'<p class="error" role="alert">{_esc(why)}</p>', s), status)

    # --- login ---------------------------------------------------------------------------------
    async def login_form(self, request: Request) -> Response:
        token = secrets.token_urlsafe(24)
        return self._login_page(token, "", request.query_params.get("next", ""), 200)

    def _login_page(self, token: str, error: str, next_url: str, status: int) -> Response:
        r = _html(page("Log in", pages.login(error, token, next_url), None), status)
        r.set_cookie(LOGIN_COOKIE, token, max_age=1800, path="/console/login", httponly=True, samesite="strict")
        return r

    async def login(self, request: Request) -> Response:
        form = _form(await request.body())
        cookie = request.cookies.get(LOGIN_COOKIE)
        # Login CSRF: the form must echo the token of the cookie set with it (double submit).
        if not cookie or not secrets.compare_digest(cookie.encode(), form.get("csrf", "").encode()):
            return self.denied(None, 403, "the login form's CSRF token is missing or wrong: reload the page")
        name, password = form.get("name", ""), form.get("password", "")
        now = time.monotonic()
        recent = [t for t in self._failures.get(name, []) if now - t < LOCKOUT_S]
        if len(recent) >= MAX_FAILURES:  # guessing passwords online: a few tries per quarter hour
            return self._login_page(secrets.token_urlsafe(24), "too many failed logins: try again later",
                                    form.get("next", ""), 429)
        book = self.users()
        user: User | None = await asyncio.to_thread(book.authenticate, name, password)  # scrypt: off the loop
        if user is None:
            self._failures[name] = [*recent, now][-MAX_FAILURES:]
            if len(self._failures) > 10_000:  # names made up by the thousand must not fill the memory
                self._failures = {k: v for k, v in self._failures.items() if now - v[-1] < LOCKOUT_S}
            return self._login_page(secrets.token_urlsafe(24), "wrong name or password", form.get("next", ""), 401)
        self._failures.pop(name, None)
        s = self.sessions.start(user.name, user.role, user.org, user.merchant)  # a new id at login: no fixation
        self.work.log(s, "session.login", "console")
        target = form.get("next", "")
        if not target.startswith("/console/") or target.startswith("/console/login") or "//" in target:
            target = "/console/queue"
        r = RedirectResponse(target, 303, headers=HEADERS)
        r.headers.append("set-cookie", cookie_header(s.id, request.url.scheme == "https"))
        return r

    async def logout(self, request: Request, s: Session, form: dict[str, str]) -> Response:
        self.sessions.end(s.id)
        self.work.log(s, "session.logout", "console")
        r = RedirectResponse("/console/login", 303, headers=HEADERS)
        r.headers.append("set-cookie", clear_cookie_header())
        return r

    # --- cases (cases.py: the same back end as /v1/cases) -------------------------------------
    def _cid(self, request: Request) -> int:
        return int(request.path_params["case_id"])

    async def queue(self, request: Request, s: Session, form: dict[str, str]) -> Response:
        actor = actor_of(s)
        cases.sync(self.record, self.policy)
        found = [c for state in ("open", "assigned") for c in cases.queue(self.record, actor, state, limit=1000)]
        found.sort(key=lambda c: (c.due, c.id))
        self.work.log(s, "case.list", "cases", "console queue")
        t = self.tally.of(s.org)
        reasons = {c.event_id: t.cases[c.event_id].reasons for c in found if c.event_id in t.cases}
        by_clock = [cases.case_of(r) for r in self.record.cases_by(s.org, CLOCK, cases.merchant_of(actor), 20)]
        return _html(page(f"Queue ({len(found)} to decide)", pages.queue(found, t.newest_us, reasons, by_clock), s,
                          "queue"))

    async def case(self, request: Request, s: Session, form: dict[str, str]) -> Response:
        from ..features.view import Money
        from .features import point_in_time

        cid = self._cid(request)
        cases.sync(self.record, self.policy)
        try:
            doc = cases.detail(self.record, actor_of(s), cid)
        except cases.CaseNotFound:
            return _html(page("Not found", f"<p>No case {cid}.</p>", s), 404)
        c = cases.get(self.record, actor_of(s), cid)
        t = self.tally.of(s.org)
        linked = t.linked(c.customer)
        features, recomputed = doc.get("features"), False
        if not features:
            seqs = {q for q in t.history[c.customer] if q <= c.seq}
            for _, _, others in linked:
                for o in others:
                    seqs.update(q for q in t.history[o] if q <= c.seq)
            rows = self.reader.by_seqs(sorted(seqs))
            features = await asyncio.to_thread(point_in_time, rows, c.event_id, self.engine.feature_set,
                                               Money(self.engine.settings.fx))
            recomputed = True
        codes = {r.get("code") for r in doc.get("reasons", [])}
        named = {n for rule in self.engine.rules.rules if rule.code in codes for n in rule.names}
        self.work.log(s, "case.read", f"case:{cid}", c.event_id)
        html = pages.case(s, c, doc, features, recomputed, named, linked, self.work.journal(s, f"case:{cid}"),
                          s.role in CASES_WRITE)
        return _html(page(f"Case {c.event_id}", html, s, "queue"))

    async def assign(self, request: Request, s: Session, form: dict[str, str]) -> Response:
        cid = self._cid(request)
        try:
            await self.work.assign(s, cid)
        except cases.CaseNotFound:
            return _html(page("Not found", f"<p>No case {cid}.</p>", s), 404)
        except cases.CaseConflict as exc:
            return _html(page("Decided already", f'<p class="error">{_esc(exc)}</p>', s), 409)
        s.flash.append(f"case {cid}: assigned to {s.user}")
        return RedirectResponse(f"/console/cases/{cid}", 303, headers=HEADERS)

    async def decide(self, request: Request, s: Session, form: dict[str, str]) -> Response:
        cid = self._cid(request)
        add_to = [w for w, _ in LISTABLE if form.get(f"add_{w}") == "on"]
        try:
            case = await self.work.decide(s, cid, form.get("outcome", ""), form.get("note", ""), add_to,
                                          form.get("list", "internal"))
        except cases.CaseNotFound:
            return _html(page("Not found", f"<p>No case {cid}.</p>", s), 404)
        except cases.CaseConflict as exc:
            return _html(page("Decided already", f'<p class="error">{_esc(exc)}</p>', s), 409)
        what = "contacting the customer" if case.state != "decided" else f"decided {case.outcome}"
        s.flash.append(f"case {cid}: {what}" + (f"; {', '.join(add_to)} on the {form.get('list')} list"
                                                if add_to else ""))
        return RedirectResponse(f"/console/cases/{cid}", 303, headers=HEADERS)

    # --- lists, holds, rules, dashboard -----------------------------------------------------
    async def lists(self, request: Request, s: Session, form: dict[str, str]) -> Response:
        self.work.log(s, "list.read", "lists", "console lists page")
        return _html(page("Lists", pages.lists(s, self.reader.list_entries(s.org), self.tally.of(s.org).newest_us,
                                               s.role in WRITE), s, "lists"))

    async def list_add(self, request: Request, s: Session, form: dict[str, str]) -> Response:
        s.flash.append(await self.work.list_change(s, form.get("list", ""), form.get("entity", ""),
                                                   form.get("value", ""), "add", form.get("expires_at") or None,
                                                   tokenised=False))
        return RedirectResponse("/console/lists", 303, headers=HEADERS)

    async def list_remove(self, request: Request, s: Session, form: dict[str, str]) -> Response:
        s.flash.append(await self.work.list_change(s, form.get("list", ""), form.get("entity", ""),
                                                   form.get("value", ""), "remove", None, tokenised=True))
        return RedirectResponse("/console/lists", 303, headers=HEADERS)

    async def holds(self, request: Request, s: Session, form: dict[str, str]) -> Response:
        self.work.log(s, "hold.list", "holds", "console holds page")
        held = {h.event_id: h for h in (await self.all_holds()).values() if h.org == s.org}
        cases.sync(self.record, self.policy)
        case_of = {c.event_id: c.id for state in cases.STATES
                   for c in cases.queue(self.record, actor_of(s), state, limit=1000) if c.event_id in held}
        return _html(page("Holds", pages.holds(s, held, s.role in WRITE, case_of, self.engine.settings.base_currency),
                          s, "holds"))

    async def all_holds(self) -> Mapping[str, HoldState]:
        """The holds the page may show (it shows the open ones): the engine's HoldBook; on a front,
        the open holds of every partition's worker (stream/front_console.py)."""
        return self.engine.holds.holds

    async def hold_act(self, request: Request, s: Session, form: dict[str, str]) -> Response:

        event_id = request.path_params["event_id"]
        if self.record.event_in(s.org, event_id) is None:  # another's hold is as absent as none
            raise WorkError("target_event_id", f"no hold on event {event_id!r}")
        s.flash.append(await self.work.answer_hold(s, event_id, request.path_params["verb"]))
        return RedirectResponse("/console/holds", 303, headers=HEADERS)

    async def rules(self, request: Request, s: Session, form: dict[str, str]) -> Response:
        rs = self.engine.rules
        return _html(page(f"Rules ({len(rs.rules)} in {len(rs.packs)} packs, version {rs.version})",
                          pages.rules(rs.rules, self.tally.of(s.org)), s, "rules"))

    async def dashboard(self, request: Request, s: Session, form: dict[str, str]) -> Response:
        cases.sync(self.record, self.policy)
        to_decide = sum(len(cases.queue(self.record, actor_of(s), state, limit=1000)) for state in ("open", "assigned"))
        return _html(page("Dashboard", pages.dashboard(self.tally.of(s.org), to_decide), s, "dashboard"))

    async def audit_page(self, request: Request, s: Session, form: dict[str, str]) -> Response:
        try:
            after = max(0, int(request.query_params.get("after", "0")))
        except ValueError:
            raise WorkError("after", "must be a whole number") from None
        rows = audit.entries(self.record, s.org, after_id=after, limit=AUDIT_PAGE + 1)
        self.work.log(s, "audit.read", "audit", f"after={after}")
        return _html(page("Audit log", pages.audit_log(rows[:AUDIT_PAGE], len(rows) > AUDIT_PAGE), s, "audit"))

    async def home_page(self, request: Request) -> Response:
        return RedirectResponse("/console/queue", 303, headers=HEADERS)

    def routes(self) -> list[BaseRoute]:
        g = self.guard
        return [
            Route("/", self.home_page, methods=["GET"]),
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", g(CASES_READ)(self.logout), methods=["POST"]),
            Route("/queue", g(CASES_READ)(self.queue), methods=["GET"]),
            Route("/cases/{case_id:int}", g(CASES_READ)(self.case), methods=["GET"]),
            Route("/cases/{case_id:int}/assign", g(CASES_WRITE)(self.assign), methods=["POST"]),
            Route("/cases/{case_id:int}/decide", g(CASES_WRITE)(self.decide), methods=["POST"]),
            Route("/lists", g(READ_ALL)(self.lists), methods=["GET"]),
            Route("/lists/add", g(WRITE)(self.list_add), methods=["POST"]),
            Route("/lists/remove", g(WRITE)(self.list_remove), methods=["POST"]),
            Route("/holds", g(READ_ALL)(self.holds), methods=["GET"]),
            Route("/holds/{event_id:path}/{verb}", g(WRITE)(self.hold_act), methods=["POST"]),
            Route("/rules", g(READ_ALL)(self.rules), methods=["GET"]),
            Route("/dashboard", g(READ_ALL)(self.dashboard), methods=["GET"]),
            Route("/audit", g(AUDIT_READ)(self.audit_page), methods=["GET"]),
        ]


def _form(raw: bytes) -> dict[str, str]:
    """An urlencoded form body (the console posts nothing else); the last value of a repeated name."""
    return {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()}


def _esc(text: Any) -> str:
    from html import escape

    return escape(str(text))


def console_routes(engine: Engine, durable: Callable[[], Awaitable[None]]) -> list[BaseRoute]:
    """The console, to mount in the API's app (api/app.py)."""
    return [Mount("/console", routes=Console(engine, durable).routes())]
