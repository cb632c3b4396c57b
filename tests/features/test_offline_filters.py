"""The Polars translation of the rule language (rules/polars_expr.py) against the closures
(rules/expr.py), expression by expression, on rows full of None, empty strings and zeros."""

from __future__ import annotations

import itertools
import random

import polars as pl
import pytest

from qalqan.rules.expr import Compiler, ExprError
from qalqan.rules.polars_expr import PolarsCompiler

NAMES = {"s", "n", "f", "b", "codes", "z", "missing"}
SCHEMA = {"s": pl.String(), "n": pl.Int64(), "f": pl.Float64(), "b": pl.Boolean(), "codes": pl.List(pl.String()),
          "z": pl.Null()}

EXPRESSIONS = [
    "s == 'x'", "s != 'x'", "s == None", "s != None", "None == s", "s is None", "s is not None", "z is None",
    "n > 3", "n >= 3", "n < 3", "n <= 3", "n == 3", "n != 3", "3 < n < 10", "0 <= n <= 3 != n",
    "f > 0.5", "f == 0", "n == f", "n < f",
    "b", "not b", "b == True", "b == 1", "b and n > 1", "b or s == 'y'",
    "not (b or n)", "s", "n", "f", "z", "missing", "not missing", "missing == None", "missing != 'x'",
    "s in ('x', 'y')", "s not in ('x', 'y')", "s in ('x', None)", "s not in ('x', None)",
    "n in (1, 2, 3)", "n not in (1, 2)", "n in (1, 2.5)", "f in (0, 2.5)", "b in (1, 5)",
    "z in ('x',)", "z not in ('x',)", "missing in ('x',)", "missing not in ('x', None)",
    "'k' in codes", "'k' not in codes", "s in codes", "codes", "not codes",
    "s == 1", "s != 1", "n == 'x'", "s == n", "s != n",
    "n + 1 > 3", "n * 2 == 4", "n - f < 0", "n / 2 > 1", "(n / 0) is None", "n / n == 1", "n % 3 == 1",
    "-n < -2", "(n if b else 0) > 1", "(s if b else 'd') == 'd'", "n + None is None", "n > None",
    "s < 'm'", "s >= 'x'", "n > days(1)", "n < rub(0.05)", "(1, 2) == (2, 1)", "s == ('x',)",
    "n == missing", "n != missing",
]


def _rows() -> list[dict]:
    rng = random.Random(5)
    rows = []
    for s, n, b in itertools.product([None, "", "x", "y", "zz"], [None, 0, 1, 2, 3, 7, -4], [None, True, False]):
        rows.append({
            "s": s, "n": n, "b": b, "z": None,
            "f": rng.choice([None, 0.0, 0.5, 2.5, -1.25, 3.0]),
            "codes": rng.choice([None, frozenset(), frozenset({"k"}), frozenset({"x", "k"}), frozenset({"y"})]),
        })
    return rows


def _frame(rows: list[dict]) -> pl.DataFrame:
    cols = {k: [sorted(r[k]) if isinstance(r[k], frozenset) else r[k] for r in rows] for k in SCHEMA}
    return pl.DataFrame(cols, schema=SCHEMA)


@pytest.mark.parametrize("source", EXPRESSIONS)
def test_polars_filter_equals_the_closure(source: str) -> None:
    rows = _rows()
    fn = Compiler(NAMES).compile(source)
    expected = [bool(fn(r)) for r in rows]
    got = _frame(rows).with_columns(PolarsCompiler(NAMES, SCHEMA).compile_polars(source).alias("_"))["_"].to_list()
    bad = [(rows[i], expected[i], got[i]) for i in range(len(rows)) if expected[i] != got[i]]
    assert not bad, f"{source}: {len(bad)} rows differ, first: {bad[:3]}"


def test_values_as_well_as_truth() -> None:
    """Arithmetic gives None where the closures do (None operands, a zero divisor)."""
    rows = _rows()
    comp = PolarsCompiler(NAMES, SCHEMA)
    for source in ("n + 1", "n / n", "n % 3", "-n", "n * f"):
        fn = Compiler(NAMES).compile(source)
        got = _frame(rows).with_columns(comp.value(source).alias("_"))["_"].to_list()
        assert got == [fn(r) for r in rows], source


def test_refuses_what_the_closures_refuse() -> None:
    comp = PolarsCompiler(NAMES, SCHEMA)
    for bad in ("s.upper()", "unknown > 1", "open('x')", "s[0]"):
        with pytest.raises(ExprError):
            comp.compile_polars(bad)
