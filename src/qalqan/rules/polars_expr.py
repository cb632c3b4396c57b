"""The rule language (rules/expr.py) translated into Polars expressions, for vectorised builders.

A second interpreter of the same text, not a second language: the same whitelist (it subclasses
the closure compiler, so constant folding, ``rub()``/``days()`` and the refusal of unknown names
are shared) and the same meaning of ``None`` — which Polars does not give for free:

- ``==``/``!=`` are Python's: ``None == None`` is true, ``None != 'x'`` is true, a string never
  equals a number (no error, just false), ``True == 1``;
- an ordering comparison with ``None`` is false, never null;
- ``x in (...)`` with ``x`` None is ``None in (...)``; a ``None`` container makes ``in`` false and
  ``not in`` true; ``in`` a string is substring search; ``in`` a set column (``reason_codes``, a
  list column here) is membership;
- arithmetic with ``None`` is ``None``; ``x / 0`` is ``None`` (``x % 0`` too, where the closures raise);
- ``and``/``or``/``not``/``if`` use Python truthiness (``0``, ``''`` and ``None`` are false) and
  ``and``/``or`` give booleans, as the closures do.

Dtypes decide some of these (``'a' == 1``), so expressions are compiled against a schema.
Known gap: Polars holds NaN equal to NaN, Python does not (no event field can carry a NaN: JSON
has none).
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Mapping
from typing import Any

import polars as pl

from .expr import CONSTANT_FUNCS, Compiler

__all__ = ["PolarsCompiler", "truthy"]

_NUM = "num"
_STR = "str"
_BOOL = "bool"
_NULL = "null"
_OTHER = "other"


def _kind(dtype: pl.DataType) -> str:
    if dtype == pl.Null:
        return _NULL
    if dtype == pl.Boolean:
        return _BOOL
    if dtype.is_numeric():
        return _NUM
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        return _STR
    return _OTHER


def truthy(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Python's ``bool(x)`` per row, with ``None`` false; never null."""
    kind = _kind(dtype)
    if kind == _NULL:
        return pl.lit(False)
    if kind == _BOOL:
        return expr.fill_null(False)
    if kind == _NUM:
        return (expr != 0).fill_null(False)
    if kind == _STR:
        return (expr.cast(pl.String).str.len_bytes() > 0).fill_null(False)
    if dtype == pl.List or isinstance(dtype, pl.List):
        return (expr.list.len() > 0).fill_null(False)  # a set: empty is false
    return expr.is_not_null()


class _Typed:
    """An expression with its dtype (kept so that comparisons can follow Python's rules)."""

    __slots__ = ("expr", "dtype", "const", "is_const")

    def __init__(self, expr: pl.Expr, dtype: pl.DataType, const: Any = None, is_const: bool = False) -> None:
        self.expr, self.dtype, self.const, self.is_const = expr, dtype, const, is_const


class PolarsCompiler(Compiler):
    """Compiles an expression to a ``pl.Expr`` over a frame with ``schema``; names in scope but
    absent from the schema read as ``None`` (as ``dict.get`` does in the closures)."""

    def __init__(self, names: Collection[str], schema: Mapping[str, pl.DataType]) -> None:
        super().__init__(names)
        self.schema = dict(schema)
        self._empty = pl.LazyFrame(schema=self.schema)

    def compile_polars(self, source: str, where: str = "<expr>") -> pl.Expr:
        """The filter as a boolean expression (its truthiness, never null)."""
        t = self._translate(source, where)
        return truthy(t.expr, t.dtype)

    def value(self, source: str, where: str = "<expr>") -> pl.Expr:
        """The expression's value (not its truthiness), for tests and computed columns."""
        return self._translate(source, where).expr

    def _translate(self, source: str, where: str) -> _Typed:
        self.compile(source, where)  # the closure compiler's checks: names, functions, types
        return self._typed(self._parse(source, where))

    # --- helpers ---------------------------------------------------------------------------
    def _dtype(self, expr: pl.Expr) -> pl.DataType:
        return self._empty.select(expr.alias("_")).collect_schema()["_"]

    def _wrap(self, expr: pl.Expr) -> _Typed:
        return _Typed(expr, self._dtype(expr))

    def _lit(self, value: Any) -> _Typed:
        if isinstance(value, frozenset):
            return _Typed(pl.lit(None), pl.Null(), value, True)
        expr = pl.lit(value)
        return _Typed(expr, self._dtype(expr), value, True)

    def _typed(self, node: ast.AST) -> _Typed:
        is_const, value = self._folded(node)
        if is_const:
            return self._lit(value)

        if isinstance(node, ast.Name):
            if node.id not in self.names:
                raise self._fail(node, f"unknown name {node.id!r}")
            if node.id in self.constants:
                const = self.constants[node.id]
                return self._lit(getattr(const, "value", const))
            if node.id not in self.schema:
                return _Typed(pl.lit(None), pl.Null(), None, True)
            return _Typed(pl.col(node.id), self.schema[node.id])
        if isinstance(node, ast.BoolOp):
            parts = [self._truth(v) for v in node.values]
            out = parts[0]
            for p in parts[1:]:
                out = (out & p) if isinstance(node.op, ast.And) else (out | p)
            return _Typed(out, pl.Boolean())
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                return _Typed(~self._truth(node.operand), pl.Boolean())
            if isinstance(node.op, ast.USub):
                inner = self._typed(node.operand)
                return self._wrap(-self._numeric(inner))
            raise self._fail(node, "unsupported unary operator")
        if isinstance(node, ast.Compare):
            left = self._typed(node.left)
            tests: list[pl.Expr] = []
            for op, comp in zip(node.ops, node.comparators):
                right = self._typed(comp)
                tests.append(self._compare(node, op, left, right))
                left = right
            out = tests[0]
            for t in tests[1:]:
                out = out & t
            return _Typed(out, pl.Boolean())
        if isinstance(node, ast.BinOp):
            return self._arith(node)
        if isinstance(node, ast.IfExp):
            test = self._truth(node.test)
            then, other = self._typed(node.body), self._typed(node.orelse)
            return self._wrap(pl.when(test).then(then.expr).otherwise(other.expr))
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise self._fail(node, f"unknown function {name!r}; allowed: {sorted(CONSTANT_FUNCS)}")
        raise self._fail(node, f"{type(node).__name__} is not allowed in a rule expression")

    def _truth(self, node: ast.AST) -> pl.Expr:
        t = self._typed(node)
        if t.is_const and isinstance(t.const, frozenset):
            return pl.lit(bool(t.const))
        return truthy(t.expr, t.dtype)

    @staticmethod
    def _numeric(t: _Typed) -> pl.Expr:
        return t.expr.cast(pl.Int64) if _kind(t.dtype) == _BOOL else t.expr

    def _arith(self, node: ast.BinOp) -> _Typed:
        a, b = self._typed(node.left), self._typed(node.right)
        x, y = self._numeric(a), self._numeric(b)
        if isinstance(node.op, ast.Add):
            return self._wrap(x + y)
        if isinstance(node.op, ast.Sub):
            return self._wrap(x - y)
        if isinstance(node.op, ast.Mult):
            return self._wrap(x * y)
        if isinstance(node.op, ast.Div):
            # The closures answer None for a zero (or false) divisor.
            return self._wrap(pl.when(y == 0).then(None).otherwise(x / y))
        if isinstance(node.op, ast.Mod):
            return self._wrap(x % y)  # floored, as Python's; a zero divisor gives null, not an error
        raise self._fail(node, "unsupported arithmetic operator")

    def _compare(self, node: ast.AST, op: ast.cmpop, a: _Typed, b: _Typed) -> pl.Expr:
        if isinstance(op, (ast.Eq, ast.NotEq)):
            eq = self._equal(a, b)
            return eq if isinstance(op, ast.Eq) else ~eq
        if isinstance(op, (ast.In, ast.NotIn)):
            member = self._member(node, a, b)
            return member if isinstance(op, ast.In) else ~member
        if isinstance(op, (ast.Is, ast.IsNot)):
            same = self._identity(node, a, b)
            return same if isinstance(op, ast.Is) else ~same
        ka, kb = _kind(a.dtype), _kind(b.dtype)
        if _NULL in (ka, kb):
            return pl.lit(False)
        if (ka == _STR) != (kb == _STR):
            raise self._fail(node, "orders a string against a number (Python raises TypeError here)")
        x, y = self._numeric(a), self._numeric(b)
        cmp = {ast.Lt: x < y, ast.LtE: x <= y, ast.Gt: x > y, ast.GtE: x >= y}[type(op)]
        return cmp.fill_null(False)

    def _equal(self, a: _Typed, b: _Typed) -> pl.Expr:
        """Python's ``a == b``, never null."""
        ka, kb = _kind(a.dtype), _kind(b.dtype)
        sa, sb = isinstance(a.const, frozenset), isinstance(b.const, frozenset)
        if sa or sb:  # a constant tuple equals only the same constant tuple
            return pl.lit(sa and sb and a.const == b.const)
        if a.is_const and a.const is None:
            return b.expr.is_null()
        if b.is_const and b.const is None:
            return a.expr.is_null()
        if ka == _NULL or kb == _NULL:
            return (a.expr.is_null() & b.expr.is_null()) if ka == kb else (a.expr if ka != _NULL else b.expr).is_null()
        numeric = {_NUM, _BOOL}
        if ka == kb or (ka in numeric and kb in numeric):
            x, y = (a.expr, b.expr) if ka == kb else (self._numeric(a), self._numeric(b))
            return x.eq_missing(y)
        # Different kinds (a string and a number): never equal, unless both are None.
        return a.expr.is_null() & b.expr.is_null()

    def _member(self, node: ast.AST, a: _Typed, b: _Typed) -> pl.Expr:
        """Python's ``a in b`` for a constant collection or a string; never null."""
        if b.is_const and b.const is None:
            return pl.lit(False)
        if b.is_const and isinstance(b.const, frozenset):
            container = b.const
            none_in = None in container
            ka = _kind(a.dtype)
            if ka == _NULL:
                return pl.lit(none_in)
            if ka == _STR:
                members: list[Any] = sorted(m for m in container if isinstance(m, str))
                test = a.expr.cast(pl.String).is_in(members) if members else pl.lit(False)
            elif ka in (_NUM, _BOOL):
                nums = [m for m in container if isinstance(m, (int, float)) and m is not None]
                x = self._numeric(a)
                if not nums:
                    test = pl.lit(False)
                elif all(isinstance(m, int) for m in nums) and (ka == _BOOL or a.dtype.is_integer()):
                    test = x.cast(pl.Int64).is_in([int(m) for m in nums])
                else:
                    test = x.cast(pl.Float64).is_in([float(m) for m in nums])
            else:
                raise self._fail(node, f"`in` over a {a.dtype} value is not supported by the offline builder")
            return pl.when(a.expr.is_null()).then(pl.lit(none_in)).otherwise(test.fill_null(False))
        if isinstance(b.dtype, pl.List):  # a set of codes (reason_codes): None is never in it
            return b.expr.list.contains(a.expr).fill_null(False) if _kind(a.dtype) != _NULL else pl.lit(False)
        if _kind(b.dtype) == _STR:
            if _kind(a.dtype) != _STR:
                raise self._fail(node, "`in` a string needs a string on the left")
            # Substring search; a None container makes `in` false.
            found = b.expr.cast(pl.String).str.contains(a.expr.cast(pl.String), literal=True)
            return found.fill_null(False)
        if _kind(b.dtype) == _NULL:
            return pl.lit(False)
        raise self._fail(node, "`in` needs a constant list or a string on the right")

    def _identity(self, node: ast.AST, a: _Typed, b: _Typed) -> pl.Expr:
        """``is None`` (the type checker allows no other identity)."""
        if b.is_const and b.const is None:
            x = a
        elif a.is_const and a.const is None:
            x = b
        else:
            raise self._fail(node, "`is` compares only with None")
        return pl.lit(x.const is None) if x.is_const else x.expr.is_null()
