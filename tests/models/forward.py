"""Forward-in-time validation for the model tests: a model is trained on what was known at a cut
(the stream's first days, the labels that had arrived by then) and its quality is judged on the
money movements after the cut only — never on the rows it was fit on. Fraud models are validated
forward in time: a model that memorises its training rows scores ~1.0 on them and far less on the
next days (docs/testing.md)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from qalqan.models.metrics import auc_roc
from qalqan.models.scenarios import truncate
from qalqan.models.train import POSITIVE
from qalqan.sim import DEFAULT_START

TRAIN_DAYS = 14  # of the tests' 20 simulated days: the last 6 are the held-out slice
LABEL_DELAY = "2d"  # movements of the cut's last 2 days are left out of training (labels not yet in)
AUC_FLOOR = 0.9  # measured 0.95 on these 6 held-out days (gbm and ensemble); docs/models.md


def cut_at(days: int = TRAIN_DAYS) -> datetime:
    start = datetime.fromisoformat(DEFAULT_START.replace("Z", "+00:00"))
    return start + timedelta(days=days) - timedelta(microseconds=1)


def known_at(stream: Path, cut: datetime, out: Path) -> Path:
    """The events (labels included) known at ``cut``: what a model trained then could have read."""
    assert truncate(stream, cut, out) > 0
    return out


def times_and_labels(stream: Path) -> tuple[dict[str, datetime], dict[str, str]]:
    """Each event's time, and each movement's last label in the **whole** stream (the labels that
    arrive after the cut are the held-out truth)."""
    ts: dict[str, datetime] = {}
    labels: dict[str, str] = {}
    for line in stream.read_text().splitlines():
        e = json.loads(line)
        ts[e["event_id"]] = datetime.fromisoformat(e["ts"].replace("Z", "+00:00"))
        if e["type"] == "label":
            labels[e["target_event_id"]] = e["label"]
    return ts, labels


def held_out_auc(stream: Path, scores: dict[str, float], cut: datetime) -> tuple[float, int, int]:
    """AUC ROC of ``scores`` against the labels on the movements after ``cut``: (auc, rows, frauds)."""
    ts, labels = times_and_labels(stream)
    ids = [e for e in scores if ts[e] > cut]
    y = np.array([labels.get(e) in POSITIVE for e in ids])
    return auc_roc(y, np.array([scores[e] for e in ids])), len(ids), int(y.sum())
