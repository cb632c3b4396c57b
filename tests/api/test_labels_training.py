"""Labels given over the API reach training: `qalqan labels --export` writes them as label events,
and train.py's training set counts them when they are appended to the events file."""

from __future__ import annotations

from pathlib import Path

from people_fixtures import ANALYST
from typer.testing import CliRunner

from conftest import transfer
from qalqan import labels
from qalqan.cli import app
from qalqan.config import from_env
from qalqan.engine import Engine
from qalqan.models.train import training_set


def test_api_labels_are_training_labels(db_url, tmp_path: Path) -> None:
    stream = tmp_path / "events.jsonl"
    lines = [transfer(event_id=f"m-{i}", ts=f"2026-02-02T10:{i:02d}:00Z", amount=str(1000 + i)) for i in range(12)]
    stream.write_bytes(b"\n".join(lines) + b"\n")
    settings = from_env(db_url=db_url)
    e = Engine(settings)
    for line in lines:
        e.decide(line, org="bank1")
    e.commit()
    labels.add(e, ANALYST, "m-3", "fraud", ts="2026-02-03T10:00:00Z")
    labels.add(e, ANALYST, "m-4", "legitimate", ts="2026-02-03T10:00:00Z")
    e.close()

    out = tmp_path / "labels.jsonl"
    r = CliRunner().invoke(app, ["labels", "--export", str(out), "--org", "bank1", "--db", db_url])
    assert r.exit_code == 0, r.output
    assert "wrote 2 labels" in r.output
    assert CliRunner().invoke(app, ["labels", "--export", str(tmp_path / "none.jsonl"), "--db", db_url]).output \
        .startswith("wrote 0 labels")  # the default organisation has none

    train = tmp_path / "train.jsonl"
    train.write_bytes(stream.read_bytes() + out.read_bytes())
    ts = training_set(train, settings)
    assert ts.rows["labelled"] == 2 and ts.rows["fraud"] == 1
    assert ts.y[ts.event_ids.index("m-3")] == 1 and ts.y[ts.event_ids.index("m-4")] == 0
