"""The whole ensemble end to end: simulate a labelled stream, train every member and the stacker
on its first 14 days (what was known then) into one bundle, promote it, and let an ``Engine``
decide the whole stream with it.

Proves: decisions record the bundle; the score ``decide`` computes equals the batch score of the
offline builder's rows (parity, 1e-9), member by member too; the scores rank fraud above legit on
the later, held-out days; the bundle's frozen members give the
fitted models' numbers; reasons name the member that pushed most and its own reasons (the
scorecard's: points per attribute); a changed file, or a pickle inside an ``.npy``, is refused and
never run; the CLI trains, lists, prints the card and promotes.
"""

from __future__ import annotations

import io
import json
import pathlib
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
from qalqan.models import bundle
from qalqan.models.base import ModelError
from qalqan.models.bundle import BundleError
from qalqan.models.ensemble import Ensemble
from qalqan.models.frozen import FrozenMLP, FrozenScorecard, Stacker
from qalqan.models.gbm import GradientBoosting
from qalqan.models.live_ensemble import LiveEnsemble, bundle_files, load_ensemble
from qalqan.models.mlp import MLP
from qalqan.models.profile import HabitProfile
from qalqan.models.registry import load_bundle, load_live_model
from qalqan.models.scorecard import Scorecard
from qalqan.models.train import TrainError, matrix, model_inputs, parse_models, train
from qalqan.sim import simulate

from .forward import AUC_FLOOR, LABEL_DELAY, cut_at, held_out_auc, known_at

ALL = "gbm,scorecard,mlp,profile,ensemble"


def settings_at(home: Path) -> Settings:
    return from_env(db_url=f"sqlite:///{home / 'qalqan.db'}", home=home)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("ensemble")
    stream = root / "events.jsonl"
    simulate(300, 20, 11, stream)
    settings = settings_at(root / "home")
    steps: list[tuple[int, int, str]] = []
    cut = cut_at()
    path = train(known_at(stream, cut, root / "known.jsonl"), settings, name="ens", label_delay=LABEL_DELAY,
                 rounds=100, models=ALL, progress=lambda d, t, s: steps.append((d, t, s)))
    bundle.promote(settings.home, path.name)
    engine = Engine(settings)
    model = engine.model
    assert isinstance(model, LiveEnsemble)
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
    model.score_one = score_one  # type: ignore[method-assign]
    labels = {}
    for line in stream.read_text().splitlines():
        e = json.loads(line)
        if e["type"] == "label":
            labels[e["target_event_id"]] = e["label"]
    frame = build(views_from_jsonl(stream, settings.key, settings.fx), definitions.load())
    return {"stream": stream, "settings": settings, "bundle": path, "decisions": decisions, "scores": scores,
            "labels": labels, "model": model, "frame": frame, "steps": steps, "cut": cut}


def test_bundle_holds_every_member_without_pickles(served: dict[str, Any]) -> None:
    path: Path = served["bundle"]
    m = json.loads((path / "manifest.json").read_text())
    assert m["kind"] == "ensemble" and m["members"] == ["gbm", "scorecard", "mlp", "profile"]
    assert {"model.txt", "scorecard.json", "mlp.json", "mlp.w0.npy", "mlp.mu.npy", "profile.json",
            "ensemble.json"} <= set(m["files"])
    for f, digest in m["files"].items():  # every file hashed, nothing else in the folder
        assert bundle.sha256((path / f).read_bytes()) == digest
    assert {p.name for p in path.iterdir()} == {*m["files"], "manifest.json"}
    for f in m["files"]:
        if f.endswith(".npy"):
            assert np.load(path / f, allow_pickle=False).dtype == np.float64
    assert m["features"] == model_inputs(definitions.load()) and m["features_version"] == definitions.load().version
    assert {"from", "to", "label_rule"} <= set(m["window"])
    assert set(m["metrics"]["members"]) == {"gbm", "scorecard", "mlp", "profile", "ensemble"}
    assert all(0 < v["auc_roc"] <= 1 and 0 < v["ap"] <= 1 for v in m["metrics"]["members"].values())
    assert {"lightgbm", "scikit-learn", "numpy", "python"} <= set(m["libraries"])
    assert set(m["weights"]) == {"gbm", "scorecard", "mlp", "profile"}
    stacker = json.loads((path / "ensemble.json").read_text())
    assert stacker["members"] == m["members"] and len(stacker["coef"]) == 4
    steps = served["steps"]
    assert steps[-1][0] == steps[-1][1] and [d for d, _, _ in steps] == list(range(1, len(steps) + 1))


def test_decisions_record_the_bundle_and_the_member_that_pushed(served: dict[str, Any]) -> None:
    name = served["bundle"].name
    ds = list(served["decisions"].values())
    assert ds and all(d.versions["model"] == name for d in ds)
    flagged = [d for d in ds if d.score >= 0.8]
    assert flagged, "some movement should reach the review threshold"
    members = {"gbm", "scorecard", "mlp", "profile"}
    for d in flagged:
        codes = [r.code for r in d.reasons if r.source == "model"]
        assert "model.score" in codes
        heads = [c for c in codes if c.startswith("model.member.")]
        assert len(heads) == 1 and heads[0].removeprefix("model.member.") in members
        member = heads[0].removeprefix("model.member.")
        assert any(c.startswith(member + ".") for c in codes), codes  # that member's own reasons follow


def test_online_score_equals_batch_score(served: dict[str, Any]) -> None:
    model: LiveEnsemble = served["model"]
    frame = served["frame"]
    X = matrix(frame, list(model.inputs))
    batch = model.score_many(X)
    ids = frame["event_id"].to_list()
    online = np.array([served["scores"][e] for e in ids])
    assert len(online) == len(served["scores"])
    np.testing.assert_allclose(online, batch, rtol=0, atol=1e-9)
    recorded = np.array([served["decisions"][e].score for e in ids])
    np.testing.assert_allclose(recorded, np.round(batch, 6), rtol=0, atol=1e-12)
    # member by member, on the rows the engine sees (inputs no member reads left NaN)
    used = sorted({i for m in model.members for i in m.used})
    Xo = np.full_like(X, np.nan)
    Xo[:, used] = X[:, used]
    S = model.member_scores_many(X)
    rows = np.linspace(0, len(X) - 1, 300).astype(int)
    online_members = np.array([model.member_scores(Xo[i]) for i in rows])
    np.testing.assert_allclose(online_members, S[rows], rtol=0, atol=1e-9)


def test_scores_rank_fraud_above_legit_on_the_later_held_out_days(served: dict[str, Any]) -> None:
    """Forward in time: no member nor the stacker saw anything after the cut; the AUC is taken on
    the movements after it only."""
    m = json.loads((served["bundle"] / "manifest.json").read_text())
    assert datetime.fromisoformat(m["window"]["stream_end"].replace("Z", "+00:00")) <= served["cut"]
    auc, rows, frauds = held_out_auc(served["stream"], served["scores"], served["cut"])
    assert rows > 2000 and frauds >= 20, (rows, frauds)
    assert auc > AUC_FLOOR, f"held-out AUC {auc:.3f} (the training days alone are no evidence)"


def test_scorecard_reasons_are_its_points(served: dict[str, Any]) -> None:
    model: LiveEnsemble = served["model"]
    sc = model.scorecard
    assert sc is not None
    X = matrix(served["frame"], list(model.inputs))
    x = X[int(np.argmax(sc.score_many(X)))]
    pts = sc.row_points(x)
    assert sc.score_row(x) == pytest.approx(1 / (1 + np.exp(-(sc.base + pts.sum()) / 28.8539)), abs=1e-4)
    reasons = sc.reasons(x)
    assert reasons and [r.weight for r in reasons] == sorted(pts[pts > 0], reverse=True)[:len(reasons)]
    for r in reasons:
        attr = r.code.removeprefix("scorecard.")
        assert r.weight == pts[list(sc.inputs).index(attr)] and "points" in (r.text or "")
    card = sc.table()
    assert len(card) == sum(len(p) for p in sc.points) and {a for a, _, _ in card} == set(sc.inputs)


def _synthetic(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    r = np.random.default_rng(seed)
    X = r.gamma(2.0, 1.0, size=(n, k))
    y = (r.random(n) < 0.1 + 0.3 * (X[:, 0] > 4)).astype(int)
    X[r.random((n, k)) < 0.05] = np.nan  # missing values, as the engine's outputs have
    return X, y


def test_frozen_members_give_the_fitted_models_numbers() -> None:
    inputs = [f"x{i}" for i in range(6)]
    X, y = _synthetic(3000, 6, 3)
    signs = (("x0", 1), ("x1", -1), ("x2", 1))
    members = [GradientBoosting(inputs, rounds=40), Scorecard(inputs), MLP(inputs), HabitProfile(signs)]
    ens = Ensemble(inputs, members).fit(X, y)
    sc = FrozenScorecard.from_model(members[1])
    np.testing.assert_allclose(sc.score_many(X), members[1].score_many(X), rtol=0, atol=1e-12)
    mlp = FrozenMLP.from_files(FrozenMLP.from_model(members[2]).files())
    np.testing.assert_allclose(mlp.score_many(X), members[2].score_many(X), rtol=0, atol=1e-9)  # sklearn's
    profile = HabitProfile.from_json(json.loads(json.dumps(members[3].to_json())))
    np.testing.assert_array_equal(profile.score_many(X[:, :3]), members[3].score_many(X[:, :3]))
    for x in X[:50]:
        assert sc.score_row(x) == pytest.approx(sc.score_many(x[None])[0], abs=1e-12)
        assert mlp.score_row(x) == pytest.approx(mlp.score_many(x[None])[0], abs=1e-12)
        assert profile.score_row(x[:3]) == profile.score_many(x[None, :3])[0]
    fitted = {"gbm": members[0].booster, "scorecard": members[1], "mlp": members[2], "profile": members[3]}
    files = bundle_files(inputs, fitted, ens)
    live = load_ensemble(bundle.Bundle("t-0", Path("."), {"features": inputs, "members": list(fitted)}, files))
    np.testing.assert_allclose(live.score_many(X), ens.score_many(X), rtol=0, atol=1e-9)
    stacker = Stacker.from_model(ens)
    S = ens.member_scores(X[:20])
    for s, want in zip(S, ens.score_many(X[:20])):
        assert stacker.combine_row(s.tolist()) == pytest.approx(want, abs=1e-12)
    # An input far outside training (an amount of 10^300) drives the MLP's logit past what
    # math.exp can take: the decision path must still get a probability, the same as the batch's.
    extreme = np.full(6, 1e300)
    for x in (extreme, -extreme):
        one, many = mlp.score_row(x), mlp.score_many(x[None])[0]
        assert 0.0 <= one <= 1.0 and one == pytest.approx(many, abs=1e-12)


def test_habit_profile_is_unsupervised_and_flags_the_unusual() -> None:
    r = np.random.default_rng(5)
    X = np.column_stack([r.poisson(2, 5000).astype(float), r.gamma(5, 100, 5000)])  # count, device age
    p = HabitProfile((("count", 1), ("age", -1))).fit(X, None)
    usual, burst, new_device, missing = p.score_many(np.array([[2, 500], [30, 500], [2, 1], [np.nan, np.nan]]))
    assert burst > 0.95 and new_device > 0.95 and usual < 0.8 and missing <= usual
    assert [r.code for r in p.reasons(p.parts(np.array([30.0, 500.0])))] == ["profile.count"]
    with pytest.raises(ModelError, match="not fitted"):
        HabitProfile((("a", 1),)).score_many(X[:, :1])


def _copy(src: Path, home: Path) -> Path:
    dst = bundle.models_dir(home) / src.name
    dst.mkdir(parents=True)
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_changed_weights_are_refused(served: dict[str, Any], tmp_path: Path) -> None:
    settings = settings_at(tmp_path / "h")
    dst = _copy(served["bundle"], settings.home)
    w = np.load(dst / "mlp.w0.npy", allow_pickle=False)
    np.save(dst / "mlp.w0.npy", w * 1.01, allow_pickle=False)
    with pytest.raises(BundleError, match=r"mlp\.w0\.npy does not match its SHA-256"):
        load_bundle(settings, dst.name)
    with pytest.raises(BundleError, match="SHA-256"):
        bundle.promote(settings.home, dst.name)
    (bundle.models_dir(settings.home) / "LIVE").write_text(dst.name)  # registered by hand: still refused
    with pytest.raises(BundleError, match="tampered"):
        Engine(settings)


class _Payload:
    """Unpickling this would create ``marker``: the proof that a bundle's arrays are never unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (pathlib.Path.touch, (self.marker,))


def test_a_pickle_in_a_bundle_is_refused_not_run(served: dict[str, Any], tmp_path: Path) -> None:
    """Even with valid hashes (a bundle written by someone else), an object array is not loaded."""
    settings = settings_at(tmp_path / "h")
    src: Path = served["bundle"]
    manifest = json.loads((src / "manifest.json").read_text())
    files = {f: (src / f).read_bytes() for f in manifest.pop("files")}
    marker = tmp_path / "ran"
    buf = io.BytesIO()
    np.save(buf, np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    files["mlp.w0.npy"] = buf.getvalue()
    manifest.pop("format")
    evil = bundle.write(settings.home, "evil", files, manifest)
    with pytest.raises(BundleError, match="refused"):
        load_bundle(settings, evil.name)
    assert not marker.exists()


def test_parse_models() -> None:
    assert parse_models(ALL) == ("gbm", "scorecard", "mlp", "profile", "ensemble")
    assert parse_models("ensemble, mlp ,gbm") == ("gbm", "mlp", "ensemble")
    assert parse_models("scorecard") == ("scorecard",)
    with pytest.raises(TrainError, match="unknown"):
        parse_models("gbm,forest")
    with pytest.raises(TrainError, match="need 'ensemble'"):
        parse_models("gbm,mlp")
    with pytest.raises(TrainError, match="at least two"):
        parse_models("gbm,ensemble")


def test_cli_train_list_card_promote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from qalqan.cli import app

    monkeypatch.setenv("QALQAN_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    stream = tmp_path / "s.jsonl"
    simulate(150, 10, 3, stream)
    r = runner.invoke(app, ["models", "card"])
    assert r.exit_code == 2 and "no bundle is live" in r.output
    r = runner.invoke(app, ["train", "--stream", str(stream), "--label-delay", "0", "--rounds", "20"])
    assert r.exit_code == 0, r.output
    assert "held out" in r.output and "scorecard" in r.output
    [row] = json.loads(runner.invoke(app, ["models", "list", "--json"]).output)
    assert row["name"].startswith("ensemble-") and row["members"] == ["gbm", "scorecard", "mlp", "profile"]
    r = runner.invoke(app, ["models", "card", row["name"]])
    assert r.exit_code == 0, r.output
    assert "attribute" in r.output and "points" in r.output and "base" in r.output
    card = json.loads(runner.invoke(app, ["models", "card", row["name"], "--json"]).output)
    assert card["bundle"] == row["name"] and card["attributes"][0]["input"] == model_inputs(definitions.load())[0]
    r = runner.invoke(app, ["train", "--stream", str(stream), "--label-delay", "0", "--rounds", "20",
                            "--models", "gbm"])
    assert r.exit_code == 0, r.output
    gbm = [x for x in json.loads(runner.invoke(app, ["models", "list", "--json"]).output) if x["name"] != row["name"]]
    assert gbm[0]["name"].startswith("gbm-") and gbm[0]["members"] == ["gbm"]
    r = runner.invoke(app, ["models", "card", gbm[0]["name"]])
    assert r.exit_code == 2 and "no scorecard" in r.output
    # LIVE switches atomically from one bundle to the other; a new engine serves the new one
    assert runner.invoke(app, ["models", "promote", row["name"]]).exit_code == 0
    settings = from_env(home=tmp_path / "home")
    assert load_live_model(settings).version == row["name"]
    assert runner.invoke(app, ["models", "card"]).exit_code == 0  # the LIVE one
    assert runner.invoke(app, ["models", "promote", gbm[0]["name"]]).exit_code == 0
    assert load_live_model(settings).version == gbm[0]["name"]
    r = runner.invoke(app, ["train", "--stream", str(stream), "--models", "gbm,mlp"])
    assert r.exit_code == 2 and "ensemble" in r.output
