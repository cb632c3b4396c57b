"""The console in a real browser (Debian's Chromium, driven by Playwright): an analyst logs in,
works a case from the queue to a label, answers a hold, and visits every page. Screenshots of each
step are kept in ``$QALQAN_ARTEFACTS`` (default ``test-artefacts/console/``).

``make test`` installs Debian's chromium when it is missing; without it this test is skipped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from qalqan.console.reader import Reader

from .helpers import PASSWORD, Site

CHROMIUM = "/usr/bin/chromium"
ARTEFACTS = Path(os.environ.get("QALQAN_ARTEFACTS") or Path(__file__).parents[2] / "test-artefacts") / "console"

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM) and os.environ.get("CI") != "true",  # CI: fails
                                reason=f"{CHROMIUM} is absent: `make /usr/bin/chromium` installs Debian's chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


def test_an_analyst_works_a_case_from_the_queue_to_a_label(site: Site, browser) -> None:
    from playwright.sync_api import expect

    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    def shot(name: str) -> None:
        page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)

    # 1. The queue asks for a login first, and comes back to the queue after it.
    page.goto(f"{site.base}/console/queue")
    expect(page).to_have_url(re.compile(r"/console/login\?next=/console/queue$"))
    page.fill("input[name=name]", "ana")
    page.fill("input[name=password]", "not it at all")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_have_text("wrong name or password")
    page.fill("input[name=name]", "ana")
    page.fill("input[name=password]", PASSWORD)
    shot("01-login")
    errors.clear()  # the refused login answered 401, as it should
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/console/queue$"))
    expect(page.locator("h1")).to_have_text("Queue (2 to decide)")
    rows = page.locator("table.queue tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("p-5")  # the review is due before the hold's end of next day
    expect(rows.nth(0)).to_contain_text("cnp.many_merchants")
    expect(rows.nth(1)).to_contain_text("t-hold")
    shot("02-queue")

    # 2. The case page: the event, its reasons, its features, the history, the links.
    page.click("table.queue a:text-is('p-5')")
    expect(page.locator("h1")).to_have_text("Case p-5")
    expect(page.locator("table.reasons")).to_contain_text("card used at 5 merchants in the last hour")
    expect(page.locator("table.event")).to_contain_text("airline")
    feats = page.locator("table.features").first
    expect(feats).to_contain_text("card_1h_distinct")
    expect(feats.locator("tr", has_text="card_1h_distinct").locator("td").nth(1)).to_have_text("5")
    expect(page.locator("table.history tbody tr")).to_have_count(5)  # the five payments before it
    linked = page.locator("table.linked tr", has_text="device_id")
    expect(linked.locator("td").nth(2)).to_have_text("1")  # another customer logged in on the same device
    shot("03-case")

    # 3. Take the case, then decide: fraud, and the device goes on the internal list.
    page.click("#decide button:text-is('Take it')")
    expect(page.get_by_role("status")).to_contain_text("assigned to ana")
    expect(page.locator("#state")).to_have_text("assigned")
    page.fill("#decide input[name=note]", "the customer denies it")
    page.check("#decide input[name=add_device]")
    page.locator("#decide select[name=list]").select_option("internal")
    shot("04-case-deciding")
    page.click("#decide button:text-is('Fraud')")
    expect(page.get_by_role("status")).to_contain_text("decided fraud; device on the internal list")
    expect(page.locator("#outcome")).to_contain_text("Decided fraud by ana")
    expect(page.locator("#decide")).to_have_count(0)
    expect(page.locator("table.journal")).to_contain_text("the customer denies it")
    shot("05-case-decided")

    # The label is an event in the record, for training; the case has left the queue.
    reader = Reader(site.db_url)
    try:
        labels = [bytes(b) for (b,) in reader.query("SELECT body FROM events WHERE type = 'label'")]
    finally:
        reader.close()
    assert len(labels) == 1 and b'"target_event_id":"p-5"' in labels[0] and b'"label":"fraud"' in labels[0]
    page.click("header a:text-is('Queue')")
    expect(page.locator("h1")).to_have_text("Queue (1 to decide)")
    expect(page.locator("table.queue")).not_to_contain_text("p-5")

    # 4. Holds: the client confirms on the phone; the recipient is on the FinCERT list: cooling-off.
    page.click("header a:text-is('Holds')")
    hold = page.locator("table.holds tr", has_text="t-hold")
    expect(hold).to_contain_text("pending")
    shot("06-holds")
    hold.locator("form", has_text="Confirm").locator("button").click()
    expect(page.get_by_role("status")).to_have_text("hold t-hold: confirm recorded")
    expect(page.locator("table.holds tr", has_text="t-hold")).to_contain_text("cooling_off")

    # 5. Lists, rules, dashboard.
    page.click("header a:text-is('Lists')")
    expect(page.locator("table.lists tr", has_text="internal")).to_contain_text("device")
    expect(page.locator("table.lists tr", has_text="cbr_fincert")).to_contain_text("account")
    shot("07-lists")
    page.click("header a:text-is('Rules')")
    rule = page.locator("table.rules tr", has_text="cnp.many_merchants")
    expect(rule.locator("td").nth(4)).to_have_text("1")
    expect(page.locator("table.rules tr", has_text="od2506.1.1 ").first.locator("td").nth(4)).to_have_text("1")
    shot("08-rules")
    page.click("header a:text-is('Dashboard')")
    for chart in ("decisions-by-action", "alert-volume", "fraud-rate"):
        expect(page.locator(f"#chart-{chart} svg")).to_be_visible()
        assert page.locator(f"#chart-{chart} svg .mark").count() > 0, chart
    expect(page.locator("#chart-decisions-by-action svg .mark").first).to_be_visible()
    expect(page.locator("table.summary td").nth(3)).to_have_text("1")  # labelled
    expect(page.locator("table.summary td").nth(4)).to_have_text("1")  # labelled fraud
    shot("09-dashboard")

    # 6. Out.
    page.click("header button:text-is('Log out')")
    expect(page).to_have_url(re.compile(r"/console/login$"))
    page.goto(f"{site.base}/console/queue")
    expect(page).to_have_url(re.compile(r"/console/login"))

    # 7. The auditor reads the audit log: ana's reads and changes are there.
    page.fill("input[name=name]", "audrey")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.click("header a:text-is('Audit')")
    log = page.locator("table.audit")
    for action in ("session.login", "case.list", "case.read", "case.assign", "case.decide", "hold.confirm",
                   "list.read", "session.logout"):
        expect(log.locator("tr", has_text="ana").filter(has_text=action).first).to_be_visible()
    shot("10-audit")
    assert not errors, errors  # nothing failed to load, and the CSP refused nothing the pages need
    ctx.close()
    for name in ("01-login", "02-queue", "03-case", "04-case-deciding", "05-case-decided", "06-holds", "07-lists",
                 "08-rules", "09-dashboard", "10-audit"):
        assert (ARTEFACTS / f"{name}.png").stat().st_size > 5_000, name
