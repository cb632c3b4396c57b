"""The rule language refuses what cannot be right, at load time, with the file and the line."""

from pathlib import Path

import pytest
from helpers import Client, codes

from qalqan.rules.ruleset import RuleError


def _pack(tmp_path: Path, when: str, extra: str = "") -> Path:
    (tmp_path / "p.yaml").write_text(
        f"pack: p\n{extra}rules:\n  - id: r1\n    description: test\n    when: \"{when}\"\n    action: review\n"
    )
    return tmp_path


@pytest.mark.parametrize("when, message", [
    ("amount_bas > rub(1)", "unknown name 'amount_bas'"),
    ("sbp_self_in_24h_sum > hours(24)", "cannot order money against duration"),
    ("amount_base > 200000", "bad unit: money compared with a plain number"),
    ("since_phone_change <= 48", "bad unit: duration"),
    ("rail == 'spb'", "'spb' can never occur"),
    ("rail in ('sbp', 'swift')", "['swift'] can never occur"),
    ("__import__('os')", "unknown function '__import__'"),
    ("amount_base.real > rub(1)", "Attribute is not allowed"),
    ("amount_base > rub(1) and", "syntax error"),
])
def test_bad_rules_are_refused_with_file_and_line(tmp_path, when, message):
    with pytest.raises(RuleError) as info:
        Client().engine.load_rules(_pack(tmp_path, when))
    assert message in str(info.value)
    assert "p.yaml:3" in str(info.value)


def test_parameters_are_checked_and_overridable(tmp_path):
    c = Client()
    d = _pack(tmp_path, "amount_base > limit", "params:\n  limit: \"rub(5000)\"\n")
    rules = c.engine.load_rules(d)
    assert rules.rules[0].constants["limit"].value == 500000
    with pytest.raises(RuleError, match="no such parameters"):
        Client(params={"p": {"limt": 1}}).engine.load_rules(d)


def test_reload_swaps_the_rule_set_and_its_version(tmp_path):
    c = Client()
    before = c.engine.rules.version
    assert codes(c.transfer(amount="9000")) == set()
    version = c.engine.reload_rules(_pack(tmp_path, "amount_base > rub(5000)"))
    assert version != before
    d = c.transfer(amount="9000")
    assert codes(d) == {"p.r1"} and d.versions["rules"] == version


def test_shadow_rules_are_recorded_never_acted_on(tmp_path):
    (tmp_path / "s.yaml").write_text(
        "pack: s\nrules:\n  - id: big\n    when: \"amount_base > rub(5000)\"\n    action: decline\n    mode: shadow\n"
    )
    c = Client()
    c.engine.reload_rules(tmp_path)
    d = c.transfer(amount="9000")
    assert d.action == "approve" and [r.code for r in d.shadow] == ["s.big"]


def test_examples_beside_the_rules_run_through_the_decision_path(tmp_path):
    from typer.testing import CliRunner

    from qalqan.cli import app

    runner = CliRunner()
    ok = runner.invoke(app, ["rules", "test"])
    assert ok.exit_code == 0, ok.output
    assert "od2506.1.12: exactly 200,000 RUB is not more than 200,000 (expected miss, got miss)" in ok.output
    (tmp_path / "w.yaml").write_text(
        "pack: w\nrules:\n  - id: big\n    when: \"amount_base > rub(5000)\"\n    action: review\n    tests:\n"
        "      - name: wrong on purpose\n        expect: hit\n        given:\n"
        "          - {type: payment, ts: '2026-03-10T12:00:00Z', customer_id: C1, card_id: '4111', amount: '100',"
        " currency: RUB, merchant_id: M, channel: pos}\n"
    )
    bad = runner.invoke(app, ["rules", "test", "--rules", str(tmp_path)])
    assert bad.exit_code == 1 and "FAIL" in bad.output and "0 passed, 1 failed" in bad.output
