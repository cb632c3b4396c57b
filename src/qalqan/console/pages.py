"""The console's pages as HTML, from data the handlers gathered (no reads happen here)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..case_deadlines import CLOCK
from ..cases import Case
from ..holds import OPEN, HoldState
from ..reports.charts import render_chart
from ..reports.figures import ACTION_COLORS, PALETTE, ChartSpec, Series
from ..rules.ruleset import Rule
from ..store.base import ListRow
from .html import Safe, h, link, post_form, table, when
from .sessions import Session
from .tally import OrgTally
from .work import LIST_NAMES, listable

ACTIONS = ("approve", "challenge", "review", "hold", "decline")
_COLORS = {"approve": PALETTE["green"], **ACTION_COLORS}


def login(error: str, token: str, next_url: str) -> str:
    err = f'<p class="error" role="alert">{h(error)}</p>' if error else ""
    return (f'{err}<form method="post" action="/console/login" class="card" style="max-width:340px">'
            f'<input type="hidden" name="csrf" value="{h(token)}">'
            f'<input type="hidden" name="next" value="{h(next_url)}">'
            '<p><label>Name<br><input name="name" autocomplete="username" required></label></p>'
            '<p><label>Password<br><input name="password" type="password" autocomplete="current-password" required>'
            '</label></p><p><button type="submit">Log in</button></p></form>')


def queue(found: list[Case], now_us: int, reasons: dict[str, list[str]], by_clock: list[Case] | None = None) -> str:
    rows = []
    for c in found:
        late = _us(c.due) < now_us
        deadline = Safe(f'<span class="{"late" if late else ""}">{h(_short(c.due))}{" (late)" if late else ""}</span>')
        amount = f"{c.amount or ''} {c.currency or ''}"
        rows.append([link(f"/console/cases/{c.id}", c.event_id), c.type, c.action, amount, _short(c.opened_at),
                     deadline, c.state, c.assignee or "", c.outcome or "", ", ".join(reasons.get(c.event_id, []))])
    note = ("<p>Cases still to decide (decisions <code>review</code> and <code>hold</code>), the nearest deadline "
            "first. A hold's deadline is its <code>confirm_by</code>; a review's, the moment it was decided plus "
            "its channel's or merchant's time (a card payment: 15 minutes). A review no one decides by then is "
            "decided by the server's clock with the configured default action. Late: past the newest event "
            "time in the record.</p>")
    return note + table(["event", "type", "action", "amount", "decided at", "deadline", "state", "assignee",
                         "interim outcome", "reasons"], rows, "queue") + _by_clock(by_clock or [])


def _by_clock(found: list[Case]) -> str:
    """The latest cases no one decided in time: what the clock did with each (case_deadlines.py)."""
    rows = [[link(f"/console/cases/{c.id}", c.event_id), c.type, f"{c.amount or ''} {c.currency or ''}",
             c.merchant_id or "", _short(c.due), c.outcome or "", c.note or ""] for c in found]
    return ('<h2 id="by-clock">Decided by the clock</h2><p>Cases no one decided by their deadline, newest first: '
            "the default action was taken and the integrator told (outbox, webhooks).</p>"
            + table(["event", "type", "amount", "merchant", "deadline", "outcome", "why"], rows, "by-clock"))


def _us(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1_000_000)


def _short(text: str | None) -> str:
    return (text or "").replace("T", " ").split(".")[0].rstrip("Z")


def case(session: Session, c: Case, doc: dict[str, Any], features: dict[str, Any], recomputed: bool,
         named: set[str], linked: list[tuple[str, str, list[str]]], journal: list[dict[str, Any]],
         can_write: bool) -> str:
    body, decision = doc["event"], doc.get("decision") or {}
    parts = [f'<p>Customer <code class="tok">{h(c.customer)}</code> · decided <strong>{h(c.action)}</strong> '
             f"at {h(_short(c.opened_at))} · deadline {h(_short(c.due))} · score {h(decision.get('score'))} · "
             f'state <strong id="state">{h(c.state)}</strong>'
             + (f" · assigned to {h(c.assignee)}" if c.assignee else "") + "</p>"]
    if c.state == "decided" and c.updated_by == CLOCK:
        parts.append(f'<p class="flash" id="outcome">Decided by the clock: no one decided by the deadline '
                     f"{h(_short(c.due))}, so <strong>{h(c.outcome)}</strong> (at {h(_short(c.updated_at))}). "
                     f"{h(c.note)}</p>")
    elif c.state == "decided":
        parts.append(f'<p class="flash" id="outcome">Decided <strong>{h(c.outcome)}</strong> by {h(c.updated_by)} '
                     f"at {h(_short(c.updated_at))}</p>")
    elif c.outcome == "contact_customer":
        parts.append(f'<p class="flash" id="outcome">Contacting the customer ({h(c.updated_by)}): {h(c.note)}</p>')
    if can_write and c.state != "decided":
        base, csrf = f"/console/cases/{c.id}", session.csrf
        take = "" if c.assignee == session.user else post_form(f"{base}/assign", csrf, "Take it")
        boxes = "".join(f'<label><input type="checkbox" name="add_{w}" value="on"> {h(label)}</label> '
                        for w, label in listable(body)) if session.role != "merchant" else ""
        lists_opt = "".join(f"<option>{n}</option>" for n in LIST_NAMES)
        put = (f'<p>Also put on the list <select name="list">{lists_opt}</select>: {boxes}</p>' if boxes else "")
        buttons = "".join(f'<button type="submit" name="outcome" value="{o}" class="{cls}">{h(t)}</button> '
                          for o, t, cls in (("fraud", "Fraud", "fraud"), ("legitimate", "Legitimate", "legit"),
                                            ("contact_customer", "Contact customer", "")))
        parts.append(f'<div class="card" id="decide"><h2>Decide</h2>{take}'
                     f'<form method="post" action="{h(base)}/decide"><input type="hidden" name="csrf" '
                     f'value="{h(csrf)}"><p><input name="note" placeholder="note (optional)" size="60"></p>'
                     f"{put}<p>{buttons}</p></form></div>")
    reasons = [[r.get("code"), r.get("source"), r.get("action", ""), r.get("text", "")] for r in doc.get("reasons", [])]
    parts.append("<h2>Reasons</h2>" + table(["code", "source", "action", "text"], reasons, "reasons"))
    if decision.get("hold"):
        hold = decision["hold"]
        parts.append(f"<p>Hold: {h(hold.get('kind'))}, until {h(hold.get('until'))}, confirm by "
                     f"{h(hold.get('confirm_by'))}</p>")
    fields = [[k, v] for k, v in body.items() if v not in (None, "", [], {})]
    parts.append('<div class="grid"><div><h2>Event</h2>' + table(["field", "value"], fields, "event") + "</div>")
    if "error" in features:
        feat_html = f'<p class="error">{h(features["error"])}</p>'
    else:
        first = sorted((k, v) for k, v in features.items() if k in named)
        rest = sorted((k, v) for k, v in features.items() if k not in named and v not in (None, 0))
        feat_html = (table(["feature (read by the rules that hit)", "value"], first, "features")
                     + table(["other features (non-zero)", "value"], rest, "features"))
    how = ("Recomputed point-in-time from the stored history of this customer and the customers linked to them"
           if recomputed else "As the decision recorded them")
    parts.append(f'<div><h2>Features</h2><p class="note">{how}; money in minor units of the base currency.</p>'
                 + feat_html + "</div></div>")
    history, merchant = doc.get("history", []), session.role == "merchant"
    if merchant:  # the customer's payments at this merchant only: a row that does not say its merchant is not shown
        history = [r for r in history if session.merchant and r.get("merchant_id") == session.merchant]
    hist = [[r["event_id"], r["type"], _short(r["ts"]), r.get("action") or "",
             f"{r['amount']} {r.get('currency') or ''}" if r.get("amount") else ""] for r in history]
    parts.append(("<h2>Customer's recent payments here (before this event)</h2>" if merchant else
                  "<h2>Customer's recent history (before this event)</h2>")
                 + table(["event", "type", "time", "action", "amount"], hist, "history"))
    if not merchant:  # other customers and their devices are the bank's to see, not a merchant's
        links = [[f, Safe(f'<code class="tok">{h(v)}</code>'), len(o), ", ".join(o[:8]) + (" …" if len(o) > 8 else "")]
                 for f, v, o in linked]
        parts.append("<h2>Linked accounts and devices</h2>"
                     + table(["kind", "value", "other customers", "who"], links, "linked", {2}))
    if journal:
        parts.append("<h2>Journal</h2>" + table(["time", "who", "role", "action", "detail"],
                                                [[_short(j["at"]), j["actor"], j["role"], j["action"], j["detail"]]
                                                 for j in journal], "journal"))
    return "".join(parts)


def lists(session: Session, entries: list[ListRow], now_us: int, can_write: bool) -> str:
    rows = []
    for e in entries:
        if e.expires_us is not None and e.expires_us <= now_us:
            continue
        remove = (post_form("/console/lists/remove", session.csrf, "Remove",
                            {"list": e.list, "entity": e.entity, "value": e.value})
                  if can_write and e.list in LIST_NAMES else "")
        rows.append([e.list, e.entity, Safe(f'<code class="tok">{h(e.value)}</code>'),
                     when(e.expires_us) if e.expires_us else "never", remove])
    add = ""
    if can_write:
        lists_opt = "".join(f"<option>{n}</option>" for n in LIST_NAMES)
        ents = "".join(f"<option>{n}</option>" for n in ("account", "card", "phone", "device", "customer"))
        add = ('<div class="card" id="add"><h2>Add</h2>'
               + post_form("/console/lists/add", session.csrf, "Add", None, "",
                           f'<select name="list">{lists_opt}</select> <select name="entity">{ents}</select> '
                           '<input name="value" placeholder="value (in clear: tokenised on entry)" size="36" required> '
                           '<input name="expires_at" placeholder="expires (RFC 3339, optional)" size="24"> ')
               + "</div>")
    return add + "<h2>Entries</h2>" + table(["list", "entity", "value (token)", "expires", ""], rows, "lists")


def holds(session: Session, book: dict[str, HoldState], can_write: bool, case_of: dict[str, int], base: str) -> str:
    rows = []
    for hs in sorted(book.values(), key=lambda x: x.confirm_by_us):
        if hs.status not in OPEN:
            continue
        acts = ""
        if can_write:
            acts = Safe("".join(post_form(f"/console/holds/{hs.event_id}/{verb}", session.csrf, verb.capitalize())
                                for verb in ("confirm", "reject", "repeat")))
        event = link(f"/console/cases/{case_of[hs.event_id]}", hs.event_id) if hs.event_id in case_of else hs.event_id
        amount = f"{int(hs.amount) / 100:,.2f} {base}" if hs.amount and hs.amount.lstrip("-").isdigit() else ""
        rows.append([event, hs.kind, hs.status, amount,
                     when(hs.created_us), when(hs.confirm_by_us), when(hs.until_us), acts])
    return ("<p>Suspended transfers (161-FZ art. 8; the Kazakh block) still open. Confirm or reject records the "
            "client's answer; repeat records the client repeating the order.</p>"
            + table(["event", "kind", "status", "amount", "since", "confirm by", "until", ""],
                    rows, "holds"))


def rules(rule_list: list[Rule], tally: OrgTally) -> str:
    rows = [[r.code, r.code.split(".", 1)[0], r.action, r.mode, tally.hits.get(r.code, 0),
             tally.shadow_hits.get(r.code, 0), r.description] for r in rule_list]
    rows.sort(key=lambda r: (-int(r[4]), str(r[0])))
    return ("<p>Every rule of the loaded packs with its hits among the recorded decisions (shadow: the hits of a "
            "rule in shadow mode, recorded and never acted on).</p>"
            + table(["rule", "pack", "action", "mode", "hits", "shadow hits", "description"], rows, "rules", {4, 5}))


def audit_log(rows: list[dict[str, Any]], more: bool) -> str:
    cells = [[r["id"], _short(r["at"]), r["actor"], r["role"], r["action"], r["target"], r["detail"]] for r in rows]
    body = table(["id", "time (wall clock)", "who", "role", "action", "target", "detail"], cells, "audit", {0})
    nav = ""
    if more and rows:
        last = rows[-1]["id"]
        nav = f"<p>{link(f'/console/audit?after={last}', 'later entries →')}</p>"
    return ("<p>Every read of a customer's data and every change people made, in this organisation, oldest "
            "first. The log is append-only: the record refuses to update or delete a row.</p>" + body + nav)


def dashboard(tally: OrgTally, to_decide: int) -> str:
    days = sorted(tally.by_day)
    by_action = ChartSpec("decisions-by-action", "Decisions by action per day", "stacked", days,
                          [Series(a, [float(tally.by_day[d][a]) for d in days], _COLORS[a]) for a in ACTIONS],
                          y_format="count")
    alerts = ChartSpec("alert-volume", "Alert volume (cases opened) per day", "bars", days,
                       [Series("cases opened", [float(tally.alerts[d]) for d in days], PALETTE["orange"])],
                       y_format="count")
    rate = [(tally.fraud[d] / sum(tally.by_day[d].values())) if sum(tally.by_day[d].values()) else None for d in days]
    fraud = ChartSpec("fraud-rate", "Fraud rate (labelled fraud / decided, by day of the movement)", "line", days,
                      [Series("fraud rate", rate, PALETTE["red"])], y_format="pct",
                      note="Labels arrive after the fact: recent days rise as analysts and chargebacks label them.")
    total = sum(sum(c.values()) for c in tally.by_day.values())
    frauds, labelled = sum(tally.fraud.values()), sum(tally.labelled.values())
    summary = table(["decided", "cases opened", "to decide now", "labelled", "labelled fraud"],
                    [[total, sum(tally.alerts.values()), to_decide, labelled, frauds]], "summary",
                    {0, 1, 2, 3, 4})
    return summary + "".join(render_chart(s) for s in (by_action, alerts, fraud))
