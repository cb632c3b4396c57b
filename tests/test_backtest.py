"""`qalqan backtest`: a candidate set in shadow, precision and recall against the stream's labels."""

import json
from pathlib import Path

from typer.testing import CliRunner

from qalqan.cli import app
from qalqan.sim import simulate

runner = CliRunner()


def test_backtest_reports_each_rule_and_the_difference(tmp_path: Path, isolated_home: Path):
    stream = tmp_path / "s.jsonl"
    simulate(200, 10, 3, stream)
    packs = tmp_path / "candidate"
    packs.mkdir()
    (packs / "try.yaml").write_text(
        "pack: try\nrules:\n"
        "  - id: any_big_transfer\n    events: [transfer]\n"
        "    when: \"direction == 'out' and amount_base > rub(100000)\"\n    action: review\n"
        "  - id: relay\n    events: [atm]\n    when: \"apdu_response_ms is not None and apdu_response_ms > 450\"\n"
        "    action: decline\n"
    )
    result = runner.invoke(app, ["backtest", str(stream), "--rules", str(packs), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    codes = {r["code"] for r in doc["candidate"]}
    assert codes == {"try.any_big_transfer", "try.relay"}
    relay = next(r for r in doc["candidate"] if r["code"] == "try.relay")
    assert relay["true_hits"] > 0 and 0 < relay["precision"] <= 1 and 0 < relay["recall"] < 1
    assert any(r["code"] == "od2506.1.3" for r in doc["live"])
    assert doc["frauds"] > 0 and doc["live_caught"] > doc["candidate_caught"] >= 0
    assert not (isolated_home / "qalqan.db").exists()  # a backtest never touches the live record

    tables = runner.invoke(app, ["backtest", str(stream), "--rules", str(packs)])
    assert tables.exit_code == 0 and "only the candidate catches" in tables.output


def test_backtest_refuses_a_bad_candidate(tmp_path: Path):
    stream = tmp_path / "s.jsonl"
    stream.write_text("")
    packs = tmp_path / "bad"
    packs.mkdir()
    (packs / "b.yaml").write_text("pack: b\nrules:\n  - id: x\n    when: \"amount_base > 5\"\n    action: review\n")
    result = runner.invoke(app, ["backtest", str(stream), "--rules", str(packs)])
    assert result.exit_code == 2 and "bad unit" in result.output
