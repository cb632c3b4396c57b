"""What every model of the ensemble shares: a fixed list of inputs, read from a feature dict for
``score_one`` and from a matrix (columns in the same order) for ``fit`` and ``score_many``.

The verbs (as river's): ``fit(X, y)`` on a matrix, ``score_many(X)`` for a batch, ``score_one(features)``
for one event — the same number ``score_many`` gives that row (tests/models/test_parity.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from ..events import Reason


class ModelError(ValueError):
    """A model used wrongly (scored before fit, a missing input); says what to do."""


class Model(Protocol):
    name: str
    version: str
    features: frozenset[str] | None
    inputs: tuple[str, ...]

    def fit(self, X: np.ndarray, y: np.ndarray) -> Model: ...

    def score_many(self, X: np.ndarray) -> np.ndarray: ...

    def score_one(self, features: dict[str, Any]) -> tuple[float, list[Reason]]: ...


def row(inputs: Sequence[str], features: dict[str, Any]) -> np.ndarray:
    """One event's inputs as a 1 × n float matrix (None reads as NaN)."""
    try:
        values = [features[name] for name in inputs]
    except KeyError as exc:
        raise ModelError(f"the features lack the input {exc.args[0]!r}; the model reads {list(inputs)}") from None
    return np.array([[np.nan if v is None else float(v) for v in values]], dtype=float)


def top_reasons(source: str, inputs: Sequence[str], contributions: np.ndarray, k: int = 3) -> list[Reason]:
    """The ``k`` inputs that pushed the score up the most, as reasons."""
    order = np.argsort(-contributions)[:k]
    return [Reason(code=f"model.{inputs[i]}", source=source, weight=round(float(contributions[i]), 4))
            for i in order if contributions[i] > 0]


# A scorecard's scale, shared by training (scorecard.py) and serving (frozen.py): serving must not
# import scikit-learn, which training needs.
PDO = 20.0  # points to double the odds
SCALE = PDO / math.log(2)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))
