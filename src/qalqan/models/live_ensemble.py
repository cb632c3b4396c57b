"""The live ensemble: an ensemble bundle (``qalqan train`` with several members) as the engine's
``Scorer``, and the files such a bundle holds.

A bundle of kind ``ensemble`` holds, beside ``manifest.json`` (every file's SHA-256, verified at
load by models/bundle.py):

| file | member | format |
|---|---|---|
| ``model.txt`` | gbm | LightGBM's text model |
| ``scorecard.json`` | scorecard | per input its cut points and each bin's points; the base points |
| ``mlp.json`` + ``mlp.{mu,sd,w0,b0,...}.npy`` | mlp | shapes, activation; weights, read with ``allow_pickle=False`` |
| ``profile.json`` | profile | the signs, their centres and scales, the surprise's quantiles |
| ``ensemble.json`` | ensemble | the stacker's coefficients (one per member, on log-odds) and intercept |

Nothing is unpickled: JSON, NumPy arrays of float64 and LightGBM's text format run no code.

One event: the inputs any member reads are read once from the view (the others stay NaN: no
member's score depends on them); each member scores the row with NumPy (gbm: LightGBM's
single-row fast path, see models/live.py); the stacker combines their log-odds into a calibrated
probability. Reasons, only at ``REASONS_AT`` and above: ``model.member.<name>`` for the member
whose term pushed the log-odds most, then that member's own reasons (the scorecard's: the
attributes with the most points, with their bins).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..events import Reason
from . import bundle
from .base import ModelError
from .frozen import FrozenMLP, FrozenScorecard, Stacker
from .live import REASONS_AT, LiveModel, read_inputs
from .profile import HabitProfile

MEMBERS = ("gbm", "scorecard", "mlp", "profile")
SCORECARD_FILE = "scorecard.json"
PROFILE_FILE = "profile.json"
ENSEMBLE_FILE = "ensemble.json"


class _Gbm:
    """LightGBM through ``LiveModel`` (fast single row, per-leaf path contributions)."""

    name = "gbm"

    def __init__(self, live: LiveModel) -> None:
        self.live = live
        self.used = [i for i, _ in live._used]

    def score_row(self, x: np.ndarray) -> float:
        return self.live.predict(x.tolist())

    def score_many(self, X: np.ndarray) -> np.ndarray:
        return self.live.score_many(X)

    def reasons(self, x: np.ndarray) -> list[Reason]:
        return [Reason(code="gbm." + r.code.removeprefix("model."), source="model", weight=r.weight)
                for r in self.live.reasons(x.tolist())]


class _Profile:
    name = "profile"

    def __init__(self, profile: HabitProfile, columns: list[int]) -> None:
        self.profile = profile
        self.columns = np.array(columns, dtype=np.intp)
        self.used = list(columns)

    def score_row(self, x: np.ndarray) -> float:
        return self.profile.score_row(x[self.columns])

    def score_many(self, X: np.ndarray) -> np.ndarray:
        return self.profile.score_many(X[:, self.columns])

    def reasons(self, x: np.ndarray) -> list[Reason]:
        return self.profile.reasons(self.profile.parts(x[self.columns][None, :])[0])


class LiveEnsemble:
    """Every member and the stacker, as one ``Scorer``: ``score_one(view) -> (score, reasons)``."""

    def __init__(self, name: str, inputs: Sequence[str], members: Sequence[Any], stacker: Stacker | None,
                 reasons_at: float = REASONS_AT) -> None:
        self.version = name
        self.inputs = tuple(inputs)
        self.members = list(members)
        self.stacker = stacker
        self.reasons_at = reasons_at
        if stacker is None and len(self.members) != 1:
            raise ModelError(f"{len(self.members)} members and no stacker: which score to serve?")
        if stacker is not None and stacker.members != [m.name for m in self.members]:
            raise ModelError(f"the stacker weighs {stacker.members}, the bundle holds {[m.name for m in self.members]}")
        used = sorted({i for m in self.members for i in m.used})
        self._used = [(i, self.inputs[i]) for i in used]
        self.features: frozenset[str] | None = frozenset(n for _, n in self._used)

    @property
    def scorecard(self) -> FrozenScorecard | None:
        return next((m for m in self.members if isinstance(m, FrozenScorecard)), None)

    def values(self, v: Any) -> np.ndarray:
        """The inputs some member reads, from the engine's view (missing → NaN); the rest NaN."""
        return np.array(read_inputs(v, self._used, len(self.inputs)), dtype=np.float64)

    def member_scores(self, x: np.ndarray) -> list[float]:
        return [m.score_row(x) for m in self.members]

    def score_one(self, v: Any) -> tuple[float, list[Reason]]:
        x = self.values(v)
        s = self.member_scores(x)
        score = s[0] if self.stacker is None else self.stacker.combine_row(s)
        if score < self.reasons_at:
            return score, []
        return score, self.reasons(x, s)

    def reasons(self, x: np.ndarray, s: list[float] | None = None) -> list[Reason]:
        """The member whose term pushed the log-odds most (``model.member.<name>``, weight = its term),
        then that member's own reasons."""
        s = self.member_scores(x) if s is None else s
        if self.stacker is None:
            return self.members[0].reasons(x)
        push = self.stacker.push_row(s)
        j = max(range(len(push)), key=push.__getitem__)
        m = self.members[j]
        head = Reason(code=f"model.member.{m.name}", source="model", weight=round(float(push[j]), 4),
                      text=f"{m.name} scored {s[j]:.3f}: the member that pushed the ensemble's score most")
        return [head, *m.reasons(x)]

    def member_scores_many(self, X: np.ndarray) -> np.ndarray:
        return np.column_stack([m.score_many(X) for m in self.members])

    def score_many(self, X: np.ndarray) -> np.ndarray:
        """The batch path: every member on every row, then the stacker."""
        S = self.member_scores_many(X)
        return S[:, 0] if self.stacker is None else self.stacker.combine(S)


def bundle_files(inputs: Sequence[str], fitted: dict[str, Any], ensemble: Any | None) -> dict[str, bytes]:
    """The files of an ensemble bundle from fitted models (``gbm``: a ``lightgbm.Booster``;
    ``scorecard``: ``Scorecard``; ``mlp``: ``MLP``; ``profile``: ``HabitProfile``); ``ensemble``: the
    fitted ``Ensemble`` whose stacker combines them, or None for a single member."""
    files: dict[str, bytes] = {}
    for name, model in fitted.items():
        if name == "gbm":
            files[bundle.MODEL_FILE] = model.model_to_string().encode()
        elif name == "scorecard":
            files[SCORECARD_FILE] = _json(FrozenScorecard.from_model(model).to_json())
        elif name == "mlp":
            files.update(FrozenMLP.from_model(model).files())
        elif name == "profile":
            files[PROFILE_FILE] = _json(model.to_json())
        else:
            raise ModelError(f"unknown member {name!r}; known: {', '.join(MEMBERS)}")
    if ensemble is not None:
        files[ENSEMBLE_FILE] = _json(Stacker.from_model(ensemble).to_json())
    return files


def _json(d: dict[str, Any]) -> bytes:
    return (json.dumps(d, indent=1) + "\n").encode()


def load_ensemble(b: bundle.Bundle, reasons_at: float = REASONS_AT) -> LiveEnsemble:
    """A verified ensemble bundle (models/bundle.py ``read``) as a scorer; ``BundleError`` naming
    the member or file when something does not fit."""
    inputs = list(b.manifest.get("features") or [])
    names = list(b.manifest.get("members") or [])
    if not inputs or not names:
        raise bundle.BundleError(f"bundle {b.name}: the manifest lists no features or no members")
    members: list[Any] = []
    try:
        for name in names:
            if name == "gbm":
                import lightgbm as lgb

                booster = lgb.Booster(model_str=_file(b, bundle.MODEL_FILE).decode())
                if booster.feature_name() != inputs:
                    raise ModelError("the LightGBM model's inputs differ from the manifest's features")
                members.append(_Gbm(LiveModel(b.name, booster, inputs, reasons_at)))
            elif name == "scorecard":
                sc = FrozenScorecard.from_json(json.loads(_file(b, SCORECARD_FILE)))
                _same(sc.inputs, inputs, "scorecard")
                members.append(sc)
            elif name == "mlp":
                mlp = FrozenMLP.from_files(b.files)
                _same(mlp.inputs, inputs, "mlp")
                members.append(mlp)
            elif name == "profile":
                p = HabitProfile.from_json(json.loads(_file(b, PROFILE_FILE)))
                missing = [c for c in p.inputs if c not in inputs]
                if missing:
                    raise ModelError(f"the profile reads {missing}, not among the manifest's features")
                members.append(_Profile(p, [inputs.index(c) for c in p.inputs]))
            else:
                raise ModelError(f"unknown member {name!r}; this qalqan serves {', '.join(MEMBERS)}")
        stacker = Stacker.from_json(json.loads(_file(b, ENSEMBLE_FILE))) if ENSEMBLE_FILE in b.files else None
        return LiveEnsemble(b.name, inputs, members, stacker, reasons_at)
    except (ModelError, ValueError, KeyError) as exc:
        raise bundle.BundleError(f"bundle {b.name}: {exc}; refused") from None


def _file(b: bundle.Bundle, name: str) -> bytes:
    if name not in b.files:
        raise ModelError(f"{name} is not in the bundle")
    return b.files[name]


def _same(got: Sequence[str], want: list[str], member: str) -> None:
    if list(got) != want:
        raise ModelError(f"the {member}'s inputs differ from the manifest's features")
