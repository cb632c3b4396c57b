"""The commands as a user runs them."""

import sqlite3
from pathlib import Path

import msgspec
from typer.testing import CliRunner

from conftest import ev, transfer
from qalqan.cli import app

runner = CliRunner()


def test_replay_reports_bad_lines_and_decides_the_rest(tmp_path: Path, db_url: str):
    src = tmp_path / "events.jsonl"
    lines = [
        transfer(event_id="c-1"),
        transfer(event_id="c-2", amount="lots"),
        b"{not json",
        ev("login", event_id="c-3", device_id="d", success=True),
        transfer(event_id="c-4", rail="sbp", direction="in", self_transfer=True, amount="300000"),
        transfer(event_id="c-5", rail="sbp", counterparty_id="C77", to_account="A77"),
    ]
    src.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "decisions.jsonl"
    result = runner.invoke(app, ["replay", str(src), "-o", str(out), "--db", db_url])
    assert result.exit_code == 0, result.output
    assert "line 2: amount" in result.output and "line 3: $" in result.output
    assert "2 rejected" in result.output
    decisions = [msgspec.json.decode(x) for x in out.read_bytes().splitlines()]
    assert [d["event_id"] for d in decisions] == ["c-1", "c-4", "c-5"]
    assert decisions[-1]["action"] == "decline" and decisions[-1]["reasons"][0]["code"] == "od2506.1.12"

    export = tmp_path / "export.jsonl"
    assert runner.invoke(app, ["decisions", "--export", str(export), "--db", db_url]).exit_code == 0
    assert [msgspec.json.decode(x)["event_id"] for x in export.read_bytes().splitlines()] == ["c-1", "c-4", "c-5"]


def test_replay_fresh_leaves_the_default_record_alone(tmp_path: Path, isolated_home: Path):
    src = tmp_path / "e.jsonl"
    src.write_bytes(transfer() + b"\n")
    result = runner.invoke(app, ["replay", str(src), "--fresh"])
    assert result.exit_code == 0, result.output
    assert "decided 1 money movements" in result.output
    assert not (isolated_home / "qalqan.db").exists()


def test_replay_into_the_embedded_default(tmp_path: Path, isolated_home: Path):
    src = tmp_path / "e.jsonl"
    src.write_bytes(transfer(event_id="x-1") + b"\n" + transfer(event_id="x-1") + b"\n")
    result = runner.invoke(app, ["replay", str(src)])
    assert result.exit_code == 0, result.output
    assert "1 duplicates" in result.output
    rows = sqlite3.connect(isolated_home / "qalqan.db").execute("select count(*) from events").fetchone()
    assert rows == (1,)


def test_simulate_same_seed_same_bytes(tmp_path: Path):
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    for path, seed in ((a, "3"), (b, "3"), (c, "4")):
        r = runner.invoke(app, ["simulate", "--customers", "60", "--days", "5", "--seed", seed, "-o", str(path)])
        assert r.exit_code == 0, r.output
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()


def test_demo_shows_caught_and_missed_per_scenario(tmp_path: Path):
    result = runner.invoke(app, ["demo", "--customers", "300", "--days", "14", "--keep", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    for word in ("decisions by action", "courier_scam", "sbp_pull_then_stranger", "legitimate money movements"):
        assert word in result.output
    assert (tmp_path / "demo" / "decisions.jsonl").stat().st_size > 0


def test_hold_commands_and_outbox(tmp_path: Path, isolated_home: Path):
    src = tmp_path / "e.jsonl"
    src.write_bytes(transfer(direction="in", rail="sbp", self_transfer=True, amount="300000", ts="2026-02-02T08:00:00Z")
                    + b"\n" + transfer(event_id="k-1", rail="interbank", ts="2026-02-02T09:00:00Z") + b"\n")
    assert runner.invoke(app, ["replay", str(src)]).exit_code == 0
    shown = runner.invoke(app, ["hold", "show", "k-1"])
    assert shown.exit_code == 0 and '"status":"pending"' in shown.output
    done = runner.invoke(app, ["hold", "reject", "k-1", "--ts", "2026-02-02T09:30:00Z"])
    assert done.exit_code == 0 and '"status":"rejected"' in done.output
    assert runner.invoke(app, ["hold", "confirm", "zzz"]).exit_code == 1
    notices = [msgspec.json.decode(x)["kind"] for x in runner.invoke(app, ["outbox"]).output.splitlines()]
    assert notices == ["hold_started", "hold_rejected"]
