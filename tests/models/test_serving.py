"""The live model end to end: simulate a labelled stream, ``qalqan train`` its first 14 days (what
was known then) into a bundle, promote it, and let an ``Engine`` decide the whole stream with it.

Proves: decisions record the bundle as ``versions["model"]``; the score ``decide`` computes equals
the offline batch prediction on the offline builder's rows (parity, 1e-9); the scores rank fraud
above legit on the **later, held-out** days (forward in time, never on the training rows); a
tampered or mismatched bundle is refused; no bundle means ``NoModel``.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qalqan.config import Settings, from_env
from qalqan.engine import Engine
from qalqan.events import EventError
from qalqan.features import definitions
from qalqan.features.offline import build, views_from_jsonl
from qalqan.models import NoModel, bundle
from qalqan.models.bundle import BundleError
from qalqan.models.live import LiveModel
from qalqan.models.registry import load_bundle, load_live_model
from qalqan.models.train import matrix, model_inputs, parse_delay, train
from qalqan.sim import simulate

from .forward import AUC_FLOOR, LABEL_DELAY, cut_at, held_out_auc, known_at


def settings_at(home: Path) -> Settings:
    return from_env(db_url=f"sqlite:///{home / 'qalqan.db'}", home=home)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One stream; one bundle (promoted) trained on its first days as known at the cut; one engine
    run over the whole stream with raw scores kept."""
    root = tmp_path_factory.mktemp("serving")
    stream = root / "events.jsonl"
    simulate(300, 20, 11, stream)
    settings = settings_at(root / "home")
    cut = cut_at()
    path = train(known_at(stream, cut, root / "known.jsonl"), settings, name="gbm", label_delay=LABEL_DELAY,
                 rounds=100)
    bundle.promote(settings.home, path.name)
    engine = Engine(settings)
    model = engine.model
    assert isinstance(model, LiveModel)
    raw: list[float] = []
    score_one = model.score_one

    def keeping(v: Any) -> Any:
        out = score_one(v)
        raw.append(out[0])
        return out

    model.score_one = keeping  # type: ignore[method-assign]
    decisions: dict[str, Any] = {}
    scores: dict[str, float] = {}
    with stream.open("rb") as f:
        for line in f:
            try:
                o = engine.decide(line)
            except EventError:
                continue
            if o.decision is not None and not o.duplicate:
                decisions[o.event_id] = o.decision
                scores[o.event_id] = raw[-1]
    engine.commit()
    labels = {}
    for line in stream.read_text().splitlines():
        e = json.loads(line)
        if e["type"] == "label":
            labels[e["target_event_id"]] = e["label"]
    return {"stream": stream, "settings": settings, "bundle": path, "decisions": decisions, "scores": scores,
            "labels": labels, "model": model, "cut": cut}


def test_decisions_record_the_bundle_and_score(served: dict[str, Any]) -> None:
    name = served["bundle"].name
    ds = list(served["decisions"].values())
    assert ds and all(d.versions["model"] == name for d in ds)
    assert sum(d.score > 0.01 for d in ds) > 10
    flagged = [d for d in ds if d.score >= 0.8]
    assert flagged, "some movement should reach the review threshold"
    for d in flagged:  # the model's reasons, and its score's reason
        assert any(r.code == "model.score" for r in d.reasons)
        assert any(r.source == "model" and r.code != "model.score" and (r.weight or 0) > 0 for r in d.reasons)


def test_online_score_equals_offline_batch_prediction(served: dict[str, Any]) -> None:
    settings: Settings = served["settings"]
    fs = definitions.load()
    frame = build(views_from_jsonl(served["stream"], settings.key, settings.fx), fs)
    model: LiveModel = served["model"]
    assert list(model.inputs) == model_inputs(fs)
    batch = model.score_many(matrix(frame, list(model.inputs)))
    online = np.array([served["scores"][e] for e in frame["event_id"].to_list()])
    assert len(online) == len(served["scores"])
    np.testing.assert_allclose(online, batch, rtol=0, atol=1e-9)
    recorded = np.array([served["decisions"][e].score for e in frame["event_id"].to_list()])
    np.testing.assert_allclose(recorded, np.round(batch, 6), rtol=0, atol=1e-12)


def test_scores_rank_fraud_above_legit_on_the_later_held_out_days(served: dict[str, Any]) -> None:
    """Forward in time: the bundle saw nothing after the cut (its window ends before it); the AUC is
    taken on the movements after the cut only, against labels the model never read."""
    m = json.loads((served["bundle"] / "manifest.json").read_text())
    assert datetime.fromisoformat(m["window"]["stream_end"].replace("Z", "+00:00")) <= served["cut"]
    auc, rows, frauds = held_out_auc(served["stream"], served["scores"], served["cut"])
    assert rows > 2000 and frauds >= 20, (rows, frauds)
    assert auc > AUC_FLOOR, f"held-out AUC {auc:.3f} (the training days alone are no evidence)"


def test_manifest(served: dict[str, Any]) -> None:
    m = json.loads((served["bundle"] / "manifest.json").read_text())
    assert m["features_version"] == definitions.load().version
    assert m["features"] == model_inputs(definitions.load())
    assert {"from", "to", "label_rule"} <= set(m["window"])
    assert m["rows"]["train"] > 0 and m["rows"]["fraud"] > 0
    assert set(m["files"]) == {"model.txt"} and "lightgbm" in m["libraries"]
    assert 0.5 < m["metrics"]["auc_roc"] <= 1 and 0 < m["metrics"]["ap"] <= 1
    # decision-dependent outputs are left out: a training stream has no decisions
    assert "atm_refused_24h_count" not in m["features"] and "since_od1765_sign" not in m["features"]


def test_reasons_are_path_contributions_that_add_up_to_the_log_odds(served: dict[str, Any]) -> None:
    """The precomputed per-leaf attributions (Saabas) sum, with the bias, to the booster's raw
    score of every row; the fast leaf-index path and ``Booster.predict(pred_leaf=True)`` agree; and
    the top reason is an input TreeSHAP also credits."""
    settings: Settings = served["settings"]
    model: LiveModel = served["model"]
    frame = build(views_from_jsonl(served["stream"], settings.key, settings.fx), definitions.load())
    X = matrix(frame, list(model.inputs))
    rows = X[np.argsort(-model.score_many(X))[:200]]  # the riskiest rows: those that get reasons
    raw = model.booster.predict(rows, raw_score=True)
    slow = LiveModel(model.version, model.booster, list(model.inputs))
    slow._fast_leaf = None  # the fallback path
    for x, want in zip(rows, raw):
        values = x.tolist()
        c = model.contributions(values)
        assert model.bias + c.sum() == pytest.approx(want, abs=1e-9)
        np.testing.assert_allclose(slow.contributions(values), c, rtol=0, atol=1e-12)
    split = model.booster.feature_importance("split")
    assert model.features == {n for n, c in zip(model.inputs, split) if c > 0}  # what the engine computes eagerly
    top = model.reasons(rows[0].tolist())
    assert top and all(r.source == "model" and (r.weight or 0) > 0 for r in top)
    assert top[0].code in {r.code for r in model.shap_reasons(rows[0].tolist())}


def _copy(src: Path, home: Path) -> Path:
    dst = bundle.models_dir(home) / src.name
    dst.mkdir(parents=True)
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_tampered_model_file_is_refused(served: dict[str, Any], tmp_path: Path) -> None:
    settings = settings_at(tmp_path / "h")
    dst = _copy(served["bundle"], settings.home)
    text = (dst / "model.txt").read_text()
    (dst / "model.txt").write_text(text.replace("learning_rate: 0.05", "learning_rate: 0.5", 1) + "\n")
    with pytest.raises(BundleError, match="SHA-256"):
        bundle.promote(settings.home, dst.name)
    (bundle.models_dir(settings.home) / "LIVE").write_text(dst.name)  # registered by hand: still refused
    with pytest.raises(BundleError, match="tampered"):
        Engine(settings)


def test_tampered_manifest_is_refused(served: dict[str, Any], tmp_path: Path) -> None:
    settings = settings_at(tmp_path / "h")
    dst = _copy(served["bundle"], settings.home)
    m = json.loads((dst / "manifest.json").read_text())
    m["metrics"]["auc_roc"] = 0.999
    (dst / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="hash"):
        load_bundle(settings, dst.name)


def test_other_feature_definitions_are_refused(served: dict[str, Any], tmp_path: Path) -> None:
    settings = settings_at(tmp_path / "h")
    dst = _copy(served["bundle"], settings.home)
    with pytest.raises(BundleError, match="retrain"):
        load_bundle(settings, dst.name, features_version="000000000000")
    bundle.promote(settings.home, dst.name)
    assert load_live_model(settings).version == dst.name


def test_no_bundle_is_no_model(tmp_path: Path) -> None:
    settings = settings_at(tmp_path / "h")
    assert isinstance(load_live_model(settings), NoModel)
    with pytest.raises(BundleError, match="no model bundle"):
        bundle.promote(settings.home, "gbm-000000000000")
    assert bundle.listing(settings.home) == []


def test_bad_name_and_delay() -> None:
    with pytest.raises(BundleError):
        bundle.check_name("../x")
    assert parse_delay("7d") == 7 * 86_400 * 1_000_000 and parse_delay("0") == 0


def test_cli_train_list_promote(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from qalqan.cli import app

    runner = CliRunner()
    stream = tmp_path / "s.jsonl"
    simulate(150, 10, 3, stream)
    assert "no model bundles" in runner.invoke(app, ["models", "list"]).output
    r = runner.invoke(app, ["train", "--stream", str(tmp_path / "nope.jsonl")])
    assert r.exit_code == 2
    r = runner.invoke(app, ["train", "--stream", str(stream), "--label-delay", "0", "--rounds", "20", "--name", "t"])
    assert r.exit_code == 0, r.output
    [row] = json.loads(runner.invoke(app, ["models", "list", "--json"]).output)
    assert row["name"].startswith("t-") and not row["live"]
    assert runner.invoke(app, ["models", "promote", row["name"]]).exit_code == 0
    assert json.loads(runner.invoke(app, ["models", "list", "--json"]).output)[0]["live"]
    assert runner.invoke(app, ["models", "promote", "t-000000000000"]).exit_code == 2
