"""The live model: the registered bundle (``$QALQAN_HOME/models/LIVE``) as the engine's ``Scorer``.

One event is scored on a 1 × n row of float64 (None → NaN) by LightGBM's single-row fast path
(``LGBM_BoosterPredictForMatSingleRowFast``, the C API made for this: ~4 µs where
``Booster.predict`` spends ~100 µs in Python per call), set up once per booster, one thread; where
the loaded library lacks it, ``Booster.predict`` on a 1-row NumPy array. Either gives exactly the
number a batch ``Booster.predict`` gives that row (tests/models/test_serving.py).

Its reasons are the three inputs with the largest positive contributions (log-odds), computed only
when the score reaches ``REASONS_AT`` (the review threshold: below it the model does not change the
action). The contributions are path attributions (Saabas, "tree interpreter"): along the path a
row takes through a tree, each split moves the expected output from the node's value to the
child's, and that step is credited to the split's input; summed over the trees, plus the roots'
values, they give the row's log-odds exactly. They are precomputed per leaf when the bundle loads,
so a row's reasons are one leaf-index prediction (the same fast path) and a gather-and-sum:
~30 µs, where TreeSHAP (``pred_contrib``) cost 0.3–1 ms a row and set the decision's p99
(bench/models.py --latency). ``shap_reasons`` keeps TreeSHAP for offline explanations.
"""

from __future__ import annotations

import ctypes
import threading
import weakref
from typing import Any

import numpy as np

from ..events import Reason
from ..policy import ModelPolicy

REASONS_AT = ModelPolicy().review_at
_NAN = float("nan")


_NORMAL, _LEAF, _CONTRIB, _FLOAT64 = 0, 2, 3, 1


class _FastRow:
    """LightGBM's single-row prediction handle for one booster and one predict type."""

    def __init__(self, booster: Any, predict_type: int, ncol: int, nout: int | None = None) -> None:
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
        self.out = (ctypes.c_double * (nout or ncol + 1))()
        self._finalizer = weakref.finalize(self, lib.LGBM_FastConfigFree, handle)

    def __call__(self, row: ctypes.Array) -> ctypes.Array:
        self._check(self._call(self._handle, row, self._len_ref, self.out))
        return self.out


def read_inputs(v: Any, used: list[tuple[int, str]], n: int) -> list[float]:
    """``n`` model inputs from the engine's view: the ``used`` ones (index, name) read — a name the
    view lacks, or None, is NaN — and the rest, read by no split or member, NaN unread."""
    values = [_NAN] * n
    for i, name in used:
        try:
            x = v[name]
        except KeyError:
            x = None
        if x is not None:
            values[i] = float(x)
    return values


class LiveModel:
    def __init__(self, name: str, booster: Any, inputs: list[str], reasons_at: float = REASONS_AT) -> None:
        self.reasons_at = reasons_at
        self.version = name
        self.inputs = tuple(inputs)
        # Only the inputs some split reads: the engine computes ``features`` eagerly for every
        # movement (the rules read the rest lazily), and an input no tree splits on cannot change
        # the score or the reasons, so it is left NaN rather than computed.
        split = booster.feature_importance("split")
        self._used = [(i, name) for i, name in enumerate(self.inputs) if split[i] > 0]
        self.features: frozenset[str] | None = frozenset(name for _, name in self._used)
        self.booster = booster
        self._row_type = ctypes.c_double * len(self.inputs)
        self._row = self._row_type()  # reused: the fast path's input and output buffers are shared
        self._lock = threading.Lock()
        self.paths, self.bias = path_contributions(booster, len(self.inputs))
        self._trees = np.arange(self.paths.shape[0])
        # The same attributions kept sparse: a path crosses a handful of inputs, so per leaf only
        # those (input, value) pairs; a row's reasons then read ~5 pairs a tree, not every input
        # (300 trees × 58 inputs: 139 kB a row, mostly zeros and out of cache on the decision path).
        trees, width, n = self.paths.shape
        flat = self.paths.reshape(trees * width, n)
        leaf, feat = np.nonzero(flat)
        self._sp_feat, self._sp_val = feat.astype(np.intp), flat[leaf, feat]
        self._sp_count = np.bincount(leaf, minlength=trees * width)
        self._sp_start = np.concatenate([[0], np.cumsum(self._sp_count)[:-1]])
        self._leaf_base = self._trees * width
        try:
            self._fast: _FastRow | None = _FastRow(booster, _NORMAL, len(self.inputs))
            self._fast_leaf: _FastRow | None = _FastRow(booster, _LEAF, len(self.inputs), self.paths.shape[0])
        except (AttributeError, OSError):
            self._fast = self._fast_leaf = None

    def values(self, v: Any) -> list[float]:
        """The inputs read from the engine's view (an output it lacks reads as None: NaN; an input
        no split reads is not read at all: NaN)."""
        return read_inputs(v, self._used, len(self.inputs))

    def row(self, v: Any) -> np.ndarray:
        return np.array([self.values(v)], dtype=np.float64)

    def predict(self, values: list[float]) -> float:
        """One row's score (the inputs in ``inputs`` order, NaN where missing)."""
        if self._fast is not None:
            with self._lock:
                self._row[:] = values
                return float(self._fast(self._row)[0])
        return float(self.booster.predict(np.array([values], dtype=np.float64), num_threads=1)[0])

    def score_one(self, v: Any) -> tuple[float, list[Reason]]:
        values = self.values(v)
        score = self.predict(values)
        if score < self.reasons_at:
            return score, []
        return score, self.reasons(values)

    def contributions(self, values: list[float]) -> np.ndarray:
        """Each input's path contribution to this row's log-odds (they sum to it, less ``bias``)."""
        if self._fast_leaf is not None:
            with self._lock:
                self._row[:] = values
                leaves = np.frombuffer(self._fast_leaf(self._row), dtype=np.float64).astype(np.intp)
        else:
            leaves = np.asarray(self.booster.predict(np.array([values], dtype=np.float64), pred_leaf=True,
                                                     num_threads=1)[0], dtype=np.intp)
        ids = self._leaf_base + leaves
        count = self._sp_count[ids]
        ends = np.cumsum(count)
        at = np.repeat(self._sp_start[ids] - ends + count, count) + np.arange(ends[-1] if len(ends) else 0)
        return np.bincount(self._sp_feat[at], weights=self._sp_val[at], minlength=len(self.inputs))

    def reasons(self, values: list[float]) -> list[Reason]:
        """Up to three inputs that pushed this row's score up the most (path contributions, log-odds)."""
        return _top(self.inputs, self.contributions(values))

    def shap_reasons(self, values: list[float]) -> list[Reason]:
        """The same, by TreeSHAP (``pred_contrib``): exact Shapley values, ~0.3–1 ms a row; offline use."""
        contrib = self.booster.predict(np.array([values], dtype=np.float64), pred_contrib=True, num_threads=1)[0]
        return _top(self.inputs, contrib[:-1])  # the last column is the bias

    def score_many(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster.predict(X), dtype=np.float64)


def _top(inputs: tuple[str, ...], contrib: np.ndarray, k: int = 3) -> list[Reason]:
    top = np.argsort(-contrib)[:k]
    return [Reason(code=f"model.{inputs[i]}", source="model", weight=round(float(contrib[i]), 4))
            for i in top if contrib[i] > 0]


def path_contributions(booster: Any, n_inputs: int) -> tuple[np.ndarray, float]:
    """Per tree and leaf, what each input's splits on the way to that leaf added to the output
    (trees × max leaves × inputs, log-odds), and the sum of the roots' values (the bias)."""
    trees = booster.dump_model()["tree_info"]
    width = max(t.get("num_leaves", 1) for t in trees) if trees else 1
    paths = np.zeros((len(trees), width, n_inputs), dtype=np.float64)
    bias = 0.0
    for t, info in enumerate(trees):
        root = info["tree_structure"]
        if "leaf_value" in root:  # a single-leaf tree: a constant
            bias += float(root["leaf_value"])
            continue
        bias += float(root["internal_value"])
        stack = [(root, np.zeros(n_inputs))]
        while stack:
            node, acc = stack.pop()
            for side in ("left_child", "right_child"):
                child = node[side]
                step = acc.copy()
                value = child["leaf_value"] if "leaf_value" in child else child["internal_value"]
                step[node["split_feature"]] += float(value) - float(node["internal_value"])
                if "leaf_value" in child:
                    paths[t, int(child.get("leaf_index", 0))] = step
                else:
                    stack.append((child, step))
    return paths, bias
