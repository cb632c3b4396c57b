"""The protocol's date arithmetic and the removal of known-compromised cards."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from qalqan.models.protocol import Fold, ProtocolError, folds, split


def test_fold_dates() -> None:
    (f,) = folds("handbook-ch3")
    assert (f.train_start, f.test_start, f.end) == (date(2018, 7, 25), date(2018, 8, 8), date(2018, 8, 15))
    ch5 = folds("handbook-ch5")
    assert [x.train_start for x in ch5] == [date(2018, 7, 25), date(2018, 8, 1), date(2018, 8, 8), date(2018, 8, 15)]
    assert [x.train_start for x in folds("handbook-ch5", date(2018, 7, 1))] == [
        date(2018, 7, 1), date(2018, 7, 8), date(2018, 7, 15), date(2018, 7, 22)]
    with pytest.raises(ProtocolError, match="known"):
        folds("chapter-9")


def test_split_removes_cards_known_compromised_by_each_test_day() -> None:
    f = Fold(date(2018, 1, 1), train_days=2, delay_days=2, test_days=3)  # train 1-2, delay 3-4, test 5-7
    d = [date(2018, 1, 1) + timedelta(days=i) for i in range(8)]
    rows = [
        (d[0], 1, 1),  # card 1: fraud in training -> gone from every test day
        (d[1], 2, 1),  # card 2: fraud on the last training day -> gone too
        (d[2], 3, 1),  # card 3: fraud on delay day 3, known from test day 2 (Jan 6) on
        (d[3], 4, 1),  # card 4: fraud on delay day 4, known from test day 3 (Jan 7) on
        (d[4], 5, 1),  # card 5: fraud on test day 1: never known within the test
    ]
    for day in d[4:7]:
        rows += [(day, c, 0) for c in (1, 2, 3, 4, 5, 6)]
    frame = pl.DataFrame(rows, schema=["day", "CUSTOMER_ID", "TX_FRAUD"], orient="row")
    train, test = split(frame, f)
    assert sorted(train["CUSTOMER_ID"].to_list()) == [1, 2]
    by_day = {day: sorted(set(test.filter(pl.col("day") == day)["CUSTOMER_ID"].to_list())) for day in d[4:7]}
    assert by_day == {d[4]: [3, 4, 5, 6], d[5]: [4, 5, 6], d[6]: [5, 6]}
