"""Exact money formulas for contracts: ``(fraud - 0.5% * volume) / 4``.

A contract is read by a risk officer and by this module, so its formulas are plain arithmetic:
decimal numbers (``0.075%`` means 0.00075), the names the contract defines, ``+ - * /``, unary
minus, parentheses, ``min(...)`` and ``max(...)``. The text is parsed with ``ast`` and compiled to
closures over ``Decimal`` values; it never reaches ``eval`` or ``exec``, and anything else
(attributes, calls of other functions, comparisons, unknown names) is refused when the contract
is loaded, with the place and the reason.

Numbers are taken from the formula's own text, never through ``float``: ``0.1`` is exactly
``Decimal("0.1")``. Arithmetic runs with 50 significant digits, so sums and products of money are
exact and a quotient is exact to far below a kopeck; the contract rounds the result once.

Examples
--------
>>> f = compile_formula("(fraud - 0.5% * volume) / 4", {"fraud", "volume"}, "example")
>>> f({"fraud": Decimal("900000"), "volume": Decimal("100000000")})
Decimal('100000.000')
>>> try:
...     compile_formula("__import__('os').system('ls')", {"fraud"}, "example")
... except FormulaError as exc:
...     print(exc)
example: col 1: calling __import__('os').system is not allowed (only min, max)
"""

from __future__ import annotations

import ast
import decimal
import re
from collections.abc import Callable, Collection, Mapping
from decimal import Decimal

__all__ = ["FormulaError", "Formula", "compile_formula", "parse_decimal", "CONTEXT"]

Formula = Callable[[Mapping[str, Decimal]], Decimal]

# Enough digits that no money sum or product of a contract is ever rounded on the way.
CONTEXT = decimal.Context(
    prec=50, rounding=decimal.ROUND_HALF_EVEN,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)

# "0.5%" → "0.005", written out exactly before parsing (``%`` is not an operator here).
_PERCENT = re.compile(r"(?<![\w.])(\d[\d_]*(?:\.\d[\d_]*)?)\s*%")
_NUMBER = re.compile(r"^[+-]?(\d[\d_]*(\.\d[\d_]*)?|\.\d+)([eE][+-]?\d+)?%?$")
_FUNCS: dict[str, Callable[..., Decimal]] = {"min": min, "max": max}
_BINARY = {
    ast.Add: Decimal.__add__,
    ast.Sub: Decimal.__sub__,
    ast.Mult: Decimal.__mul__,
    ast.Div: Decimal.__truediv__,
}


class FormulaError(ValueError):
    """A formula or number that cannot be used; says where (file, tier, field) and why."""

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f"{where}: {problem}")


def parse_decimal(text: str, where: str) -> Decimal:
    """A decimal number as written in a contract: ``125000000``, ``125_000_000``, ``0.3%``.

    Refuses anything else (a float-looking YAML value is text here: the loader keeps every scalar
    as text so that no number passes through ``float``)."""
    s = str(text).strip()
    if not _NUMBER.match(s):
        raise FormulaError(where, f"not a decimal number: {text!r} (write e.g. 125000000, 0.5%)")
    if s.endswith("%"):
        return Decimal(s[:-1].replace("_", "")).scaleb(-2)
    return Decimal(s.replace("_", ""))


def _percent_to_decimal(m: re.Match[str]) -> str:
    return format(Decimal(m.group(1).replace("_", "")).scaleb(-2), "f")


def compile_formula(text: str, names: Collection[str], where: str) -> Formula:
    """Compiles ``text`` over ``names`` into a function of a mapping of Decimals."""
    source = _PERCENT.sub(_percent_to_decimal, str(text).strip())
    if "\n" in source:
        raise FormulaError(where, "a formula is one line")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise FormulaError(where, f"col {exc.offset or 0}: not a formula ({exc.msg}): {text!r}") from None
    fn = _compile(tree.body, source, frozenset(names), where)

    def run(values: Mapping[str, Decimal]) -> Decimal:
        with decimal.localcontext(CONTEXT):
            try:
                return fn(values)
            except decimal.DivisionByZero:
                raise FormulaError(where, f"division by zero in {text!r} with {dict(values)}") from None

    return run


def _compile(node: ast.expr, source: str, names: frozenset[str], where: str) -> Formula:
    at = f"col {node.col_offset + 1}"
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise FormulaError(where, f"{at}: only decimal numbers are allowed, not {node.value!r}")
        literal = ast.get_source_segment(source, node) or ""
        value = Decimal(literal.replace("_", ""))  # the text as written: never through float
        return lambda v: value
    if isinstance(node, ast.Name):
        name = node.id
        if name not in names:
            raise FormulaError(where, f"{at}: unknown name {name!r}; known: {', '.join(sorted(names))}")
        return lambda v: v[name]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        op = _BINARY[type(node.op)]
        left = _compile(node.left, source, names, where)
        right = _compile(node.right, source, names, where)
        return lambda v: op(left(v), right(v))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _compile(node.operand, source, names, where)
        if isinstance(node.op, ast.USub):
            return lambda v: -inner(v)
        return inner
    if isinstance(node, ast.Call):
        fname = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
        if fname not in _FUNCS:
            raise FormulaError(where, f"{at}: calling {fname} is not allowed (only {', '.join(_FUNCS)})")
        if node.keywords or len(node.args) < 2:
            raise FormulaError(where, f"{at}: {fname}(a, b, ...) takes two or more plain arguments")
        func = _FUNCS[fname]
        args = [_compile(a, source, names, where) for a in node.args]
        return lambda v: func(*(a(v) for a in args))
    what = type(node.op).__name__ if isinstance(node, (ast.BinOp, ast.UnaryOp)) else type(node).__name__
    raise FormulaError(where, f"{at}: {what} is not allowed in a formula (use numbers, names, + - * /, min, max)")
