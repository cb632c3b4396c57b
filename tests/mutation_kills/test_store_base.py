"""store/base.py: the write buffer both records share, found by mutation testing (docs/mutation.md).
A wrong line here loses a committed event, writes one twice, or answers a client whose event is not
durable; the outbox's organisation filter shows one organisation's notices to another.
"""

from __future__ import annotations

import pytest

from qalqan.store.base import (
    DEFAULT_ORG,
    Batch,
    Buffered,
    DuplicateEvents,
    ListRow,
    RecordUnavailable,
    Row,
    list_rows_with_org,
    outbox_args,
    outbox_query,
)


def row(seq: int, eid: str, org: str = DEFAULT_ORG) -> Row:
    return Row(seq, eid, "payment", 1, "c", b"{}", "approve", b"{}", org)


class Fake(Buffered):
    """A record whose one transaction fails as told, and which holds ``known`` ids."""

    def __init__(self, fail: Exception | None = None, known: set[tuple[str, str]] | None = None,
                 lookup_fails: bool = False) -> None:
        super().__init__()
        self.fail, self.known, self.lookup_fails = fail, known or set(), lookup_fails
        self.written: list[Batch] = []
        self.looked: list[tuple[str, str]] = []

    def _write(self, batch: Batch) -> None:
        assert self._lock.locked()  # under the connection's lock
        if self.fail is not None:
            raise self.fail
        self.written.append(batch)

    def _lookup(self, event_id: str, org: str = DEFAULT_ORG) -> tuple[bool, bytes | None]:
        self.looked.append((org, event_id))
        if self.lookup_fails:
            raise OSError("down")
        return (org, event_id) in self.known, None


def test_take_hands_over_everything_buffered_and_starts_afresh():
    assert Fake().take() == Batch([], [], None, [])  # a new buffer holds no snapshot (not an empty one)
    b = Fake()
    r, lr, note = row(1, "e1"), ListRow("l", "card", "v", "add", None, 1), (1, "c", "e1", "k", "t", "o")
    b.append(r)
    b.append_list(lr)
    b.append_outbox(note)
    b.save_snapshot(1, b"s")
    assert b.buffered() == [r]
    batch = b.take()
    assert batch == Batch([r], [lr], (1, b"s"), [note])
    assert b.buffered() == [] and b.take() == Batch([], [], None, [])
    b.append(r)
    b.save_snapshot(2, b"t")
    b.rollback()
    assert b.take() == Batch([], [], None, [])


@pytest.mark.parametrize("part", ["rows", "lists", "snapshot", "outbox"])
def test_a_batch_with_anything_in_it_is_written_and_an_empty_one_is_not(part):
    b = Fake()
    b.commit()
    assert b.written == [] and Batch([], [], None, []).empty
    if part == "rows":
        b.append(row(1, "e1"))
    elif part == "lists":
        b.append_list(ListRow("l", "e", "v", "add", None, 1))
    elif part == "snapshot":
        b.save_snapshot(1, b"s")
    else:
        b.append_outbox((1, "c", "e", "k", "t", "o"))
    b.commit()
    assert len(b.written) == 1 and not b.written[0].empty
    assert b.take().empty  # commit took the buffer


def test_a_failed_write_names_the_ids_the_record_already_holds_per_organisation():
    b = Fake(fail=ValueError("unique"), known={("A", "e1"), (DEFAULT_ORG, "e3")})
    rows = [row(1, "e1", "A"), row(2, "e1", "B"), row(3, "e3"), row(4, "e4")]
    with pytest.raises(DuplicateEvents) as info:
        b.write(Batch(rows, [], None, []))
    assert info.value.ids == [("A", "e1"), (DEFAULT_ORG, "e3")]
    assert isinstance(info.value.__cause__, ValueError)
    assert b.looked == [("A", "e1"), ("B", "e1"), (DEFAULT_ORG, "e3"), (DEFAULT_ORG, "e4")]
    assert str(info.value) == ("2 event id(s) already in the record, sent again with another time: e1, e3; nothing of "
                               "the group was stored, send it again: they will be answered with their first decision")


def test_a_failed_write_with_no_known_id_raises_its_own_error():
    b = Fake(fail=ValueError("disk full"))
    with pytest.raises(ValueError, match="disk full"):
        b.write(Batch([row(1, "e1")], [], None, []))
    b = Fake(fail=ValueError("disk full"), known={(DEFAULT_ORG, "e1")}, lookup_fails=True)  # cannot tell
    with pytest.raises(ValueError, match="disk full"):
        b.write(Batch([row(1, "e1")], [], None, []))


def test_an_unavailable_record_is_not_asked_which_ids_it_holds():
    b = Fake(fail=RecordUnavailable("gone"), known={(DEFAULT_ORG, "e1")})
    with pytest.raises(RecordUnavailable):
        b.write(Batch([row(1, "e1")], [], None, []))
    assert b.looked == []
    assert not b._lock.locked()


def test_duplicate_events_lists_five_ids_then_an_ellipsis():
    ids = [("o", f"e{i}") for i in range(7)]
    e = DuplicateEvents(ids)
    assert e.ids == ids
    assert str(e).startswith("7 event id(s) already in the record, sent again with another time: e0, e1, e2, e3, e4 …;")
    assert "e5" not in str(e)
    assert " …" not in str(DuplicateEvents(ids[:5]))
    assert "e4 …;" in str(DuplicateEvents(ids[:6]))


def test_a_list_change_belongs_to_the_organisation_of_its_event():
    lists = [ListRow("l", "card", "v1", "add", None, 2), ListRow("l", "card", "v2", "add", 9, 7)]
    batch = Batch([row(1, "e1", "A"), row(2, "e2", "B")], lists, None, [])
    assert list_rows_with_org(batch) == [("l", "card", "v1", "add", None, 2, "B"),
                                         ("l", "card", "v2", "add", 9, 7, DEFAULT_ORG)]


def test_the_outbox_keys_each_notice_by_organisation_event_and_kind():
    note = (5, "c", "e1", "hold", "text", "A")
    assert outbox_args(Batch([], [], None, [note])) == [(5, "c", "e1", "hold", "text", "A", "A", "e1", "hold")]


def test_the_outbox_query_is_scoped_by_organisation_when_one_is_given():
    assert outbox_query(3, 10, None) == (
        "SELECT id, ts_us, customer, event_id, kind, text FROM outbox WHERE id > ? ORDER BY id LIMIT ?", (3, 10))
    assert outbox_query(3, 10, "A") == (
        "SELECT id, ts_us, customer, event_id, kind, text FROM outbox WHERE id > ? AND org = ? ORDER BY id LIMIT ?",
        (3, "A", 10))
