"""Drift (models/drift.py, ``qalqan drift``): PSI against a hand computation, a shifted population
flagged and a stable one not, and the command end to end on a small simulated stream with a
bundle, including a stream whose recent amounts were inflated."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from qalqan.cli import app
from qalqan.config import from_env
from qalqan.models import bundle
from qalqan.models.drift import DriftError, band, counts, drift, edges, psi
from qalqan.models.train import train
from qalqan.sim import simulate

runner = CliRunner()


def test_psi_equals_a_hand_computation() -> None:
    train_x = np.arange(1, 11, dtype=float)  # 1..10: the (lower) median 5 is the one cut with 2 bins
    recent = np.array([1, 2, 8, 9, 10, 10], dtype=float)
    r = psi(train_x, recent, bins=2)
    assert r["edges"] == [5.0]
    # counts: training [5, 5], recent [2, 4]; smoothed shares (c + 0.5) / (n + 0.5 * 2)
    e = [5.5 / 11, 5.5 / 11]
    a = [2.5 / 7, 4.5 / 7]
    want = (a[0] - e[0]) * math.log(a[0] / e[0]) + (a[1] - e[1]) * math.log(a[1] / e[1])
    assert r["psi"] == pytest.approx(want, abs=1e-6)
    assert r["psi"] == pytest.approx(0.08397, abs=1e-5)
    assert r["band"] == "stable"


def test_empty_bins_are_smoothed_and_missing_values_get_a_bin() -> None:
    train_x = np.array([1.0, 2.0, 3.0, 4.0, np.nan, np.nan])
    recent = np.array([np.nan] * 3 + [100.0])
    r = psi(train_x, recent, bins=2)
    assert r["edges"] == [2.0] and r["missing_bin"]
    # training [2, 2, missing 2] of 6; recent [0, 1, missing 3] of 4; 3 bins, +0.5 each
    e = [2.5 / 7.5, 2.5 / 7.5, 2.5 / 7.5]
    a = [0.5 / 5.5, 1.5 / 5.5, 3.5 / 5.5]
    want = sum((x - y) * math.log(x / y) for x, y in zip(a, e))
    assert math.isfinite(r["psi"]) and r["psi"] == pytest.approx(want, abs=1e-6)
    assert r["missing"] == {"train": pytest.approx(2 / 6), "recent": pytest.approx(3 / 4)}


def test_bins_are_fixed_by_training_quantiles_ties_dropped() -> None:
    flags = np.array([0.0] * 80 + [1.0] * 20)
    assert edges(flags, 10).tolist() == [0.0, 1.0]  # a yes/no input gets few bins, not ten
    binned, missing = counts(np.array([0.0, 0.5, 1.0, 2.0, np.nan]), np.array([0.0, 1.0]))
    assert binned.tolist() == [1, 2, 1] and missing == 1  # x == edge falls in the lower bin
    assert edges(np.linspace(0, 1, 1001), 4).tolist() == pytest.approx([0.25, 0.5, 0.75])


def test_a_shifted_population_is_flagged_and_a_stable_one_is_not() -> None:
    rng = np.random.default_rng(3)
    base = rng.normal(0, 1, 20_000)
    assert psi(base, rng.normal(0, 1, 5_000))["band"] == "stable"
    assert psi(base, rng.normal(0.45, 1, 5_000))["band"] == "moderate"
    shifted = psi(base, rng.normal(1.0, 1, 5_000))
    assert shifted["band"] == "shift" and shifted["psi"] > 0.25
    assert [band(0.09), band(0.1), band(0.2499), band(0.25)] == ["stable", "moderate", "moderate", "shift"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A 300 × 20 stream, a bundle trained on it (promoted) and a copy whose payments from day 14
    on are 20 times larger."""
    root = tmp_path_factory.mktemp("drift")
    stream = root / "events.jsonl"
    simulate(300, 20, 5, stream)
    home = root / "home"
    settings = from_env(db_url=f"sqlite:///{home / 'q.db'}", home=home)
    path = train(stream, settings, name="gbm", label_delay="0d", rounds=40)
    bundle.promote(home, path.name)
    inflated = root / "inflated.jsonl"
    with stream.open() as src, inflated.open("w") as dst:
        for line in src:
            e = json.loads(line)
            if e["type"] in ("payment", "transfer") and e["ts"] >= "2026-02-16":
                e["amount"] = round(e["amount"] * 20, 2)
            dst.write(json.dumps(e) + "\n")
    return {"stream": stream, "inflated": inflated, "home": home, "settings": settings, "bundle": path.name}


WINDOWS = ["--train-from", "2026-02-02", "--train-to", "2026-02-15", "--recent-from", "2026-02-16",
           "--recent-to", "2026-02-21"]


def run_cli(served: dict[str, Any], monkeypatch: pytest.MonkeyPatch, stream: Path, plot: Path,
            *extra: str) -> Any:
    monkeypatch.setenv("QALQAN_HOME", str(served["home"]))
    return runner.invoke(app, ["drift", "--stream", str(stream), "--plot", str(plot), *WINDOWS, *extra])


def test_cli_end_to_end(served: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    res = run_cli(served, monkeypatch, served["stream"], tmp_path / "d.html", "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    manifest = json.loads((served["home"] / "models" / served["bundle"] / "manifest.json").read_text())
    assert report["model"] == served["bundle"]
    assert sorted(f["name"] for f in report["features"]) == sorted(manifest["features"])
    assert report["score"]["name"] == "score" and math.isfinite(report["score"]["psi"])
    assert report["train"]["from"] == "2026-02-02T00:00:00Z" and report["train"]["to"] == "2026-02-15T23:59:59Z"
    assert report["train"]["rows"] > 1000 and report["recent"]["rows"] > 300
    html = (tmp_path / "d.html").read_text()
    assert html.count("<svg") == 2 and 'data-series="' in html
    assert all(f["name"] in html for f in report["features"])
    table = run_cli(served, monkeypatch, served["stream"], tmp_path / "t.html")
    assert table.exit_code == 0 and "PSI" in table.stdout and "score" in table.stdout


def test_inflated_amounts_are_flagged(served: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                      tmp_path: Path) -> None:
    plain = json.loads(run_cli(served, monkeypatch, served["stream"], tmp_path / "a.html", "--json").stdout)
    hot = json.loads(run_cli(served, monkeypatch, served["inflated"], tmp_path / "b.html", "--json").stdout)
    p = {f["name"]: f for f in plain["features"]}
    h = {f["name"]: f for f in hot["features"]}
    for n in ("cust_out_24h_sum", "cust_out_24h_max", "card_24h_sum"):  # the recent amounts are 20× larger
        assert p[n]["band"] == "stable" and h[n]["band"] == "shift", (n, p[n]["psi"], h[n]["psi"])
    for n in ("cust_out_24h_count", "card_24h_count"):  # counts did not move
        assert h[n]["psi"] == p[n]["psi"] and h[n]["band"] == "stable"
    assert hot["summary"]["shift"] > plain["summary"]["shift"]


def test_bad_input_names_the_option(served: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                    tmp_path: Path) -> None:
    res = run_cli(served, monkeypatch, served["stream"], tmp_path / "x.html", "--no-model")
    assert res.exit_code == 0, res.output  # explicit windows: inputs only
    monkeypatch.setenv("QALQAN_HOME", str(served["home"]))
    res = runner.invoke(app, ["drift", "--stream", str(served["stream"]), "--no-model", "--plot",
                              str(tmp_path / "y.html")])
    assert res.exit_code == 2 and "--train-from" in res.output
    res = runner.invoke(app, ["drift", "--stream", str(served["stream"]), "--recent-from", "2027-01-01",
                              "--recent-to", "2027-01-02", "--plot", str(tmp_path / "z.html")])
    assert res.exit_code == 2 and "--recent-from" in res.output
    with pytest.raises(DriftError, match="--train-to"):
        drift(served["stream"], served["settings"], train_to="yesterday")
