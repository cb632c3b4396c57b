"""The console shows what the clock decided: a grey payment no one decided by its deadline is in
the queue page's "Decided by the clock" table, and its case page says the clock decided it, why,
and with which default action (a real server, its own clock; the payment's deadline is 2 s)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import Site, logged_in, start


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    home = tmp_path_factory.mktemp("console-clock") / "home"
    deadlines = Path(home.parent) / "deadlines.yaml"
    deadlines.write_text("channels:\n  payment: {after_s: 2, action: decline}\n")
    yield from start(f"sqlite:///{home / 'record.db'}", home, QALQAN_DEADLINES=str(deadlines))


def _by_clock(html: str) -> list[str]:
    """The event ids in the queue page's "Decided by the clock" table."""
    part = html.split('id="by-clock"', 1)
    return re.findall(r"<a href=\"/console/cases/\d+\">([^<]+)</a>", part[1]) if len(part) == 2 else []


def test_the_queue_and_the_case_page_show_what_the_clock_decided(site: Site) -> None:
    with logged_in(site.base, "ana") as c:
        limit = time.monotonic() + 15
        while "p-5" not in _by_clock(page := c.get("/console/queue").text):
            assert time.monotonic() < limit, "the clock did not decide p-5"
            time.sleep(0.2)
        assert "t-hold" not in _by_clock(page)  # a hold waits for its own, longer deadline
        assert "declined_at_deadline" in page.split('id="by-clock"', 1)[1]
        case = c.get(site.case("p-5")).text
        assert "Decided by the clock" in case and "declined_at_deadline" in case
        assert "channels.payment is decline" in case
        assert 'id="decide"' not in case  # nothing left to decide
    with logged_in(site.base, "air") as c:  # the airline sees its own payment decided by the clock
        assert _by_clock(c.get("/console/queue").text) == ["p-5"]
    with logged_in(site.base, "eve") as c:  # another organisation sees nothing of it
        assert _by_clock(c.get("/console/queue").text) == []
