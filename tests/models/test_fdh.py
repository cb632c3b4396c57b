"""End to end on a slice of the handbook's data: features point in time, the ch3 protocol, the CLI.
Skipped where ../shared/data/fdh/transactions.parquet is absent."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from qalqan.models import fdh
from qalqan.models.commands import register
from qalqan.models.evaluate import evaluate

pytestmark = pytest.mark.skipif(
    not fdh.DEFAULT_DATA.exists(),
    reason=f"{fdh.DEFAULT_DATA} is absent: the handbook data live in ../shared/data/fdh (see its README.md)",
)
CARDS = 300  # of 4,990: about 6 % of the transactions


@pytest.fixture(scope="module")
def sliced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tx = pl.read_parquet(fdh.DEFAULT_DATA).filter(
        (pl.col("CUSTOMER_ID") < CARDS) & (pl.col("TX_DATETIME") < datetime(2018, 8, 15)))
    path = tmp_path_factory.mktemp("fdh") / "slice.parquet"
    tx.write_parquet(path)
    return path


def test_load_never_reads_the_scenario(sliced: Path) -> None:
    assert "TX_FRAUD_SCENARIO" not in fdh.load(sliced).columns


def test_terminal_labels_count_only_once_known(sliced: Path) -> None:
    tx = fdh.load(sliced).filter(pl.col("TX_DATETIME") >= datetime(2018, 6, 1))
    frame = fdh.features(tx)
    # recount by brute force for a few transactions at terminals with frauds
    frauds = tx.filter(pl.col("TX_FRAUD") == 1)
    probe = frame.filter(pl.col("TERMINAL_ID").is_in(frauds["TERMINAL_ID"].implode()) &
                         (pl.col("TX_DATETIME") >= datetime(2018, 7, 20))).head(25)
    assert probe.height > 0
    for r in probe.iter_rows(named=True):
        t, term = r["TX_DATETIME"], r["TERMINAL_ID"]
        hi, lo = t - timedelta(days=7), t - timedelta(days=14)  # labels of [t-14d, t-7d] are known at t
        known = tx.filter((pl.col("TERMINAL_ID") == term) & pl.col("TX_DATETIME").is_between(lo, hi))
        assert r["term_7d_known"] == known.height
        assert r["term_7d_risk"] == pytest.approx(known["TX_FRAUD"].mean() if known.height else 0.0)


def test_streak_age_and_card_max_by_brute_force(sliced: Path) -> None:
    """The terminal's fraud streak (its latest known labels all fraud) and its age, and the amount
    against the card's prior 120-day maximum, recomputed from the raw rows with labels known at t."""
    tx = fdh.load(sliced).filter(pl.col("TX_DATETIME") >= datetime(2018, 4, 1))
    frame = fdh.features(tx)
    streaks = frame.filter(pl.col("term_streak_age") >= 0)
    assert streaks.height > 0 and frame.filter(pl.col("term_streak_age") < 0).height > 0
    for r in [*streaks.head(10).iter_rows(named=True), *frame.tail(10).iter_rows(named=True)]:
        t, term = r["TX_DATETIME"], r["TERMINAL_ID"]
        known = tx.filter((pl.col("TERMINAL_ID") == term) & (pl.col("TX_DATETIME") <= t - timedelta(days=7))
                          & (pl.col("TX_DATETIME") > t - timedelta(days=67)))  # labels known at t (60-day memory)
        fraud_t = known.filter(pl.col("TX_FRAUD") == 1)["TX_DATETIME"].max()
        genuine_t = known.filter(pl.col("TX_FRAUD") == 0)["TX_DATETIME"].max()
        streak = fraud_t is not None and genuine_t is not None and fraud_t > genuine_t
        if streak:
            age = (t - (genuine_t + timedelta(days=7))).total_seconds() / 86_400
            assert r["term_streak_age"] == pytest.approx(age, abs=1e-6)
            assert r["term_streak_left"] == pytest.approx(21 - age, abs=1e-6)
        elif genuine_t is not None:
            assert r["term_streak_age"] == -1.0
        card = tx.filter((pl.col("CUSTOMER_ID") == r["CUSTOMER_ID"]) & (pl.col("TX_DATETIME") < t)
                         & (pl.col("TX_DATETIME") >= t - timedelta(days=120)))
        want = r["amount"] / card["TX_AMOUNT"].max() if card.height else 1.0
        assert r["amount_to_card_max_120d"] == pytest.approx(want, rel=1e-9)


def test_ch3_end_to_end_on_a_slice(sliced: Path) -> None:
    report = evaluate("handbook-ch3", sliced)
    (fold,) = report["folds"]
    assert fold["train_start"] == "2018-07-25" and fold["test_start"] == "2018-08-08"
    assert fold["test_frauds"] > 0
    for model in ("gbm", "scorecard", "mlp", "profile", "ensemble"):
        m = report["mean"][model]
        assert set(m) == {"auc_roc", "ap", "cp100"}
        assert 0.0 <= m["cp100"] <= 1.0
    assert report["mean"]["ensemble"]["auc_roc"] > 0.7
    assert report["published"]["XGBoost"]["ap"] == 0.639


def test_cli_prints_json_and_refuses_bad_input(sliced: Path) -> None:
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # two commands: `evaluate` stays a subcommand
    runner = CliRunner()
    res = runner.invoke(app, ["evaluate", "--dataset", "fdh", "--protocol", "handbook-ch3", "--data", str(sliced),
                              "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert len(report["folds"]) == 1 and "ensemble" in report["mean"]
    bad = runner.invoke(app, ["evaluate", "--protocol", "chapter-9", "--data", str(sliced)])
    assert bad.exit_code == 2 and "unknown protocol" in bad.output
    missing = runner.invoke(app, ["evaluate", "--data", "/nonexistent.parquet"])
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_terminal_fraud_labels_and_card_genuine_labels_by_brute_force(sliced: Path) -> None:
    """What the terminal's known frauds look like (cards, mean, max, and the "plain" ones: ≤ 220, ≤ 2×
    the card's 120-day mean and no > 3× spike of the card in the 14 days up to the label, all as
    known when the label arrives) and the card's known genuine labels, recomputed from the raw rows."""
    tx = fdh.load(sliced).filter(pl.col("TX_DATETIME") >= datetime(2018, 4, 1))
    frame = fdh.features(tx)
    col = pl.col

    def card_before(card: int, at: datetime, days: int) -> pl.DataFrame:  # the card's payments in [at − days, at)
        return tx.filter((col("CUSTOMER_ID") == card) & (col("TX_DATETIME") < at)
                         & (col("TX_DATETIME") >= at - timedelta(days=days)))

    def spike(p: dict) -> bool:  # card_spike's filter, read at the payment (itself excluded)
        h = card_before(p["CUSTOMER_ID"], p["TX_DATETIME"], 120)
        return h.height > 2 and p["TX_AMOUNT"] * h.height > 3 * h["TX_AMOUNT"].sum()

    def plain(lab: dict) -> bool:  # read at the label event, 7 days after the fraud
        at = lab["TX_DATETIME"] + timedelta(days=7)
        h = card_before(lab["CUSTOMER_ID"], at, 120)
        return (lab["TX_AMOUNT"] <= 220 and lab["TX_AMOUNT"] * h.height <= 2 * h["TX_AMOUNT"].sum()
                and not any(spike(p) for p in card_before(lab["CUSTOMER_ID"], at, 14).iter_rows(named=True)))

    probe = frame.filter((col("term_fraud_cards_30d") > 0) & (col("TX_DATETIME") >= datetime(2018, 7, 1))).head(12)
    assert probe.height > 0
    seen_plain = seen_not_plain = False
    for r in probe.iter_rows(named=True):
        t = r["TX_DATETIME"]
        for w in (14, 30):  # the labels of transactions in [t − 7 − w, t − 7) days arrived in [t − w, t)
            fr = tx.filter((col("TERMINAL_ID") == r["TERMINAL_ID"]) & (col("TX_FRAUD") == 1)
                           & (col("TX_DATETIME") < t - timedelta(days=7))
                           & (col("TX_DATETIME") >= t - timedelta(days=7 + w)))
            assert r[f"term_fraud_cards_{w}d"] == fr["CUSTOMER_ID"].n_unique()
            assert r[f"term_fraud_mean_{w}d"] == pytest.approx(fr["TX_AMOUNT"].mean() if fr.height else -1.0)
            assert r[f"term_fraud_max_{w}d"] == pytest.approx(fr["TX_AMOUNT"].max() if fr.height else -1.0)
            flags = [plain(lab) for lab in fr.iter_rows(named=True)]
            seen_plain |= any(flags)
            seen_not_plain |= not all(flags)
            assert r[f"term_plain_{w}d"] == sum(flags)
        gen = tx.filter((col("CUSTOMER_ID") == r["CUSTOMER_ID"]) & (col("TX_FRAUD") == 0)
                        & (col("TX_DATETIME") < t - timedelta(days=7))
                        & (col("TX_DATETIME") >= t - timedelta(days=127)))
        assert r["card_gen_120d"] == gen.height
        want = r["amount"] / gen["TX_AMOUNT"].max() if gen.height else -1.0
        assert r["amount_to_card_gen_max"] == pytest.approx(want)
    assert seen_plain and seen_not_plain  # the probe exercises the filter both ways
