"""``qalqan train``: a LightGBM model on the engine's own features, for a labelled JSONL stream.

The training set comes from the offline builder (features/offline.py) over the feature
definitions the engine runs (``definitions.load()``): one row per money movement, each value what
the online engine reads for that event. The inputs are every output whose value does not depend
on the engine's past decisions (``action``, ``reason_codes``, ``hold_kind``): a training stream
carries no decisions, so those could not be reproduced offline.

Training window: the money movements from the stream's first event to its last event's time minus
``label_delay`` (their labels have had that long to arrive). Label rule: a movement is fraud (1)
when the last label event in the file targeting it says ``fraud`` or ``chargeback``; otherwise
(``legit`` or no label) it is 0. Metrics (AUC ROC, AP) are those of a model fit with the same
parameters on the first 80 % of the window and scored on the last 20 %; the bundle's model is then
fit on the whole window.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Settings
from ..features import definitions
from ..features.definitions import FeatureSet
from ..rules.expr import Compiler
from . import bundle
from .metrics import auc_roc, average_precision

DECISION_FIELDS = frozenset({"action", "reason_codes", "hold_kind"})
HOLDOUT = 0.2
ROUNDS = 300
POSITIVE = ("fraud", "chargeback")
ALL_MODELS = ("gbm", "scorecard", "mlp", "profile", "ensemble")


class TrainError(ValueError):
    """A stream that cannot train a model (no movements, no fraud labels); says why."""


def model_inputs(fs: FeatureSet) -> list[str]:
    """The outputs a model may read: those whose filters (directly or through other outputs they
    read) do not depend on decisions. In the definitions' order."""
    probe = Compiler(())
    used = {s.name: probe.names_used(s.where) if s.where else set() for s in fs.specs}
    tainted: set[str] = set()
    changed = True
    while changed:
        changed = False
        for s in fs.specs:
            if any(o in tainted for o in s.outputs):
                continue
            if used[s.name] & (DECISION_FIELDS | tainted):
                tainted.update(s.outputs)
                changed = True
    return [o for o in fs.names if o not in tainted]


def matrix(frame: Any, inputs: list[str]) -> np.ndarray:
    """The inputs of a built frame as float64 (null → NaN), columns in ``inputs`` order."""
    import polars as pl

    return frame.select([pl.col(c).cast(pl.Float64) for c in inputs]).to_numpy().astype(np.float64)


def parse_delay(text: str) -> int:
    """'7d', '12h', '30min', '0' → microseconds."""
    units = {"d": 86_400, "h": 3_600, "min": 60, "m": 60, "s": 1}
    t = text.strip()
    if t in ("0", ""):
        return 0
    for u in sorted(units, key=len, reverse=True):
        if t.endswith(u) and t[: -len(u)].strip().isdigit():
            return int(t[: -len(u)]) * units[u] * 1_000_000
    raise TrainError(f"--label-delay {text!r}: expected a duration such as 7d, 12h or 30min")


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class TrainingSet:
    event_ids: list[str]
    X: np.ndarray
    y: np.ndarray
    inputs: list[str]
    window: dict[str, Any]
    rows: dict[str, int]


def training_set(stream: str | Path, settings: Settings, label_delay_us: int = 0,
                 fs: FeatureSet | None = None, say: Callable[[str], None] = lambda _: None) -> TrainingSet:
    from ..features.offline import build, views_from_jsonl

    fs = fs or definitions.load()
    say(f"reading {stream}")
    views = views_from_jsonl(stream, settings.key, settings.fx)
    if not views:
        raise TrainError(f"{stream}: no valid events")
    ts_of: dict[str, int] = {}
    labels: dict[str, str] = {}
    end = max(v["ts_us"] for v in views)
    for v in views:
        if v["type"] == "label":
            labels[v["target_event_id"]] = v["label"]  # the last label of a movement wins
        ts_of[v["event_id"]] = v["ts_us"]
    say(f"building {len(fs.names)} feature outputs for {len(views)} events")
    frame = build(views, fs)
    cutoff = end - label_delay_us
    ids = frame["event_id"].to_list()
    keep = np.array([ts_of[e] <= cutoff for e in ids], dtype=bool)
    inputs = model_inputs(fs)
    X = matrix(frame, inputs)[keep]
    kept = [e for e, k in zip(ids, keep) if k]
    y = np.array([1 if labels.get(e) in POSITIVE else 0 for e in kept], dtype=np.int32)
    if len(kept) == 0:
        raise TrainError(f"{stream}: no money movement before {_iso(cutoff)} (the last event minus the label delay)")
    if y.sum() == 0 or y.sum() == len(y):
        raise TrainError(f"{stream}: the training window holds {int(y.sum())} fraud of {len(y)} movements; "
                         "a model needs both classes")
    window = {"from": _iso(min(ts_of[e] for e in kept)), "to": _iso(cutoff), "stream_end": _iso(end),
              "label_delay_s": label_delay_us // 1_000_000,
              "label_rule": "movements with ts <= stream_end - label_delay; label 1 when the last label event "
                            "in the file targeting the movement says fraud or chargeback (every label in the "
                            "file counts, up to stream_end), else 0 (legit or unlabelled)"}
    rows = {"movements": len(ids), "train": len(kept), "fraud": int(y.sum()),
            "labelled": sum(1 for e in kept if e in labels)}
    return TrainingSet(kept, X, y, inputs, window, rows)


def fit(X: np.ndarray, y: np.ndarray, inputs: list[str], rounds: int = ROUNDS) -> Any:
    import lightgbm as lgb

    from .gbm import PARAMS

    data = lgb.Dataset(X, label=y, feature_name=list(inputs), free_raw_data=True)
    return lgb.train(PARAMS, data, num_boost_round=rounds)


def parse_models(text: str | Sequence[str]) -> tuple[str, ...]:
    """'gbm,scorecard,mlp,profile,ensemble' → the members in that canonical order. Several members
    need ``ensemble`` (the served score is the stacker's); ``ensemble`` needs at least two members."""
    names = [t.strip() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    unknown = [n for n in names if n not in ALL_MODELS]
    if unknown or not names:
        raise TrainError(f"--models {','.join(names) or text!r}: unknown {unknown or 'empty'}; "
                         f"choose from {','.join(ALL_MODELS)}")
    chosen = tuple(m for m in ALL_MODELS if m in names)
    members = [m for m in chosen if m != "ensemble"]
    if "ensemble" in chosen and len(members) < 2:
        raise TrainError(f"--models {','.join(names)}: an ensemble needs at least two members")
    if "ensemble" not in chosen and len(members) > 1:
        raise TrainError(f"--models {','.join(names)}: several members need 'ensemble' to combine them into the "
                         "served score")
    return chosen


def train(stream: str | Path, settings: Settings, name: str = "gbm", label_delay: str = "7d",
          rounds: int = ROUNDS, say: Callable[[str], None] = lambda _: None,
          models: str | Sequence[str] = ("gbm",), progress: Callable[[int, int, str], None] | None = None) -> Path:
    """Trains, writes a bundle under ``settings.home/models`` and returns its folder (not promoted).

    ``models`` ``("gbm",)`` (the default here; ``qalqan train`` defaults to every model) writes a
    LightGBM bundle; any other choice an ensemble bundle (models/live_ensemble.py). ``progress``
    hears ``(done, total, step)`` as training advances."""
    chosen = parse_models(models)
    bundle.check_name(name)
    if chosen != ("gbm",):
        return _train_ensemble(stream, settings, name, label_delay, rounds, say, chosen, progress)
    import lightgbm as lgb
    import polars as pl

    t0 = time.perf_counter()
    fs = definitions.load()
    ts = training_set(stream, settings, parse_delay(label_delay), fs, say)
    say(f"{ts.rows['train']} movements in the window ({ts.rows['fraud']} fraud); {len(ts.inputs)} inputs")
    n = len(ts.y)
    cut = int(n * (1 - HOLDOUT))
    metrics: dict[str, Any] = {}
    if 0 < ts.y[cut:].sum() < n - cut and 0 < ts.y[:cut].sum() < cut:
        say(f"fitting on the first {cut} rows, scoring the last {n - cut}")
        head = fit(ts.X[:cut], ts.y[:cut], ts.inputs, rounds)
        p = np.asarray(head.predict(ts.X[cut:]), dtype=float)
        metrics = {"holdout_rows": n - cut, "holdout_fraud": int(ts.y[cut:].sum()),
                   "auc_roc": round(auc_roc(ts.y[cut:], p), 4), "ap": round(average_precision(ts.y[cut:], p), 4)}
    else:
        metrics = {"note": "the held-out tail lacks fraud or legit rows: no metrics"}
    say("fitting on the whole window")
    booster = fit(ts.X, ts.y, ts.inputs, rounds)
    model_text = booster.model_to_string().encode()
    manifest = {
        "name": name, "kind": "lightgbm", "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "features": ts.inputs, "features_version": fs.version, "stream": str(Path(stream).name),
        "window": ts.window, "rows": ts.rows, "rounds": rounds, "metrics": metrics,
        "libraries": {"lightgbm": lgb.__version__, "numpy": np.__version__, "polars": pl.__version__,
                      "python": platform.python_version()},
        "seconds": round(time.perf_counter() - t0, 2),
    }
    path = bundle.write(settings.home, name, {bundle.MODEL_FILE: model_text}, manifest)
    say(f"wrote {path}")
    return path


def _members(chosen: tuple[str, ...], inputs: list[str], rounds: int) -> list[Any]:
    from .gbm import GradientBoosting
    from .mlp import MLP
    from .profile import ENGINE_SIGNS, HabitProfile
    from .scorecard import Scorecard

    out: list[Any] = []
    for m in chosen:
        if m == "gbm":
            out.append(GradientBoosting(inputs, rounds=rounds))
        elif m == "scorecard":
            out.append(Scorecard(inputs))
        elif m == "mlp":
            out.append(MLP(inputs))
        elif m == "profile":
            signs = tuple(s for s in ENGINE_SIGNS if s[0] in inputs)
            if not signs:
                raise TrainError("the profile's signs (models/profile.py ENGINE_SIGNS) are not among the model "
                                 "inputs of these feature definitions; leave 'profile' out of --models")
            out.append(HabitProfile(signs))
    return out


def _fit_all(chosen: tuple[str, ...], X: np.ndarray, y: np.ndarray, inputs: list[str], rounds: int,
             step: Callable[[str], None]) -> tuple[list[Any], Any]:
    """The members (and the ensemble over them) fitted on ``X``; the ensemble is None for one member."""
    from .ensemble import Ensemble

    members = _members(chosen, inputs, rounds)
    if "ensemble" not in chosen:
        [m] = members
        m.fit(X[:, [inputs.index(c) for c in m.inputs]], y)
        step(f"{m.name}: fitted")
        return members, None
    ens = Ensemble(inputs, members)
    ens.fit(X, y, on_step=step)
    return members, ens


def _steps(chosen: tuple[str, ...]) -> int:
    k = len([m for m in chosen if m != "ensemble"])
    return 2 * k + 1 + k if "ensemble" in chosen else 1


def _train_ensemble(stream: str | Path, settings: Settings, name: str, label_delay: str, rounds: int,
                    say: Callable[[str], None], chosen: tuple[str, ...],
                    progress: Callable[[int, int, str], None] | None) -> Path:
    """Every chosen member (and their stacker) on the same window; metrics per member and for the
    served score from a fit on the first 80 % scored on the last 20 %; the bundle's models are then
    fit on the whole window."""
    import lightgbm as lgb
    import polars as pl
    import scipy
    import sklearn

    from .live_ensemble import bundle_files, load_ensemble

    t0 = time.perf_counter()
    fs = definitions.load()
    ts = training_set(stream, settings, parse_delay(label_delay), fs, say)
    say(f"{ts.rows['train']} movements in the window ({ts.rows['fraud']} fraud); {len(ts.inputs)} inputs; "
        f"models {','.join(chosen)}")
    n = len(ts.y)
    cut = int(n * (1 - HOLDOUT))
    holdout = bool(0 < ts.y[cut:].sum() < n - cut and 0 < ts.y[:cut].sum() < cut)
    total = _steps(chosen) * (2 if holdout else 1) + 2
    done = 0

    def step(label: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, label)

    step("training set built")
    metrics: dict[str, Any] = {}
    if holdout:
        say(f"fitting on the first {cut} rows, scoring the last {n - cut}")
        head, head_ens = _fit_all(chosen, ts.X[:cut], ts.y[:cut], ts.inputs, rounds, lambda s: step("holdout: " + s))
        tail, yt = ts.X[cut:], ts.y[cut:]
        per: dict[str, dict[str, float]] = {}
        scores = []
        for m in head:
            p = m.score_many(tail[:, [ts.inputs.index(c) for c in m.inputs]])
            scores.append(p)
            per[m.name] = {"auc_roc": round(auc_roc(yt, p), 4), "ap": round(average_precision(yt, p), 4)}
        served = head_ens.score_many(tail) if head_ens is not None else scores[0]
        metrics = {"holdout_rows": n - cut, "holdout_fraud": int(yt.sum()),
                   "auc_roc": round(auc_roc(yt, served), 4), "ap": round(average_precision(yt, served), 4),
                   "members": per}
        if head_ens is not None:
            per["ensemble"] = {"auc_roc": metrics["auc_roc"], "ap": metrics["ap"]}
    else:
        metrics = {"note": "the held-out tail lacks fraud or legit rows: no metrics"}
    say("fitting on the whole window")
    members, ens = _fit_all(chosen, ts.X, ts.y, ts.inputs, rounds, step)
    fitted = {m.name: (m.booster if m.name == "gbm" else m) for m in members}
    files = bundle_files(ts.inputs, fitted, ens)
    seconds = {k: {kk: round(vv, 2) for kk, vv in v.items()} for k, v in (ens.seconds if ens else {}).items()}
    manifest = {
        "name": name, "kind": "ensemble", "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "members": [m.name for m in members], "combiner": "ensemble" if ens is not None else None,
        "weights": ens.weights() if ens is not None else None,
        "features": ts.inputs, "features_version": fs.version, "stream": str(Path(stream).name),
        "window": ts.window, "rows": ts.rows, "rounds": rounds if "gbm" in chosen else None, "metrics": metrics,
        "libraries": {"lightgbm": lgb.__version__, "scikit-learn": sklearn.__version__, "scipy": scipy.__version__,
                      "numpy": np.__version__, "polars": pl.__version__, "python": platform.python_version()},
        "seconds": round(time.perf_counter() - t0, 2), "member_seconds": seconds,
    }
    # What is written is what is served: the frozen bundle must give the fitted ensemble's numbers.
    check = load_ensemble(bundle.Bundle("check", Path("."), manifest, files))
    some = ts.X[:: max(1, len(ts.X) // 2000)]
    want = ens.score_many(some) if ens is not None else members[0].score_many(
        some[:, [ts.inputs.index(c) for c in members[0].inputs]])
    gap = float(np.max(np.abs(check.score_many(some) - want))) if len(some) else 0.0
    if gap > 1e-6:
        raise TrainError(f"the bundle's frozen models differ from the fitted ones by {gap:.2g}; not written")
    path = bundle.write(settings.home, name, files, manifest)
    step("bundle written")
    say(f"wrote {path}")
    return path
