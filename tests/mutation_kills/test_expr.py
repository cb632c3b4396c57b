"""rules/expr.py: the rule language's semantics, operator by operator, found by mutation testing
(docs/mutation.md). A wrong line here makes a rule fire when it should not (a declined payment) or stay
silent when it should fire (a theft let through), on every event, for every pack.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from qalqan.rules.expr import CONSTANT_FUNCS, US, Compiler, ExprError, Typed
from qalqan.rules.types import COUNT, MONEY, NUMBER, T

NAMES = {"a": NUMBER, "b": NUMBER, "n": COUNT, "amt": MONEY, "rail": T("text", frozenset({"sbp", "swift"})),
         "lists": T("set"), "x": T("any")}


def ev(source: str, ctx: dict | None = None, constants: dict | None = None) -> object:
    return Compiler(NAMES, constants).compile(source)(dict(ctx or {}))


def test_the_constant_functions_give_microseconds_and_kopecks():
    assert CONSTANT_FUNCS["seconds"](1.5) == 1_500_000 and US == 1_000_000
    assert CONSTANT_FUNCS["minutes"](2) == 120 * US and CONSTANT_FUNCS["hours"](1) == 3600 * US
    assert CONSTANT_FUNCS["days"](1) == 86400 * US
    assert CONSTANT_FUNCS["rub"](200000) == 20_000_000 and CONSTANT_FUNCS["rub"](0.1) == 10
    assert CONSTANT_FUNCS["date"]("2026-02-01") == int(datetime(2026, 2, 1, tzinfo=UTC).timestamp()) * US
    assert ev("hours(2)") == 7200 * US and ev("rub(1.5)") == 150 and ev("date('2026-02-01')") == 1769904000 * US


@pytest.mark.parametrize("source, ctx, want", [
    # the fast path: a name against a constant
    ("a > 5", {"a": 6}, True), ("a > 5", {"a": 5}, False), ("a >= 5", {"a": 5}, True), ("a >= 5", {"a": 4}, False),
    ("a < 5", {"a": 4}, True), ("a < 5", {"a": 5}, False), ("a <= 5", {"a": 5}, True), ("a <= 5", {"a": 6}, False),
    ("a > 5", {}, False), ("a > 5", {"a": None}, False), ("a < 5", {"a": None}, False),
    ("a == 5", {"a": 5}, True), ("a == 5", {"a": 4}, False), ("a == 5", {}, False),
    ("a != 5", {"a": 5}, False), ("a != 5", {"a": 4}, True), ("a != 5", {}, True),
    ("a == None", {}, True), ("a != None", {"a": 1}, True),
    ("rail == 'sbp'", {"rail": "sbp"}, True), ("rail != 'sbp'", {"rail": "swift"}, True),
    # the general path: both sides computed
    ("a > b", {"a": 2, "b": 1}, True), ("a > b", {"a": 1, "b": 1}, False), ("a >= b", {"a": 1, "b": 1}, True),
    ("a < b", {"a": 1, "b": 2}, True), ("a <= b", {"a": 2, "b": 1}, False),
    ("a > b", {"a": None, "b": 1}, False), ("a > b", {"a": 2, "b": None}, False), ("a < b", {"b": 1}, False),
    ("a == b", {"a": 1, "b": 1}, True), ("a == b", {"a": 1, "b": 2}, False),
    ("a != b", {"a": 1, "b": 2}, True), ("a != b", {"a": 1, "b": 1}, False),
    ("a + 0 > 5", {"a": 6}, True), ("5 < a", {"a": 6}, True), ("5 < a", {"a": 5}, False), ("5 < a", {}, False),
    ("a is None", {}, True), ("a is None", {"a": 0}, False), ("a is not None", {"a": 0}, True),
    ("a is not None", {}, False),
    # chains: every link must hold
    ("1 < a < 3", {"a": 2}, True), ("1 < a < 3", {"a": 3}, False), ("1 < a < 3", {"a": 1}, False),
    ("a < b < 10", {"a": 1, "b": 5}, True), ("a < b < 10", {"a": 6, "b": 5}, False),
])
def test_comparisons(source, ctx, want):
    assert ev(source, ctx) is want


@pytest.mark.parametrize("source, ctx, want", [
    ("rail in ('sbp', 'swift')", {"rail": "sbp"}, True), ("rail in ('sbp', 'swift')", {"rail": "x"}, False),
    ("rail not in ('sbp', 'swift')", {"rail": "x"}, True), ("rail not in ('sbp', 'swift')", {"rail": "sbp"}, False),
    ("rail in ('sbp', 'swift')", {}, False), ("rail not in ('sbp', 'swift')", {}, True),
    # a constant in a name (the lists' test)
    ("'fincert' in lists", {"lists": {"fincert"}}, True), ("'fincert' in lists", {"lists": set()}, False),
    ("'fincert' in lists", {}, False), ("'fincert' in lists", {"lists": None}, False),
    ("'fincert' not in lists", {"lists": {"fincert"}}, False), ("'fincert' not in lists", {}, True),
    ("'fincert' not in lists", {"lists": None}, True), ("'fincert' not in lists", {"lists": {"x"}}, True),
    # computed on both sides
    ("rail in x", {"rail": "a", "x": ["a"]}, True), ("rail in x", {"rail": "a", "x": ["b"]}, False),
    ("rail in x", {"rail": "a"}, False), ("rail in x", {"rail": "a", "x": None}, False),
    ("rail not in x", {"rail": "a"}, True), ("rail not in x", {"rail": "a", "x": ["a"]}, False),
    ("rail not in x", {"rail": "a", "x": ["b"]}, True),
])
def test_membership_and_a_missing_container(source, ctx, want):
    assert ev(source, ctx) is want


@pytest.mark.parametrize("source, ctx, want", [
    ("a + b", {"a": 2, "b": 3}, 5), ("a - b", {"a": 2, "b": 3}, -1), ("a * b", {"a": 2, "b": 3}, 6),
    ("a / b", {"a": 3, "b": 2}, 1.5), ("a % b", {"a": 7, "b": 4}, 3),
    ("a + b", {"a": 2}, None), ("a * b", {"b": 2}, None), ("a / b", {"a": 1, "b": 0}, None),
    ("a / b", {"a": 0, "b": 2}, 0.0), ("a % b", {"a": 7, "b": None}, None),
    ("-a", {"a": 2}, -2), ("-a", {}, None), ("-a", {"a": 0}, 0), ("-(a + 1)", {"a": 1}, -2),
    ("not a", {"a": 0}, True), ("not a", {"a": 1}, False),
    ("a if b else 7", {"a": 1, "b": True}, 1), ("a if b else 7", {"a": 1, "b": False}, 7),
    ("a if b > 1 else n", {"a": 1, "b": 2, "n": 3}, 1), ("a if b > 1 else n", {"a": 1, "b": 0, "n": 3}, 3),
    ("-5", {}, -5), ("(1, 2)", {}, frozenset({1, 2})), ("x", {"x": "v"}, "v"), ("x", {}, None),
])
def test_arithmetic_unary_and_conditional_values(source, ctx, want):
    got = ev(source, ctx)
    assert got == want and type(got) is type(want)


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_and_or_of_any_number_of_parts(k):
    names = [f"a > {i}" for i in range(k)]
    both, either = " and ".join(names), " or ".join(names)
    for a in range(-1, k + 1):
        assert ev(both, {"a": a}) is (a > k - 1), (k, a)
        assert ev(either, {"a": a}) is (a > 0), (k, a)
    # every part counts, whatever its place
    for i in range(k):
        only = [f"a == {j}" if j == i else "a == -9" for j in range(k)]
        assert ev(" or ".join(only), {"a": i}) is True
        assert ev(" or ".join(only), {"a": 100}) is False
        all_but = [f"a != {j}" if j == i else "a != -9" for j in range(k)]
        assert ev(" and ".join(all_but), {"a": i}) is False
        assert ev(" and ".join(all_but), {"a": 100}) is True


@pytest.mark.parametrize("k", [2, 3, 4])
def test_and_or_stop_at_the_first_answer(k):
    seen: list[str] = []

    class Lazy(dict):
        def __missing__(self, key):
            seen.append(key)
            raise KeyError(key)

    names = [f"v{i}" for i in range(k)]
    c = Compiler(names)
    assert c.compile(" or ".join(names))(Lazy({"v0": 1})) is True and seen == []
    assert c.compile(" and ".join(names))(Lazy({"v0": 0})) is False and seen == []


def test_parameters_are_folded_as_their_values():
    constants = {"limit": Typed(500, MONEY), "k": 3, "tag": "sbp"}
    assert ev("amt > limit", {"amt": 501}, constants) is True and ev("amt > limit", {"amt": 500}, constants) is False
    assert ev("n >= k", {"n": 3}, constants) is True and ev("n + k", {"n": 1}, constants) == 4
    assert ev("limit", {}, constants) == 500 and ev("k", {"k": 99}, constants) == 3
    assert ev("rail == tag", {"rail": "sbp"}, constants) is True
    assert ev("tag in lists", {"lists": {"sbp"}}, constants) is True and ev("tag in lists", {}, constants) is False
    assert ev("k in lists", {"lists": {3}}, constants) is True
    c = Compiler(NAMES, constants)
    assert c.types["limit"] == MONEY and c.types["k"] == NUMBER and c.types["tag"] == T("text", frozenset({"sbp"}))
    assert Compiler(NAMES, {"f": True}).types["f"].kind == "bool"
    assert Compiler(NAMES, {"o": None}).types["o"].kind == "any"
    assert Compiler(["p", "q"]).types == {"p": T("any"), "q": T("any")}


def test_a_let_is_evaluated_once_per_event_and_shared():
    calls: list[int] = []

    class Count(dict):
        def __getitem__(self, key):
            if key == "a":
                calls.append(1)
            return super().__getitem__(key)

    c = Compiler(NAMES)
    c.define("big", "a > 5", "p.yaml: let big")
    ctx = Count({"a": 6})
    assert c.compile("big and n == None")(ctx) is True and c.compile("big or n > 1")(ctx) is True
    assert calls == [1] and ctx["$let:big"] is True
    assert c.compile("big")(Count({"a": 1})) is False
    assert c.compile("not big")({"a": 1}) is True
    assert c.names_used("big and n > 1") == {"a", "n"}  # a let's names are its expression's
    with pytest.raises(ExprError, match="'big' is already a name"):
        c.define("big", "a > 1", "w")
    with pytest.raises(ExprError, match="'a' is already a name"):
        c.define("a", "a > 1", "w")


def test_names_used_leaves_out_the_functions():
    assert Compiler(NAMES).names_used("a > hours(1) and rail in ('sbp',) or n") == {"a", "rail", "n"}


@pytest.mark.parametrize("source, message", [
    ("a > ", "where: syntax error: "),
    ("open('x')", "where: unknown function 'open'; allowed: ['date', 'days', 'hours', 'minutes', 'rub', 'seconds']"),
    ("zz > 1", "where: unknown name 'zz' (column 1)"),
    ("a > 1 and zz", "where: unknown name 'zz' (column 11)"),
    ("a.real", "where: Attribute is not allowed in a rule expression (column 1)"),
    ("a[0]", "where: Subscript is not allowed in a rule expression (column 1)"),
    ("hours(1, 2)", "where: hours() takes one constant argument (column 1)"),
    ("hours(n=1)", "where: hours() takes one constant argument (column 1)"),
    ("hours('x')", "where: hours() needs a number, got 'x' (column 1)"),
    ("hours(True)", "where: hours() needs a number, got True (column 1)"),
    ("date('soon')", "where: date() needs an ISO date, got 'soon' (column 1)"),
    ("x > hours(x)", "where: not a constant (column 11)"),
    ("a ** 2", "where: unsupported arithmetic operator (column 1)"),
    ("~a", "where: unsupported unary operator (column 1)"),
    ("a // 2", "where: unsupported arithmetic operator"),
])
def test_what_is_refused_is_named_with_its_column(source, message):
    with pytest.raises(ExprError) as info:
        Compiler(NAMES).compile(source, "where")
    assert str(info.value).startswith(message), str(info.value)
    assert info.value.where == "where"


def test_an_error_keeps_where_and_problem_apart():
    e = ExprError("p.yaml:3", "unknown name 'x'")
    assert (e.where, e.problem, str(e)) == ("p.yaml:3", "unknown name 'x'", "p.yaml:3: unknown name 'x'")


# --- second pass: the survivors of the first `make mutate-expr` with the tests above ---------------------
@pytest.mark.parametrize("source, message", [
    ("a > 1 and open('x')", "unknown function 'open'; allowed: ['date', 'days', 'hours', 'minutes', 'rub', 'seconds'] "
                            "(column 11)"),
    ("a > 1 and hours", "unknown name 'hours' (column 11)"),  # a function's name alone is no value
    ("a > 1 and hours(1, 2) > x", "hours() takes one constant argument (column 11)"),
    ("a > 1 and date('soon') > x", "date() needs an ISO date, got 'soon' (column 11)"),
    ("a > 1 and hours('x') > x", "hours() needs a number, got 'x' (column 11)"),
    ("a > 1 and ~a", "unsupported unary operator (column 11)"),
    ("a > 1 and a ** 2", "unsupported arithmetic operator (column 11)"),
    ("a > 1 and a.b(1)", "unknown function 'a.b'; allowed: ['date', 'days', 'hours', 'minutes', 'rub', 'seconds'] "
                         "(column 11)"),
    ("a > 1 and a.real", "Attribute is not allowed in a rule expression (column 11)"),
])
def test_an_error_inside_an_expression_names_its_own_column(source, message):
    with pytest.raises(ExprError) as info:
        Compiler(NAMES).compile(source, "p.yaml:3")
    assert info.value.problem == message and info.value.where == "p.yaml:3"


def test_errors_say_where_even_in_a_let_or_with_no_place_given():
    c = Compiler(NAMES)
    with pytest.raises(ExprError) as info:
        c.define("bad", "zz > 1", "p.yaml: let bad")
    assert info.value.where == "p.yaml: let bad"
    c.define("ok", "a > 1", "p.yaml: let ok")
    with pytest.raises(ExprError) as info:
        c.define("ok", "a > 2", "p.yaml: let ok again")
    assert info.value.where == "p.yaml: let ok again"
    with pytest.raises(ExprError) as info:
        c.compile("zz")
    assert info.value.where == "<expr>"
    with pytest.raises(ExprError) as info:
        c.names_used("a >")
    assert info.value.where == "<expr>" and info.value.problem.startswith("syntax error")


def test_a_let_whose_value_is_unknown_is_still_evaluated_once():
    calls: list[int] = []

    class Count(dict):
        def __getitem__(self, key):
            if key == "a":
                calls.append(1)
            return super().__getitem__(key)

    c = Compiler(NAMES)
    c.define("total", "a + b", "let total")  # None when b is missing
    ctx = Count({"a": 1})
    assert c.compile("total")(ctx) is None and c.compile("total == None")(ctx) is True
    assert calls == [1]


@pytest.mark.parametrize("source, ctx, want", [
    ("a in (-1, 2)", {"a": -1}, True), ("a in (-1, 2)", {"a": 1}, False),  # a negative constant in a list
    ("a < 5 < b", {"a": 1, "b": 0}, False), ("a < 5 < b", {"a": 1, "b": 9}, True),  # the chain's second link
    ("a < 5 < b", {"a": 6, "b": 9}, False), ("a < 5 <= b < 7", {"a": 1, "b": 7}, False),
    ("a > None", {"a": 1}, False), ("a == None", {"a": None}, True),
])
def test_chains_negative_constants_and_none(source, ctx, want):
    assert ev(source, ctx) is want


def test_a_parameter_is_its_value_on_either_side_of_a_comparison():
    constants = {"k": 3, "tags": frozenset({"sbp"})}
    assert ev("k >= 3", {}, constants) is True and ev("k == 3", {}, constants) is True
    assert ev("k < 3", {"k": 1}, constants) is False  # the event's own `k` is no parameter
    assert ev("'sbp' in tags", {}, constants) is True and ev("'swift' not in tags", {}, constants) is True
    assert ev("'sbp' not in tags", {"tags": set()}, constants) is False
