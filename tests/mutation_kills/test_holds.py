"""holds.py at the book's level: what the engine-level hold tests (tests/rules/test_holds.py) leave open,
found by mutation testing (docs/mutation.md). A wrong line here executes a transfer the client did not
confirm, keeps one the client rejected, shows another organisation's hold, or loses a hold on restart.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from qalqan.holds import DAY_US, HOUR_US, HoldBook, HoldState, Notice, _fmt

T0 = int(datetime(2026, 3, 10, 12, 0, tzinfo=UTC).timestamp()) * 1_000_000  # a Tuesday, noon UTC


def _us(s: str) -> int:
    return int(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()) * 1_000_000


def _book_with(kind: str = "art8", trusted: bool = False, org: str = "default") -> HoldBook:
    b = HoldBook()
    b.start("e1", "cust", T0, kind, trusted, "40817810000000000001", "1000.00", org=org)
    return b


# --- rejection ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("by, who", [("client", "client"), ("trusted_person", "trusted person")])
def test_a_rejection_closes_the_hold_and_says_who_rejected(by, who):
    b = _book_with(trusted=by == "trusted_person")
    (n,) = b.respond("e1", "reject", by, T0 + 60_000_000, db_hit=False)
    assert (n.kind, n.text, n.ts_us, n.event_id, n.customer) == (
        "hold_rejected", f"rejected by the {who}", T0 + 60_000_000, "e1", "cust")
    h = b.of("e1", "default")
    assert h.status == "rejected"
    assert h.history[-1] == (T0 + 60_000_000, "rejected")


def test_a_rejected_hold_is_not_executed_when_its_deadline_passes():
    b = _book_with()
    b.respond("e1", "reject", "client", T0 + 1, db_hit=False)
    assert b.advance(T0 + 10 * DAY_US) == []
    assert b.of("e1", "default").status == "rejected"


def test_the_client_may_reject_during_the_cooling_off_but_a_confirmation_changes_nothing():
    b = _book_with()
    b.respond("e1", "confirm", "client", T0 + 1, db_hit=True)
    assert b.of("e1", "default").status == "cooling_off"
    assert b.respond("e1", "confirm", "client", T0 + 2, db_hit=False) == []  # not released early
    assert b.of("e1", "default").status == "cooling_off"
    (n,) = b.respond("e1", "reject", "client", T0 + 3, db_hit=False)
    assert n.kind == "hold_rejected" and b.of("e1", "default").status == "rejected"


def test_the_client_cannot_answer_for_the_trusted_person():
    b = _book_with(trusted=True)
    assert b.respond("e1", "reject", "client", T0 + 1, db_hit=False) == []
    assert b.respond("e1", "confirm", "client", T0 + 1, db_hit=False) == []
    assert b.of("e1", "default").status == "asked_trusted"


def test_a_trusted_persons_confirmation_says_so():
    b = _book_with(trusted=True)
    (n,) = b.respond("e1", "confirm", "trusted_person", T0 + 5, db_hit=False)
    assert (n.kind, n.text) == ("hold_released", "confirmed by the trusted person: executed")


# --- answers to what is not (or no longer) open --------------------------------------------------------

def test_answers_and_repeats_for_an_unknown_hold_do_nothing():
    b = HoldBook()
    assert b.respond("nope", "confirm", "client", T0, db_hit=False) == []
    assert b.respond("nope", "reject", "client", T0, db_hit=False) == []
    assert b.replaced("nope", "nope:repeat", T0) == []


@pytest.mark.parametrize("closing", ["confirm", "reject"])
def test_a_closed_hold_cannot_be_reopened_or_replaced(closing):
    b = _book_with()
    b.respond("e1", closing, "client", T0 + 1, db_hit=False)
    final = b.of("e1", "default").status
    assert b.respond("e1", "reject" if closing == "confirm" else "confirm", "client", T0 + 2, db_hit=False) == []
    assert b.replaced("e1", "e1:repeat", T0 + 3) == []
    assert b.of("e1", "default").status == final
    assert len(b.of("e1", "default").history) == 2


def test_a_repeat_replaces_the_open_hold_at_the_repeats_time():
    b = _book_with()
    (n,) = b.replaced("e1", "e1:repeat", T0 + 7)
    assert (n.kind, n.text) == ("hold_replaced", "repeated by the client as e1:repeat")
    assert b.of("e1", "default").history == [(T0, "pending"), (T0 + 7, "replaced")]


# --- the cooling-off after a FinCERT hit ---------------------------------------------------------------

def test_a_confirmation_with_a_fincert_hit_cools_off_exactly_2_days_from_the_answer():
    b = _book_with()
    answer = T0 + 3_600_000_000
    (n,) = b.respond("e1", "confirm", "client", answer, db_hit=True)
    h = b.of("e1", "default")
    assert h.until_us == answer + 2 * DAY_US
    executes = _fmt(answer + 2 * DAY_US)
    assert (n.kind, n.text) == (
        "hold_cooling_off", f"confirmed; the recipient is in the FinCERT database: executes at {executes}")
    assert h.history == [(T0, "pending"), (answer, "cooling_off")]
    assert b.advance(answer + 2 * DAY_US) == []  # the last instant is still cooling off
    (done,) = b.advance(answer + 2 * DAY_US + 1)
    assert (done.kind, done.text, done.ts_us) == ("hold_released", "cooling-off over: executed", answer + 2 * DAY_US)
    assert h.status == "released" and h.history[-1] == (answer + 2 * DAY_US, "released")


def test_a_cooling_hold_started_by_a_repeat_releases_after_2_days():
    """The repeat of an order to a FinCERT-listed recipient starts as cooling_off (never in the repeat index)."""
    b = HoldBook()
    b.start("r1", "cust", T0, "art8", False, "40817810000000000666", "5.00", cooling=True)
    (n,) = b.advance(T0 + 2 * DAY_US + 1)
    assert (n.kind, n.event_id) == ("hold_released", "r1")


@pytest.mark.parametrize("amount, stored", [("5.00", "5.00"), (5, "5"), (None, None)])
def test_a_cooling_hold_records_the_order_as_given(amount, stored):
    b = HoldBook()
    (n,) = b.start("r1", "cust", T0, "art8", False, "acc-9", amount, cooling=True, org="org-x")
    until = T0 + 2 * DAY_US
    assert b.of("r1", "org-x") == HoldState("r1", "cust", "art8", "cooling_off", T0, until, T0, "acc-9", stored,
                                            [(T0, "cooling_off")], "org-x")
    assert (n.ts_us, n.customer, n.event_id, n.kind, n.text) == (
        T0, "cust", "r1", "hold_cooling_off",
        f"confirmed by repeating; the recipient is in the FinCERT database: executes at {_fmt(until)}")


@pytest.mark.parametrize("kind, trusted, status, until, confirm_by, text", [
    ("art8", False, "pending", T0 + 2 * DAY_US, _us("2026-03-11T23:59:59Z"),
     "transfer suspended until 2026-03-12T12:00:00Z; confirm by 2026-03-11T23:59:59Z"),
    ("art8", True, "asked_trusted", T0 + 2 * DAY_US, T0 + 12 * HOUR_US,
     "transfer suspended until 2026-03-12T12:00:00Z; the trusted person is asked to confirm by 2026-03-11T00:00:00Z"),
    ("kz", False, "pending", _us("2026-03-17T12:00:00Z"), _us("2026-03-17T12:00:00Z"),
     "transfer blocked until 2026-03-17T12:00:00Z (up to 5 working days)"),
])
def test_a_new_hold_records_its_terms_and_tells_the_client(kind, trusted, status, until, confirm_by, text):
    b = HoldBook()
    (n,) = b.start("e1", "cust", T0, kind, trusted, "acc", 12)
    assert b.of("e1", "default") == HoldState("e1", "cust", kind, status, T0, until, confirm_by, "acc", "12",
                                              [(T0, status)], "default")
    assert n == Notice(T0, "cust", "e1", "hold_started", text)
    assert b.repeated("cust", "acc", "12") == ("e1" if kind == "art8" else None)


def test_the_cooling_off_hold_shown_to_the_client_is_confirmed_now_and_runs_2_days():
    hold = HoldBook().cooling_hold(T0)
    assert (hold.until, hold.confirm_by, hold.kind) == (
        "2026-03-12T12:00:00Z", "2026-03-10T12:00:00Z", "161fz_art8_cooling_off")


# --- organisations -----------------------------------------------------------------------------------

def test_another_organisations_hold_is_as_absent_as_none():
    b = _book_with(org="bank-a")
    assert b.of("e1", "bank-a").customer == "cust"
    assert b.of("e1", "bank-b") is None
    assert b.of("e1", "default") is None
    assert b.of("missing", "bank-a") is None


# --- bookkeeping the engine relies on ----------------------------------------------------------------

def test_every_change_moves_the_change_counter_forward():
    """state/redis.py rewrites the holds only when the counter differs from the one last written:
    a counter that stands still, or comes back to an earlier value, loses a hold on restart."""
    b = HoldBook()
    seen = [b.changes]

    def step():
        assert b.changes > seen[-1], f"counter {b.changes} after {seen}"
        seen.append(b.changes)

    b.start("e1", "c1", T0, "art8", False, "acc1", "1")
    step()
    b.start("e2", "c2", T0, "art8", False, "acc2", "2")
    step()
    b.start("e3", "c3", T0, "art8", True, "acc3", "3")
    step()
    b.respond("e1", "confirm", "client", T0 + 1, db_hit=True)  # cooling off
    step()
    b.respond("e2", "confirm", "client", T0 + 2, db_hit=False)  # released
    step()
    b.replaced("e3", "e3:repeat", T0 + 3)
    step()
    b.respond("e1", "reject", "client", T0 + 4, db_hit=False)
    step()
    b.start("e4", "c4", T0, "art8", False, "acc4", "4")
    step()
    b.advance(T0 + 5 * DAY_US)  # e4 not confirmed in time: rejected
    step()
    assert b.of("e4", "default").status == "rejected"


def test_only_open_holds_stay_in_the_repeat_index():
    """A closed hold leaves the (client, recipient, amount) index, so the index stays as small as
    the open holds, and a later identical order is a new order, not a repeat."""
    b = HoldBook()
    b.start("e1", "c", T0, "art8", False, "acc", "10")
    b.start("e2", "c", T0, "art8", False, "acc2", "10")
    b.start("k1", "c", T0, "kz", False, "acc3", "10")
    assert b.repeated("c", "acc", "10") == "e1"
    b.respond("e1", "confirm", "client", T0 + 1, db_hit=False)
    b.respond("e2", "reject", "client", T0 + 1, db_hit=False)
    b.advance(T0 + 30 * DAY_US)
    assert b.repeated("c", "acc", "10") is None
    assert b._by_order == {}


def test_a_hold_started_without_options_is_the_default_organisations_art8_suspension():
    b = HoldBook()
    (n,) = b.start("e1", "cust", T0, "art8", False, "acc", "1")
    h = b.of("e1", "default")
    assert (n.kind, h.status, h.org) == ("hold_started", "pending", "default")
    assert b.of("e1", "default") is h


def test_confirm_by_is_the_end_of_the_next_day_even_just_after_midnight():
    after_midnight = _us("2026-03-11T00:10:00Z")
    assert HoldBook().hold_of(after_midnight, "art8", False).confirm_by == "2026-03-12T23:59:59Z"


@pytest.mark.parametrize("tz", ["UTC", "XXX-5", "XXX+5"])  # POSIX TZ: UTC, UTC+5, UTC-5 (no zoneinfo needed)
def test_hold_terms_are_on_utc_whatever_the_servers_time_zone(monkeypatch, tz):
    """A replay on a server in another time zone gives the same holds. Friday 22:00 UTC is already
    Saturday 03:00 in Kazakhstan: the Kazakh block counts Kazakhstan's working days (jurisdiction.py,
    rules/calendars/kz.yaml, UTC+05:00 whatever the server's zone), Monday to Friday, ending Friday
    03:00 there (Thursday 22:00 UTC); and 21:00 UTC is already the next day in UTC+5 (art. 8's
    confirm-by counted in the server's zone would be a day late)."""
    friday_night = _us("2026-03-13T22:00:00Z")
    evening = _us("2026-03-10T21:00:00Z")
    monkeypatch.setenv("TZ", tz)
    time.tzset()
    try:
        assert HoldBook().hold_of(friday_night, "kz", False).until == "2026-03-19T22:00:00Z"  # Mon..Fri, Kazakh dates
        art8 = HoldBook().hold_of(evening, "art8", False)
        assert (art8.until, art8.confirm_by) == ("2026-03-12T21:00:00Z", "2026-03-11T23:59:59Z")
        assert HoldBook().terms(evening, "art8", False)[1] == _us("2026-03-11T23:59:59Z")
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize("trusted", [False, True])
def test_an_order_repeats_an_open_art8_hold_even_without_an_amount(trusted):
    b = HoldBook()
    b.start("e1", "cust", T0, "art8", trusted, "acc", None)
    assert b.repeated("cust", "acc", None) == "e1"
    assert b.repeated("cust", "acc", "None") is None


def test_a_restart_restores_the_holds_their_deadlines_and_the_repeat_index():
    """What survives a restart (dump, then load into a fresh book): every hold, each open one still
    recognised when the client repeats it, the closed ones not; and the load counts as a change."""
    b = HoldBook()
    b.start("p", "c1", T0, "art8", False, "a1", "1")
    b.start("t", "c2", T0, "art8", True, "a2", "2")
    b.start("r", "c3", T0, "art8", False, "a3", "3")
    b.respond("r", "confirm", "client", T0 + 1, db_hit=False)
    fresh = HoldBook()
    fresh.changes = 5
    fresh.load(b.dump())
    assert fresh.changes > 5
    assert [fresh.of(e, "default") for e in "ptr"] == [b.of(e, "default") for e in "ptr"]
    assert fresh._by_order == b._by_order == {("c1", "a1", "1"): "p", ("c2", "a2", "2"): "t"}
    assert (fresh.repeated("c1", "a1", "1"), fresh.repeated("c2", "a2", "2"), fresh.repeated("c3", "a3", "3")) == (
        "p", "t", None)
    expired = fresh.advance(T0 + 3 * DAY_US)
    assert sorted((n.event_id, n.kind) for n in expired) == [("p", "hold_rejected"), ("t", "hold_rejected")]


def test_each_expiry_tells_the_client_what_happened_and_when():
    """The notices the outbox sends when a deadline passes: at the deadline's time, saying why."""
    b = HoldBook()
    b.start("kz", "c1", T0, "kz", False, "a1", "1")
    b.start("trusted", "c2", T0, "art8", True, "a2", "2")
    b.start("plain", "c3", T0, "art8", False, "a3", "3")
    got = {n.event_id: (n.kind, n.ts_us, n.text) for n in b.advance(T0 + 30 * DAY_US)}
    assert got == {
        "kz": ("hold_released", _us("2026-03-17T12:00:00Z"), "block period over: executed"),
        "trusted": ("hold_rejected", T0 + 12 * HOUR_US, "the trusted person did not answer in time: declined"),
        "plain": ("hold_rejected", _us("2026-03-11T23:59:59Z"), "not confirmed in time: not executed"),
    }
    assert [b.of(e, "default").history[-1] for e in ("kz", "trusted", "plain")] == [
        (got["kz"][1], "released"), (got["trusted"][1], "rejected"), (got["plain"][1], "rejected")]
