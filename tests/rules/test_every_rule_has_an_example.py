"""Every rule of every pack has an example: a `tests:` example beside it in its pack, or a test in
tests/rules that names its reason code (and so asserts that it hits, or that it does not).

The rules are enumerated from the pack files themselves (every *.yaml in rules/packs), so a rule
added to a pack without an example fails here, naming it. The last tests here give the three rules
that were tested only by their action, or only through the console, a test of their own.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
from helpers import Client, at, codes

import qalqan.rules.ruleset
from qalqan.config import from_env
from qalqan.engine import DEFAULT_PACKS, Engine
from qalqan.rules.examples import run_examples

PACKS_DIR = Path(qalqan.rules.ruleset.__file__).parent / "packs"
HERE = Path(__file__).parent


def _all_rules():
    engine = Engine(from_env(db_url="sqlite:///:memory:"))
    try:
        names = sorted(p.stem for p in PACKS_DIR.glob("*.yaml"))
        return engine.load_rules(PACKS_DIR, names).rules
    finally:
        engine.record.close()


def _codes_named_in_tests() -> set[str]:
    """String constants inside the test functions of tests/rules (this file's own list aside)."""
    named: set[str] = set()
    for path in HERE.glob("test_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef) and fn.name.startswith("test_"):
                named |= {n.value for n in ast.walk(fn) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return named


def test_the_default_packs_are_all_the_packs():
    assert sorted(DEFAULT_PACKS) == sorted(p.stem for p in PACKS_DIR.glob("*.yaml"))


def test_every_rule_of_every_pack_has_an_example():
    rules = _all_rules()
    assert len(rules) >= 30  # the enumeration found the packs' rules
    named = _codes_named_in_tests()
    without = [r.code for r in rules if not r.tests and r.code not in named]
    assert without == [], f"rules with no example (add `tests:` in the pack or a test in tests/rules): {without}"


def test_the_pack_examples_hold():
    """`qalqan rules test`: every `tests:` example beside a rule gives what it expects."""
    results = run_examples(dataclasses.replace(from_env(db_url="sqlite:///:memory:")), PACKS_DIR)
    assert results, "no pack has an example"
    assert [r for r in results if not r.ok] == []


# --- the rules that had no test of their own in tests/rules --------------------------------------------


@pytest.mark.parametrize("minutes_ago, hit", [(30, True), (31, False)])
def test_ato_call_in_progress(minutes_ago, hit):
    c = Client()
    c.send("device_signal", at(minutes=-minutes_ago), kind="active_call")
    d = c.transfer()
    assert ("ato.call_in_progress" in codes(d)) is hit
    if hit:
        assert d.action == "hold"


@pytest.mark.parametrize("hours_ago, hit", [(2, True), (2.01, False)])
def test_kz_remote_access(hours_ago, hit):
    c = Client(jurisdiction="KZ")
    c.send("device_signal", at(hours=-hours_ago), kind="remote_access")
    d = c.payment(channel="ecom", amount="1500")
    assert ("kz.remote_access" in codes(d)) is hit
    if hit:
        assert d.action == "decline"


@pytest.mark.parametrize("merchants_before, hit", [(4, False), (5, True)])
def test_cnp_many_merchants(merchants_before, hit):
    c = Client()
    for i in range(merchants_before):
        c.payment(at(minutes=-50 + i), amount="700", merchant_id=f"M{i}")
    d = c.payment(amount="700", merchant_id="M-last")
    assert ("cnp.many_merchants" in codes(d)) is hit
    if hit:
        assert d.action == "review"
