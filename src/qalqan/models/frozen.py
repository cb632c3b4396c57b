"""The ensemble's members as a bundle holds them, and as the engine scores them: plain numbers, no
pickles, no scikit-learn at serving time.

- ``FrozenScorecard``: the card (per input, its bins' cut points and points; the base points) as
  JSON; a row is scored by one comparison against a padded cut-point matrix and a gather.
- ``FrozenMLP``: the network's weight matrices and the inputs' scaling as ``.npy`` files (read
  with ``np.load(allow_pickle=False)``); a row is the forward pass in NumPy (~10 µs where
  ``predict_proba`` costs ~100 µs of Python per call).
- ``Stacker``: the ensemble's logistic regression over the members' log-odds (coefficients and
  intercept as JSON).

Each has ``score_many(X)`` (the batch path) and a one-row path that runs the same arithmetic, so
the engine's score is the batch score of the same row (tests/models/test_ensemble_bundle.py).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..events import Reason
from .base import PDO, SCALE, ModelError


def logit(p: np.ndarray) -> np.ndarray:
    """As the ensemble's stacker reads its members (models/ensemble.py ``_logit``)."""
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


# exp(500) is finite: clipping there keeps 1/(1 + e^-z) from overflowing (math.exp raises, and
# one extreme input must not fail a decision) and changes no probability a float can tell apart.
_Z_MAX = 500.0


def expit(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -_Z_MAX, _Z_MAX)))


def expit_one(z: float) -> float:
    """``expit`` of one number, in plain Python (the same formula; NumPy's exp may differ in the last bit)."""
    return 1.0 / (1.0 + math.exp(-min(max(z, -_Z_MAX), _Z_MAX)))


class FrozenScorecard:
    name = "scorecard"

    def __init__(self, inputs: Sequence[str], edges: Sequence[Sequence[float]], points: Sequence[Sequence[float]],
                 base: float) -> None:
        self.inputs = tuple(inputs)
        if not (len(edges) == len(points) == len(self.inputs)):
            raise ModelError("scorecard: inputs, edges and points differ in length")
        for name, e, p in zip(self.inputs, edges, points):
            if len(p) != len(e) + 1:
                raise ModelError(f"scorecard: input {name!r} has {len(e)} cut points but {len(p)} bins of points")
        self.edges = [np.asarray(e, dtype=np.float64) for e in edges]
        self.points = [np.asarray(p, dtype=np.float64) for p in points]
        self.base = float(base)
        width = max((len(e) for e in self.edges), default=0)
        # padded with NaN: ``NaN <= x`` is False, so a padded slot never counts
        self._E = np.full((len(self.inputs), max(width, 1)), np.nan)
        self._P = np.zeros((len(self.inputs), max(width, 1) + 1))
        for j, (e, p) in enumerate(zip(self.edges, self.points)):
            self._E[j, :len(e)] = e
            self._P[j, :len(p)] = p
        self._rows = np.arange(len(self.inputs))
        # an input whose bins all carry the same points cannot move the score: not read online
        self.used = [j for j, p in enumerate(self.points) if len(p) and np.ptp(p) > 0]

    @classmethod
    def from_model(cls, sc: Any) -> FrozenScorecard:
        if not sc.points:
            raise ModelError("Scorecard is not fitted: nothing to freeze")
        return cls(sc.inputs, [e.tolist() for e in sc.edges], [p.tolist() for p in sc.points], sc.base)

    def to_json(self) -> dict[str, Any]:
        return {"base": self.base, "pdo": PDO, "scale": SCALE,
                "rule": "score = 1 / (1 + exp(-(base + sum of points) / scale)); an input x falls in bin k when "
                        "edges[k-1] <= x < edges[k]; missing reads as -infinity (the first bin)",
                "attributes": [{"input": n, "edges": e.tolist(), "points": p.tolist()}
                               for n, e, p in zip(self.inputs, self.edges, self.points)]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FrozenScorecard:
        try:
            attrs = d["attributes"]
            return cls([a["input"] for a in attrs], [a["edges"] for a in attrs], [a["points"] for a in attrs],
                       float(d["base"]))
        except (KeyError, TypeError) as exc:
            raise ModelError(f"scorecard.json: missing or malformed field {exc}") from None

    def codes(self, X: np.ndarray) -> np.ndarray:
        """Each row's bin per input (rows × inputs), as ``Scorecard`` bins them."""
        x = np.where(np.isnan(X), -np.inf, X)
        return (self._E[None, :, :] <= x[:, :, None]).sum(axis=2)

    def row_points(self, x: np.ndarray) -> np.ndarray:
        """One row's points per input."""
        code = (self._E <= np.where(np.isnan(x), -np.inf, x)[:, None]).sum(axis=1)
        return self._P[self._rows, code]

    def score_many(self, X: np.ndarray) -> np.ndarray:
        pts = self._P[self._rows[None, :], self.codes(X)]
        return expit((self.base + pts.sum(axis=1)) / SCALE)

    def score_row(self, x: np.ndarray) -> float:
        return float(expit((self.base + self.row_points(x).sum()) / SCALE))

    def reasons(self, x: np.ndarray, k: int = 3) -> list[Reason]:
        """The attributes with the most points for this row, each with its bin and points."""
        pts = self.row_points(x)
        code = (self._E <= np.where(np.isnan(x), -np.inf, x)[:, None]).sum(axis=1)
        out = []
        for j in np.argsort(-pts, kind="stable")[:k]:
            if pts[j] <= 0:
                break
            lo, hi = _bounds(self.edges[j], int(code[j]))
            out.append(Reason(code=f"scorecard.{self.inputs[j]}", source="model", weight=float(pts[j]),
                              text=f"{self.inputs[j]} {_bin(lo, hi)}: {pts[j]:+.0f} points"))
        return out

    def table(self) -> list[tuple[str, str, float]]:
        """The card's rows: (attribute, bin, points), inputs in order, bins low to high."""
        rows = []
        for name, e, p in zip(self.inputs, self.edges, self.points):
            for k, pts in enumerate(p):
                rows.append((name, _bin(*_bounds(e, k)), float(pts) + 0.0))  # no -0
        return rows


def _bounds(edges: np.ndarray, k: int) -> tuple[float, float]:
    b = [-math.inf, *edges.tolist(), math.inf]
    return b[k], b[k + 1]


def _num(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def _bin(lo: float, hi: float) -> str:
    if lo == -math.inf and hi == math.inf:
        return "any (or missing)"
    if lo == -math.inf:
        return f"< {_num(hi)} (or missing)"
    if hi == math.inf:
        return f">= {_num(lo)}"
    return f"[{_num(lo)}, {_num(hi)})"


class FrozenMLP:
    """The forward pass of a scikit-learn ``MLPClassifier`` (ReLU hidden layers, logistic output) on
    ``models/mlp.py``'s scaling: signed log, then standardised."""

    name = "mlp"
    ACTIVATIONS = ("relu", "tanh", "logistic", "identity")

    def __init__(self, inputs: Sequence[str], mu: np.ndarray, sd: np.ndarray, weights: Sequence[np.ndarray],
                 biases: Sequence[np.ndarray], activation: str = "relu") -> None:
        self.inputs = tuple(inputs)
        if activation not in self.ACTIVATIONS:
            raise ModelError(f"mlp: activation {activation!r} unknown; known: {', '.join(self.ACTIVATIONS)}")
        self.activation = activation
        self.mu = np.asarray(mu, dtype=np.float64)
        self.sd = np.asarray(sd, dtype=np.float64)
        self.weights = [np.ascontiguousarray(w, dtype=np.float64) for w in weights]
        self.biases = [np.asarray(b, dtype=np.float64) for b in biases]
        n = len(self.inputs)
        if self.mu.shape != (n,) or self.sd.shape != (n,) or not self.weights or len(self.weights) != len(self.biases):
            raise ModelError("mlp: the scaling or the layers do not match the inputs")
        width = n
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            if w.ndim != 2 or w.shape[0] != width or b.shape != (w.shape[1],):
                raise ModelError(f"mlp: layer {i} has shape {w.shape} / {b.shape}, expected ({width}, k) / (k,)")
            width = w.shape[1]
        if width != 1:
            raise ModelError(f"mlp: the last layer has {width} outputs, a binary classifier has 1")
        self.reach = np.abs(self.weights[0]).sum(axis=1)
        self.used = [j for j in range(n) if self.reach[j] > 0]
        # the standardisation folded into the first layer: (z - mu) / sd @ W + b = z @ (W / sd) + (b - mu / sd @ W);
        # two fewer array operations per event, and the batch path runs the same arithmetic
        self._w0 = np.ascontiguousarray(self.weights[0] / self.sd[:, None])
        self._b0 = self.biases[0] - (self.mu / self.sd) @ self.weights[0]
        self._layers = [(self._w0, self._b0), *zip(self.weights[1:], self.biases[1:])]
        self._act = _ACT[self.activation]

    @classmethod
    def from_model(cls, m: Any) -> FrozenMLP:
        net = m._net()
        if net.out_activation_ != "logistic":
            raise ModelError(f"mlp: output {net.out_activation_!r}, a binary MLPClassifier has 'logistic'")
        return cls(m.inputs, m.mu, m.sd, net.coefs_, net.intercepts_, net.activation)

    def files(self) -> dict[str, bytes]:
        """``mlp.json`` (the shapes and activation) and one ``.npy`` per array."""
        import json

        arrays = {"mlp.mu.npy": self.mu, "mlp.sd.npy": self.sd}
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            arrays[f"mlp.w{i}.npy"] = w
            arrays[f"mlp.b{i}.npy"] = b
        out = {k: _npy(v) for k, v in arrays.items()}
        meta = {"inputs": list(self.inputs), "activation": self.activation, "out_activation": "logistic",
                "layers": len(self.weights), "shapes": [list(w.shape) for w in self.weights],
                "scaling": "z = (sign(x) * log1p(|x|, missing as 0) - mu) / sd"}
        out["mlp.json"] = (json.dumps(meta, indent=1) + "\n").encode()
        return out

    @classmethod
    def from_files(cls, files: dict[str, bytes]) -> FrozenMLP:
        import json

        try:
            meta = json.loads(files["mlp.json"])
            layers = int(meta["layers"])
            return cls(meta["inputs"], _load(files, "mlp.mu.npy"), _load(files, "mlp.sd.npy"),
                       [_load(files, f"mlp.w{i}.npy") for i in range(layers)],
                       [_load(files, f"mlp.b{i}.npy") for i in range(layers)], meta.get("activation", "relu"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"mlp: a file or field is missing or malformed ({exc})") from None

    @staticmethod
    def signed_log(X: np.ndarray) -> np.ndarray:
        X = np.where(np.isnan(X), 0.0, X)
        return np.sign(X) * np.log1p(np.abs(X))

    def scale(self, X: np.ndarray) -> np.ndarray:
        return (self.signed_log(X) - self.mu) / self.sd

    def _forward(self, H: np.ndarray) -> np.ndarray:
        last = len(self._layers) - 1
        for i, (w, b) in enumerate(self._layers):
            H = H @ w + b
            if i < last:
                H = self._act(H)
        return H

    def score_many(self, X: np.ndarray) -> np.ndarray:
        return expit(self._forward(self.signed_log(X))[:, 0])

    def score_row(self, x: np.ndarray) -> float:
        return expit_one(float(self._forward(self.signed_log(x))[0]))

    def reasons(self, x: np.ndarray, k: int = 3) -> list[Reason]:
        """Inputs far above their training mean, weighted by their first-layer reach (as models/mlp.py)."""
        c = self.scale(x[None, :])[0] * self.reach
        top = np.argsort(-c)[:k]
        return [Reason(code=f"mlp.{self.inputs[i]}", source="model", weight=round(float(c[i]), 4)) for i in top
                if c[i] > 0]


_ACT = {"relu": lambda h: np.maximum(h, 0.0), "tanh": np.tanh, "logistic": expit, "identity": lambda h: h}


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(a, dtype=np.float64), allow_pickle=False)
    return buf.getvalue()


def _load(files: dict[str, bytes], name: str) -> np.ndarray:
    """An ``.npy`` file of float64: ``allow_pickle=False``, so an object array is refused, not run."""
    a = np.load(io.BytesIO(files[name]), allow_pickle=False)
    if a.dtype != np.float64:
        raise ModelError(f"{name}: dtype {a.dtype}, expected float64")
    return a


class Stacker:
    """The ensemble's combination: ``p = expit(intercept + Σ coef_j · logit(score_j))``."""

    def __init__(self, members: Sequence[str], coef: Sequence[float], intercept: float) -> None:
        self.members = list(members)
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = float(intercept)
        if self.coef.shape != (len(self.members),):
            raise ModelError(f"ensemble: {len(self.coef)} coefficients for {len(self.members)} members")
        self._coef = self.coef.tolist()

    @classmethod
    def from_model(cls, ens: Any) -> Stacker:
        if ens.stacker is None:
            raise ModelError("Ensemble is not fitted: nothing to freeze")
        return cls([m.name for m in ens.members], ens.stacker.coef_[0].tolist(), float(ens.stacker.intercept_[0]))

    def to_json(self) -> dict[str, Any]:
        return {"members": self.members, "coef": self.coef.tolist(), "intercept": self.intercept,
                "rule": "p = 1 / (1 + exp(-(intercept + sum_j coef_j * logit(clip(score_j, 1e-6, 1 - 1e-6)))))"}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Stacker:
        try:
            return cls(d["members"], d["coef"], d["intercept"])
        except (KeyError, TypeError) as exc:
            raise ModelError(f"ensemble.json: missing or malformed field {exc}") from None

    def push(self, scores: np.ndarray) -> np.ndarray:
        """Each member's term in the log-odds (rows × members)."""
        return logit(scores) * self.coef

    def push_row(self, scores: Sequence[float]) -> list[float]:
        """One row's member terms in the log-odds, in plain Python."""
        out = []
        for c, p in zip(self._coef, scores):
            p = min(max(p, 1e-6), 1 - 1e-6)
            out.append(c * math.log(p / (1 - p)))
        return out

    def combine_row(self, scores: Sequence[float]) -> float:
        """One row, in plain Python (four numbers: NumPy's per-call cost would be most of it)."""
        z = self.intercept
        for c, p in zip(self._coef, scores):
            p = min(max(p, 1e-6), 1 - 1e-6)
            z += c * math.log(p / (1 - p))
        return expit_one(z)

    def combine(self, scores: np.ndarray) -> np.ndarray:
        """Members' scores (rows × members) → the calibrated probability per row."""
        return expit(self.intercept + logit(scores) @ self.coef)
