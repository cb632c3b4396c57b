"""Types and units of rule expressions, checked at load time.

A rule that compares money with a duration (``sbp_self_in_24h_sum > hours(24)``), a count with
money without a unit (``amount_base > 200000`` — kopecks or roubles?), or a rail with a value it
can never take (``rail == 'spb'``) is refused when the pack loads, with the file and line, instead
of silently never firing in production.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, get_args, get_origin

UNIT_KINDS = ("money", "duration", "time")
NUMERIC = ("number", "count")


@dataclass(frozen=True)
class T:
    kind: str  # money duration time count number text bool set any none
    values: frozenset[str] | None = None  # the values a text can take (an enum), when known

    def __str__(self) -> str:
        return self.kind


ANY = T("any")
NONE = T("none")
BOOL = T("bool")
NUMBER = T("number")
COUNT = T("count")
MONEY = T("money")
DURATION = T("duration")
TIME = T("time")
TEXT = T("text")
SET = T("set")

FUNC_TYPES = {"seconds": DURATION, "minutes": DURATION, "hours": DURATION, "days": DURATION,
              "rub": MONEY, "date": TIME}


def python_type(tp: Any) -> T:
    """The rule type of a field declared in the event contract."""
    from datetime import datetime
    from decimal import Decimal
    from typing import Literal

    args = [a for a in get_args(tp) if a is not type(None)]
    origin = get_origin(tp)
    if origin is Literal:
        return T("text", frozenset(str(a) for a in get_args(tp)))
    if args and origin is not None and origin.__name__ in ("Union", "UnionType"):
        return python_type(args[0]) if len(args) == 1 else ANY
    if origin is not None and getattr(origin, "__name__", "") == "Annotated":
        return python_type(get_args(tp)[0])
    if hasattr(tp, "__metadata__"):
        return python_type(tp.__origin__)
    if tp is bool:
        return BOOL
    if tp is int:
        return COUNT
    if tp in (float, Decimal):
        return NUMBER
    if tp is str:
        return TEXT
    if tp is datetime:
        return ANY
    return ANY


def _family(t: T) -> str:
    return "number" if t.kind in NUMERIC else t.kind


class TypeChecker:
    def __init__(self, types: dict[str, T], fail: Any) -> None:
        self.types = types
        self.fail = fail  # (node, problem) -> Exception

    def check(self, node: ast.AST) -> T:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            return ANY
        return method(node)

    def _Constant(self, node: ast.Constant) -> T:
        v = node.value
        if v is None:
            return NONE
        if isinstance(v, bool):
            return BOOL
        if isinstance(v, (int, float)):
            return NUMBER
        return T("text", frozenset({v}))

    def _Name(self, node: ast.Name) -> T:
        return self.types.get(node.id, ANY)

    def _Call(self, node: ast.Call) -> T:
        return FUNC_TYPES.get(node.func.id, ANY) if isinstance(node.func, ast.Name) else ANY

    def _Tuple(self, node: ast.Tuple | ast.List | ast.Set) -> T:
        vals = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        return T("set", frozenset(vals) if len(vals) == len(node.elts) else None)

    _List = _Tuple
    _Set = _Tuple

    def _UnaryOp(self, node: ast.UnaryOp) -> T:
        inner = self.check(node.operand)
        return BOOL if isinstance(node.op, ast.Not) else inner

    def _BoolOp(self, node: ast.BoolOp) -> T:
        for v in node.values:
            self.check(v)
        return BOOL

    def _IfExp(self, node: ast.IfExp) -> T:
        self.check(node.test)
        a, b = self.check(node.body), self.check(node.orelse)
        if ANY in (a, b) or NONE in (a, b) or _family(a) == _family(b):
            return a if a not in (ANY, NONE) else b
        raise self.fail(node, f"the branches give {a} and {b}")

    def _BinOp(self, node: ast.BinOp) -> T:
        a, b = self.check(node.left), self.check(node.right)
        if ANY in (a, b):
            return ANY
        fa, fb = _family(a), _family(b)
        op = type(node.op).__name__
        bad = f"cannot {op.lower()} {a} and {b}"
        if fa == "text" or fb == "text" or fa == "set" or fb == "set":
            raise self.fail(node, bad)
        if isinstance(node.op, (ast.Add, ast.Sub)):
            if fa == fb == "bool":  # counting conditions: (a > x) + (b < y) >= 2
                return NUMBER
            if fa == fb:
                return DURATION if (fa == "time" and isinstance(node.op, ast.Sub)) else a
            if {fa, fb} == {"time", "duration"}:
                return TIME
            if "number" in (fa, fb) and ("bool" in (fa, fb)):
                return NUMBER
            raise self.fail(node, bad + " (different units)")
        if isinstance(node.op, ast.Mult):
            if fa == "number" or fa == "bool":
                return b if fb != "bool" else NUMBER
            if fb == "number" or fb == "bool":
                return a
            raise self.fail(node, bad + " (a unit times a unit)")
        if isinstance(node.op, ast.Div):
            if fa == fb:
                return NUMBER
            if fb == "number":
                return a
            raise self.fail(node, bad)
        return a

    def _Compare(self, node: ast.Compare) -> T:
        left = self.check(node.left)
        for op, comp in zip(node.ops, node.comparators):
            right = self.check(comp)
            self._compare(node, op, left, right, comp)
            left = right
        return BOOL

    def _compare(self, node: ast.AST, op: ast.cmpop, a: T, b: T, right_node: ast.AST) -> None:
        if isinstance(op, (ast.Is, ast.IsNot)):
            if b != NONE:
                raise self.fail(node, "`is` compares only with None")
            return
        if isinstance(op, (ast.In, ast.NotIn)):
            if b.kind not in ("set", "any", "text"):
                raise self.fail(node, f"`in` needs a list of values or a set on the right, got {b}")
            if a.values and b.kind == "set" and b.values is not None and a.kind == "text":
                unknown = b.values - a.values if len(a.values) > 1 else set()
                if unknown:
                    raise self.fail(node, f"{sorted(unknown)} can never occur; possible: {sorted(a.values)}")
            return
        if ANY in (a, b) or NONE in (a, b):
            return
        fa, fb = _family(a), _family(b)
        if isinstance(op, (ast.Eq, ast.NotEq)):
            if fa == "text" and fb == "text":
                lit, enum = (b, a) if isinstance(right_node, ast.Constant) else (a, b)
                if enum.values and lit.values and len(enum.values) > 1 and not lit.values <= enum.values:
                    raise self.fail(
                        node, f"{sorted(lit.values)[0]!r} can never occur; possible: {sorted(enum.values)}")
                return
            if fa == fb or {fa, fb} <= {"number", "bool"}:
                return
            raise self.fail(node, f"cannot compare {a} with {b}")
        # ordering
        if fa == fb and fa != "text" and fa != "set":
            return
        if fa in UNIT_KINDS and fb == "number" or fb in UNIT_KINDS and fa == "number":
            unit = fa if fa in UNIT_KINDS else fb
            hint = {"money": "rub(...)", "duration": "hours(...), days(...) or minutes(...)", "time": "date(...)"}
            raise self.fail(node, f"bad unit: {unit} compared with a plain number; write it as {hint[unit]}")
        raise self.fail(node, f"cannot order {a} against {b}")
