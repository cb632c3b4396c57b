"""The live model: the registered bundle (``$QALQAN_HOME/models/LIVE``) as the engine's ``Scorer``.

One event is scored on a 1 × n row of float64 (None → NaN) by LightGBM's single-row fast path
(``LGBM_BoosterPredictForMatSingleRowFast``, the C API made for this: ~4 µs where
``Booster.predict`` spends ~100 µs in Python per call), set up once per booster, one thread; where
the loaded library lacks it, ``Booster.predict`` on a 1-row NumPy array. Either gives exactly the
number a batch ``Booster.predict`` gives that row (tests/models/test_serving.py).

Its reasons are the three largest positive contributions (TreeSHAP, ``pred_contrib``, log-odds),
computed only when the score reaches ``REASONS_AT`` (the review threshold): TreeSHAP costs
~0.3 ms a row, and below that threshold the model does not change the action.
"""

from __future__ import annotations

import ctypes
import threading
import weakref
from typing import Any

import numpy as np

from ..config import Settings
from ..events import Reason
from ..policy import ModelPolicy
from . import bundle

REASONS_AT = ModelPolicy().review_at


_NORMAL, _CONTRIB, _FLOAT64 = 0, 3, 1


class _FastRow:
    """LightGBM's single-row prediction handle for one booster and one predict type."""

    def __init__(self, booster: Any, predict_type: int, ncol: int) -> None:
        from lightgbm import basic

        lib = basic._LIB
        self._call = lib.LGBM_BoosterPredictForMatSingleRowFast  # AttributeError: not in this build
        handle = ctypes.c_void_p()
        basic._safe_call(lib.LGBM_BoosterPredictForMatSingleRowFastInit(
            booster._handle, ctypes.c_int(predict_type), ctypes.c_int(0), ctypes.c_int(-1),
            ctypes.c_int(_FLOAT64), ctypes.c_int32(ncol), basic._c_str("num_threads=1"), ctypes.byref(handle)))
        self._handle = handle
        self._booster = booster  # the handle points into it: keep it alive as long
        self._check = basic._safe_call
        self._len = ctypes.c_int64()
        self._len_ref = ctypes.byref(self._len)
        self.out = (ctypes.c_double * (ncol + 1))()
        self._finalizer = weakref.finalize(self, lib.LGBM_FastConfigFree, handle)

    def __call__(self, row: ctypes.Array) -> ctypes.Array:
        self._check(self._call(self._handle, row, self._len_ref, self.out))
        return self.out


class LiveModel:
    def __init__(self, name: str, booster: Any, inputs: list[str], reasons_at: float = REASONS_AT) -> None:
        self.reasons_at = reasons_at
        self.version = name
        self.inputs = tuple(inputs)
        self.features: frozenset[str] | None = frozenset(self.inputs)
        self.booster = booster
        self._nan = float("nan")
        self._row_type = ctypes.c_double * len(self.inputs)
        self._row = self._row_type()  # reused: the fast path's input and output buffers are shared
        self._lock = threading.Lock()
        try:
            self._fast: _FastRow | None = _FastRow(booster, _NORMAL, len(self.inputs))
            self._fast_contrib: _FastRow | None = _FastRow(booster, _CONTRIB, len(self.inputs))
        except (AttributeError, OSError):
            self._fast = self._fast_contrib = None

    def values(self, v: Any) -> list[float]:
        """The inputs read from the engine's view (an output it lacks reads as None: NaN)."""
        values = []
        for name in self.inputs:
            try:
                x = v[name]
            except KeyError:
                x = None
            values.append(self._nan if x is None else float(x))
        return values

    def row(self, v: Any) -> np.ndarray:
        return np.array([self.values(v)], dtype=np.float64)

    def score_one(self, v: Any) -> tuple[float, list[Reason]]:
        values = self.values(v)
        if self._fast is not None:
            with self._lock:
                self._row[:] = values
                score = float(self._fast(self._row)[0])
        else:
            score = float(self.booster.predict(np.array([values], dtype=np.float64), num_threads=1)[0])
        if score < self.reasons_at:
            return score, []
        return score, self.reasons(values)

    def reasons(self, values: list[float]) -> list[Reason]:
        """Up to three inputs that pushed this row's score up the most (TreeSHAP, log-odds)."""
        if self._fast_contrib is not None:
            with self._lock:
                self._row[:] = values
                contrib = np.array(self._fast_contrib(self._row))
        else:
            contrib = self.booster.predict(np.array([values], dtype=np.float64), pred_contrib=True, num_threads=1)[0]
        top = np.argsort(-contrib[:-1])[:3]  # the last column is the bias
        reasons = [Reason(code=f"model.{self.inputs[i]}", source="model", weight=round(float(contrib[i]), 4))
                   for i in top if contrib[i] > 0]
        return reasons

    def score_many(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster.predict(X), dtype=np.float64)


def load_bundle(settings: Settings, name: str, features_version: str | None = None) -> LiveModel:
    """A verified bundle as a scorer; ``BundleError`` if tampered or trained on other features."""
    import lightgbm as lgb

    if features_version is None:
        from ..features import definitions

        features_version = definitions.load().version
    b = bundle.read(settings.home, name, features_version)
    if b.manifest.get("kind") != "lightgbm" or bundle.MODEL_FILE not in b.files:
        raise bundle.BundleError(f"bundle {name}: kind {b.manifest.get('kind')!r}, this qalqan serves lightgbm")
    booster = lgb.Booster(model_str=b.files[bundle.MODEL_FILE].decode())
    inputs = list(b.manifest["features"])
    if booster.feature_name() != inputs:
        raise bundle.BundleError(f"bundle {name}: the model's inputs differ from the manifest's features; refused")
    return LiveModel(name, booster, inputs)
