"""The contract formula language: exact decimals, and nothing but arithmetic."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qalqan.reports.formula import FormulaError, compile_formula, parse_decimal

V = {"volume": Decimal("100000000"), "fraud": Decimal("900000")}


def run(text: str, **values: str) -> Decimal:
    names = {"volume", "fraud", *values}
    return compile_formula(text, names, "test")({**V, **{k: Decimal(v) for k, v in values.items()}})


def test_percent_and_literals_are_exact():
    assert run("0.075% * volume") == Decimal("75000")
    assert run("0.1 + 0.2") == Decimal("0.3")  # not 0.30000000000000004
    assert run("125_000_000 * 0.3%") == Decimal("375000")
    assert run("(fraud - 0.5% * volume) / 4") == Decimal("100000")
    assert run("-fraud + +volume") == Decimal("99100000")
    assert run("min(fraud, 1000) + max(fraud, volume)") == Decimal("100001000")
    assert run("x * 2", x="0.25") == Decimal("0.5")


def test_division_keeps_50_digits():
    third = run("volume / 3")
    assert third == Decimal("33333333." + "3" * 42)  # rounded at the 50th digit, far below a kopeck


@pytest.mark.parametrize("text, problem", [
    ("__import__('os').system('ls')", "calling"),
    ("fraud.real", "Attribute"),
    ("open('x')", "calling open"),
    ("fraud if volume else 0", "IfExp"),
    ("fraud > 0", "Compare"),
    ("fraud % 3", "Mod"),
    ("fraud ** 2", "Pow"),
    ("lambda: 1", "Lambda"),
    ("[1][0]", "Subscript"),
    ("'text'", "only decimal numbers"),
    ("True", "only decimal numbers"),
    ("penalty * 2", "unknown name 'penalty'"),
    ("min(fraud)", "two or more"),
    ("min(fraud, key=volume)", "two or more"),
    ("fraud +", "not a formula"),
])
def test_refuses_anything_but_arithmetic(text: str, problem: str):
    with pytest.raises(FormulaError) as exc:
        compile_formula(text, {"volume", "fraud"}, "tiers[0].penalty")
    assert problem in str(exc.value) and "tiers[0].penalty" in str(exc.value)


def test_division_by_zero_names_the_formula():
    f = compile_formula("fraud / volume", {"fraud", "volume"}, "tiers[1].bonus")
    with pytest.raises(FormulaError, match=r"tiers\[1\].bonus: division by zero"):
        f({"fraud": Decimal(1), "volume": Decimal(0)})


@pytest.mark.parametrize("text, value", [("125000000", "125000000"), ("125_000_000", "125000000"),
                                         ("0.5%", "0.005"), ("0.075%", "0.00075"), ("1e3", "1000")])
def test_parse_decimal(text: str, value: str):
    assert parse_decimal(text, "x") == Decimal(value)


@pytest.mark.parametrize("text", ["lots", "1,5", "0.5 %%", "", "nan", "inf"])
def test_parse_decimal_refuses(text: str):
    with pytest.raises(FormulaError, match="not a decimal number"):
        parse_decimal(text, "constants.cap")


@given(st.decimals(min_value=0, max_value=10**12, places=2), st.decimals(min_value=0, max_value=10**12, places=2))
def test_same_as_python_decimal(a: Decimal, b: Decimal):
    f = compile_formula("(a - 0.5% * b) / 4 + a * 0.075%", {"a", "b"}, "t")
    assert f({"a": a, "b": b}) == (a - Decimal("0.005") * b) / 4 + a * Decimal("0.00075")
