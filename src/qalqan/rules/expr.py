"""A small, safe expression language for rules and feature filters.

Expressions are Python syntax restricted to a whitelist: boolean logic, comparisons (``in``
too), arithmetic, constants, names known to the caller, ``x if c else y`` and a few pure
functions (``hours(24)``, ``days(180)``, ``rub(200000)``). They are parsed with ``ast`` and
compiled to closures over a dict: user text is never passed to ``eval`` or ``exec``. Anything
else — attributes, subscripts, lambdas, unknown names or functions — is refused at load time
with the source and line.

Unknown values are ``None``: an ordering comparison with ``None`` is false (a missing amount is
not "more than 200,000"), and arithmetic with ``None`` gives ``None``.
"""

from __future__ import annotations

import ast
import copy
import operator
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from .types import ANY, BOOL, NUMBER, T, TypeChecker

Ctx = dict[str, Any]
Fn = Callable[[Ctx], Any]

US = 1_000_000


class ExprError(ValueError):
    """An expression that cannot be compiled; says where and why."""

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f"{where}: {problem}")


# Pure functions a rule may call with constant arguments; folded at compile time.
CONSTANT_FUNCS: dict[str, Callable[..., Any]] = {
    "seconds": lambda n: int(n * US),
    "minutes": lambda n: int(n * 60 * US),
    "hours": lambda n: int(n * 3600 * US),
    "days": lambda n: int(n * 86400 * US),
    "date": lambda s: int(datetime.fromisoformat(s).replace(tzinfo=UTC).timestamp()) * US,
    # Money in rules is in minor units of the base currency (RUB): rub(200000) is 20,000,000.
    "rub": lambda n: int(Decimal(str(n)) * 100),
}

_ORDER = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_EQUALITY = (ast.Eq, ast.NotEq, ast.In, ast.NotIn, ast.Is, ast.IsNot)
_ARITH = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
}


def _cmp(op: ast.cmpop, left: Fn, right: Fn) -> Fn:
    if isinstance(op, ast.Eq):
        return lambda c: left(c) == right(c)
    if isinstance(op, ast.NotEq):
        return lambda c: left(c) != right(c)
    if isinstance(op, (ast.In, ast.NotIn)):
        negate = isinstance(op, ast.NotIn)

        def member(c: Ctx) -> bool:
            container = right(c)
            if container is None:
                return negate
            return (left(c) in container) != negate

        return member
    if isinstance(op, ast.Is) or isinstance(op, ast.IsNot):
        negate = isinstance(op, ast.IsNot)
        return lambda c: (left(c) is right(c)) != negate
    fn = _ORDER[type(op)]

    def order(c: Ctx) -> bool:
        a = left(c)
        if a is None:
            return False
        b = right(c)
        return b is not None and fn(a, b)

    return order


def _type_of_constant(value: Any) -> T:
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, (int, float)):
        return NUMBER
    if isinstance(value, str):
        return T("text", frozenset({value}))
    if isinstance(value, Typed):
        return value.type
    return ANY


class Typed:
    """A parameter value with a unit (rub(200000), hours(48)), folded at load time."""

    def __init__(self, value: Any, type: T) -> None:
        self.value, self.type = value, type


class Compiler:
    """Compiles expressions against a fixed set of names (the scope).

    ``names`` maps each name to its type (rules/types.py) — or is a plain collection of names,
    untyped. ``constants`` are names bound at load time (a pack's parameters): they are folded
    into the closures, so a parameter costs nothing per event.
    """

    def __init__(self, names: Collection[str] | Mapping[str, T], constants: Mapping[str, Any] | None = None) -> None:
        self.types: dict[str, T] = dict(names) if isinstance(names, Mapping) else {n: ANY for n in names}
        self.constants = dict(constants or {})
        for name, value in self.constants.items():
            self.types[name] = _type_of_constant(value)
        self.names = frozenset(self.types)
        self.macros: dict[str, ast.expr] = {}
        self._macro_fns: dict[str, Fn] = {}

    def define(self, name: str, source: str, where: str) -> None:
        """A named sub-expression (a pack's `let`), written once and used by several rules."""
        if name in self.names or name in self.macros:
            raise ExprError(where, f"{name!r} is already a name")
        fn = self.compile(source, where)
        self.macros[name] = self._parse(source, where)
        key = f"$let:{name}"
        missing = object()

        def memo(c: Ctx) -> Any:
            # Several rules of a pack share a `let`: it is evaluated once per event.
            value = c.get(key, missing)
            if value is missing:
                value = c[key] = fn(c)
            return value

        self._macro_fns[name] = memo

    def _parse(self, source: str, where: str, expand: bool = True) -> ast.expr:
        try:
            tree = ast.parse(source.strip(), mode="eval")
        except SyntaxError as exc:
            raise ExprError(where, f"syntax error: {exc.msg} in {source!r}") from None
        if not expand:
            return tree.body
        macros = self.macros

        class Expand(ast.NodeTransformer):
            def visit_Name(self, node: ast.Name) -> ast.AST:
                if node.id in macros:
                    return copy.deepcopy(macros[node.id])
                return node

        return Expand().visit(tree).body

    def compile(self, source: str, where: str = "<expr>") -> Fn:
        self._where = where
        tree = ast.Expression(self._parse(source, where))
        called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
        for n in ast.walk(tree):
            if isinstance(n, ast.Name) and id(n) in called and n.id not in CONSTANT_FUNCS:
                raise self._fail(n, f"unknown function {n.id!r}; allowed: {sorted(CONSTANT_FUNCS)}")
            if isinstance(n, ast.Name) and n.id not in self.names and n.id not in CONSTANT_FUNCS:
                raise self._fail(n, f"unknown name {n.id!r}")
        TypeChecker(self.types, self._fail).check(tree.body)
        # Checked expanded; compiled with each `let` as one shared, memoised closure.
        return self._node(self._parse(source, where, expand=False))

    def names_used(self, source: str) -> set[str]:
        tree = self._parse(source, "<expr>")
        return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id not in CONSTANT_FUNCS}

    def _fail(self, node: ast.AST, problem: str) -> ExprError:
        return ExprError(self._where, f"{problem} (column {getattr(node, 'col_offset', 0) + 1})")

    def _const(self, node: ast.AST) -> Any:
        """The value of a constant sub-expression, or raises."""
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool, type(None))):
            return node.value
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return frozenset(self._const(e) for e in node.elts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -self._const(node.operand)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in CONSTANT_FUNCS:
            if node.keywords or len(node.args) != 1:
                raise self._fail(node, f"{node.func.id}() takes one constant argument")
            arg = self._const(node.args[0])
            if node.func.id == "date":
                try:
                    return CONSTANT_FUNCS["date"](str(arg))
                except ValueError:
                    raise self._fail(node, f"date() needs an ISO date, got {arg!r}") from None
            if not isinstance(arg, (int, float)) or isinstance(arg, bool):
                raise self._fail(node, f"{node.func.id}() needs a number, got {arg!r}")
            return CONSTANT_FUNCS[node.func.id](arg)
        raise self._fail(node, "not a constant")

    def _name_vs_constant(self, node: ast.Compare) -> Fn | None:
        """`feature OP constant`, the commonest condition, as one closure instead of three calls."""
        if len(node.ops) != 1:
            return None
        if isinstance(node.ops[0], (ast.In, ast.NotIn)) and isinstance(node.comparators[0], ast.Name):
            return self._constant_in_name(node)
        if not isinstance(node.left, ast.Name):
            return None
        name = node.left.id
        if name in self._macro_fns or name in self.constants or name not in self.names:
            return None
        try:
            const = self._const(node.comparators[0])
        except ExprError:
            return None
        op = node.ops[0]
        key = name
        if type(op) in _ORDER and const is not None:
            fn = _ORDER[type(op)]

            def order(c: Ctx) -> bool:
                try:
                    a = c[key]
                except KeyError:
                    return False
                return a is not None and fn(a, const)

            return order
        if isinstance(op, (ast.Eq, ast.NotEq)):
            negate = isinstance(op, ast.NotEq)

            def equal(c: Ctx) -> bool:
                try:
                    a = c[key]
                except KeyError:
                    a = None
                return (a == const) != negate

            return equal
        return None

    def _constant_in_name(self, node: ast.Compare) -> Fn | None:
        """`'list' in recipient_lists`: the lists' test, as one closure."""
        name = node.comparators[0].id  # type: ignore[attr-defined]
        if name in self._macro_fns or name in self.constants or name not in self.names:
            return None
        try:
            const = self._const(node.left)
        except ExprError:
            return None
        negate = isinstance(node.ops[0], ast.NotIn)

        def member_of(c: Ctx) -> bool:
            try:
                container = c[name]
            except KeyError:
                return negate
            if container is None:
                return negate
            return (const in container) != negate

        return member_of

    def _folded(self, node: ast.AST) -> tuple[bool, Any]:
        """(True, value) for a constant sub-expression, (False, None) otherwise; a call of a known
        function with a bad argument is an error here (every interpreter of the language uses it)."""
        try:
            return True, self._const(node)
        except ExprError:
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in CONSTANT_FUNCS:
                raise
            return False, None

    def _node(self, node: ast.AST) -> Fn:
        is_const, value = self._folded(node)
        if is_const:
            return lambda c: value

        if isinstance(node, ast.Name) and node.id in self._macro_fns:
            return self._macro_fns[node.id]
        if isinstance(node, ast.Name):
            if node.id not in self.names:
                raise self._fail(node, f"unknown name {node.id!r}")
            if node.id in self.constants:
                const = self.constants[node.id]
                if isinstance(const, Typed):
                    const = const.value
                return lambda c: const
            key = node.id

            def name(c: Ctx) -> Any:
                try:
                    return c[key]  # a LazyView computes a feature here, the first time it is named
                except KeyError:
                    return None

            return name
        if isinstance(node, ast.BoolOp):
            parts = [self._node(v) for v in node.values]
            return _all_of(parts) if isinstance(node.op, ast.And) else _any_of(parts)
        if isinstance(node, ast.UnaryOp):
            inner = self._node(node.operand)
            if isinstance(node.op, ast.Not):
                return lambda c: not inner(c)
            if isinstance(node.op, ast.USub):
                return lambda c: None if (v := inner(c)) is None else -v
            raise self._fail(node, "unsupported unary operator")
        if isinstance(node, ast.Compare):
            fast = self._name_vs_constant(node)
            if fast is not None:
                return fast
            left = self._node(node.left)
            tests: list[Fn] = []
            for op, comp in zip(node.ops, node.comparators):
                if type(op) not in _ORDER and not isinstance(op, _EQUALITY):
                    raise self._fail(node, "unsupported comparison")
                right = self._node(comp)
                tests.append(_cmp(op, left, right))
                left = right
            if len(tests) == 1:
                return tests[0]
            return lambda c: all(t(c) for t in tests)
        if isinstance(node, ast.BinOp):
            fn = _ARITH.get(type(node.op))
            if fn is None:
                raise self._fail(node, "unsupported arithmetic operator")
            a, b = self._node(node.left), self._node(node.right)

            def arith(c: Ctx) -> Any:
                x, y = a(c), b(c)
                if x is None or y is None:
                    return None
                if fn is operator.truediv and not y:
                    return None
                return fn(x, y)
            return arith
        if isinstance(node, ast.IfExp):
            test, then, other = self._node(node.test), self._node(node.body), self._node(node.orelse)
            return lambda c: then(c) if test(c) else other(c)
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise self._fail(node, f"unknown function {name!r}; allowed: {sorted(CONSTANT_FUNCS)}")
        raise self._fail(node, f"{type(node).__name__} is not allowed in a rule expression")


# Two and three parts are most conditions: unrolled, they skip a loop per evaluation.
def _all_of(parts: list[Fn]) -> Fn:
    if len(parts) == 2:
        a, b = parts
        return lambda c: True if a(c) and b(c) else False
    if len(parts) == 3:
        a, b, d = parts
        return lambda c: True if a(c) and b(c) and d(c) else False

    def all_of(c: Ctx) -> bool:
        for p in parts:
            if not p(c):
                return False
        return True
    return all_of


def _any_of(parts: list[Fn]) -> Fn:
    if len(parts) == 2:
        a, b = parts
        return lambda c: True if a(c) or b(c) else False
    if len(parts) == 3:
        a, b, d = parts
        return lambda c: True if a(c) or b(c) or d(c) else False

    def any_of(c: Ctx) -> bool:
        for p in parts:
            if p(c):
                return True
        return False
    return any_of
