"""The console's HTML: one layout, forms that always carry the CSRF token, and tables.

Plain strings with ``html.escape`` on every value that comes from data: no template engine to
install, nothing to misconfigure into autoescape-off. Helpers take raw values and escape them;
only ``Safe`` strings (HTML made here) pass through untouched.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from html import escape
from typing import Any

from .sessions import Session

NAV = [("queue", "Queue"), ("holds", "Holds"), ("lists", "Lists"), ("rules", "Rules"), ("dashboard", "Dashboard"),
       ("audit", "Audit")]
# What each role sees in the menu (the pages refuse the rest anyway).
MENU = {"analyst": {"queue", "holds", "lists", "rules", "dashboard"}, "admin": {k for k, _ in NAV},
        "auditor": {k for k, _ in NAV}, "merchant": {"queue"}}

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2b45;color:#fff;display:flex;align-items:center;gap:18px;padding:8px 18px}
header a{color:#cfe0ff;text-decoration:none}header a.on{color:#fff;font-weight:600}
header .who{margin-left:auto;font-size:12px;color:#aab}
header form{display:inline;margin:0}
main{padding:16px 22px;max-width:1200px}
h1{font-size:20px;margin:4px 0 14px}h2{font-size:16px;margin:20px 0 8px}
table{border-collapse:collapse;background:#fff;margin:6px 0 14px;width:100%}
th,td{border-bottom:1px solid #e3e6ea;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
code,.tok{font-family:ui-monospace,monospace;font-size:12px}
.late{color:#b3261e;font-weight:600}.flash{background:#e6f4ea;border:1px solid #9ad1a6;padding:6px 10px}
.error{background:#fdecea;border:1px solid #f1a9a0;padding:6px 10px}
.act{display:inline-block;margin:0 6px 6px 0}
button{font:inherit;padding:4px 10px;border:1px solid #8896ab;border-radius:4px;background:#fff;cursor:pointer}
button.fraud{border-color:#b3261e;color:#b3261e}button.legit{border-color:#1e7b34;color:#1e7b34}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:14px}
.card{background:#fff;padding:10px 14px;border:1px solid #e3e6ea}
figure.chart{background:#fff;border:1px solid #e3e6ea;margin:0 0 14px;padding:8px}
ul.legend{list-style:none;padding:0;display:flex;gap:12px;font-size:12px}
.swatch{display:inline-block;width:10px;height:10px;margin-right:4px}
"""


class Safe(str):
    """HTML made by the console itself: not escaped again."""


def h(value: Any) -> str:
    if isinstance(value, Safe):
        return value
    return escape("" if value is None else str(value))


def when(us: int | None) -> str:
    if us is None:
        return ""
    return datetime.fromtimestamp(us / 1e6, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def table(headers: Iterable[str], rows: Iterable[Iterable[Any]], cls: str = "", num: set[int] | None = None) -> Safe:
    num = num or set()
    head = "".join(f"<th>{h(x)}</th>" for x in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{h(c)}</td>' if i in num else f"<td>{h(c)}</td>" for i, c in enumerate(r))
        + "</tr>" for r in rows)
    if not body:
        body = '<tr><td colspan="99"><em>nothing here</em></td></tr>'
    return Safe(f'<table class="{h(cls)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')


def post_form(action: str, csrf: str, button: str, fields: dict[str, str] | None = None, cls: str = "",
              extra: str = "") -> Safe:
    """A form that POSTs with the session's CSRF token; ``extra`` is more (safe) inputs."""
    hidden = "".join(f'<input type="hidden" name="{h(k)}" value="{h(v)}">' for k, v in (fields or {}).items())
    return Safe(f'<form class="act" method="post" action="{h(action)}">'
                f'<input type="hidden" name="csrf" value="{h(csrf)}">{hidden}{extra}'
                f'<button type="submit" class="{h(cls)}">{h(button)}</button></form>')


def link(href: str, text: Any) -> Safe:
    return Safe(f'<a href="{h(href)}">{h(text)}</a>')


def page(title: str, body: str, session: Session | None, active: str = "") -> str:
    nav = ""
    if session is not None:
        items = "".join(f'<a href="/console/{k}" class="{"on" if k == active else ""}">{v}</a>' for k, v in NAV
                        if k in MENU.get(session.role, ()))
        logout = post_form("/console/logout", session.csrf, "Log out")
        nav = (f'{items}<span class="who">{h(session.user)} · {h(session.role)} · {h(session.org)}</span>'
               f"{logout}")
    flashes = ""
    if session is not None and session.flash:
        flashes = "".join(f'<p class="flash" role="status">{h(m)}</p>' for m in session.flash)
        session.flash.clear()
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{h(title)} · qalqan</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
            f'<style>{CSS}</style></head>'
            f'<body><header><strong>qalqan</strong>{nav}</header><main><h1>{h(title)}</h1>{flashes}{body}'
            f"</main></body></html>")
