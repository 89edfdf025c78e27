"""Deep and long formulas: a one-line FormulaError, or torch code linear in the formula's size.

Nested protected division used to print its argument three times per level (3**depth source);
deep text used to reach Python's recursion limit inside SymPy's printers.
"""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lossevo.loss.expr import LossExpr
from lossevo.loss.formula import (
    MAX_DEPTH,
    MAX_FORMULA_CHARS,
    MAX_NODES,
    FormulaError,
    parse_formula,
    tree_size,
)
from lossevo.loss.ops import OPS

#: Generated source per node of the formula's tree, with room for constants and guards.
CHARS_PER_NODE = 250
UNARY = sorted(name for name, op in OPS.items() if op.arity == 1)
BINARY = sorted(name for name, op in OPS.items() if op.arity == 2)
INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/"}


def nested(template: str, depth: int, inner: str = "y_pred") -> str:
    for _ in range(depth):
        inner = template.format(inner)
    return inner


def assert_linear(loss: LossExpr, text: str) -> None:
    nodes = tree_size(parse_formula(text))
    source = loss.torch_source
    assert len(source) <= CHARS_PER_NODE * nodes + 400, (len(source), nodes)


def test_nested_division_is_linear_and_equals_plain_recursion():
    depth = MAX_DEPTH - 2
    text = nested("y_real/({})", depth)
    loss = LossExpr.from_text(text)
    assert_linear(loss, text)
    assert loss.torch_source.count("torch.where") == 1  # the guard helper, defined once
    y_pred = torch.linspace(0.05, 0.95, 19, dtype=torch.float64, requires_grad=True)
    y_real = torch.full_like(y_pred, 0.7)

    def by_hand(p):
        value = p
        for _ in range(depth):
            value = y_real / torch.where(value >= 0, value + 1e-8, value - 1e-8)
        return value

    ours = loss.torch_fn()(y_real, y_pred)
    theirs = by_hand(y_pred)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=0)
    (g1,) = torch.autograd.grad(ours.sum(), y_pred)
    (g2,) = torch.autograd.grad(theirs.sum(), y_pred)
    torch.testing.assert_close(g1, g2, rtol=1e-10, atol=0)


@pytest.mark.parametrize(
    "text, match",
    [
        (nested("y_real/({})", 100), "parentheses deep"),
        (nested("sqrt({})", MAX_DEPTH), "levels deep"),
        (nested("(y_real + {})", MAX_DEPTH), "levels deep"),  # real nesting, not a flat chain
        ("-" * 1500 + "y_pred", "levels deep"),
        ("y_pred**" * 200 + "2", "exponent"),
        ("square(" * 60 + "y_pred" + ")" * 60, "levels deep"),
        ("(" * 100_000 + "y_pred" + ")" * 100_000, "characters long"),
        (" + ".join(f"(y_pred * {i})" for i in range(300)), "characters long|nodes"),
    ],
)
def test_too_deep_or_too_long_is_one_line(text, match):
    with pytest.raises(FormulaError, match=match) as info:
        LossExpr.from_text(text)
    assert "\n" not in str(info.value) and len(str(info.value)) < 300


def test_limits_leave_room_for_what_users_write():
    grouped = nested("({} + y_real)", MAX_DEPTH - 1)
    assert tree_size(parse_formula(grouped)) == 2 * MAX_DEPTH - 1
    twelve = "+".join(f"sqrt({i}.5*y_pred*y_real)" for i in range(12))
    assert len(twelve) > 255 and LossExpr.from_text(twelve).torch_source
    assert MAX_NODES >= 400 and MAX_FORMULA_CHARS >= 2000


def _wrap(inner: str, step: tuple) -> str:
    op, other, left = step
    if op in UNARY:
        return f"{op}({inner})"
    a, b = (inner, other) if left else (other, inner)
    if op in INFIX and left:
        return f"({a} {INFIX[op]} {b})"
    return f"{op}({a}, {b})"


OPERAND = st.sampled_from(["y_real", "y_pred", "0.5", "3.985", "-2.0", "1e-3"])
STEP = st.tuples(st.sampled_from(UNARY + BINARY), OPERAND, st.booleans())


@st.composite
def deep_formulas(draw):
    """A chain of random operators around a leaf, from shallow to past MAX_DEPTH."""
    text = draw(st.sampled_from(["y_real", "y_pred"]))
    for step in draw(st.lists(STEP, max_size=MAX_DEPTH + 12)):
        text = _wrap(text, step)
    return text


@st.composite
def long_formulas(draw):
    """Many deep-ish terms summed in groups, past MAX_NODES and MAX_FORMULA_CHARS."""
    terms = draw(st.lists(deep_formulas(), min_size=1, max_size=24))
    text = terms[0]
    for term in terms[1:]:
        text = f"({text}) + ({term})" if draw(st.booleans()) else f"{text} * {term}"
    return text


def _check(text: str) -> None:
    try:
        loss = LossExpr.from_text(text)
    except FormulaError as err:
        assert "\n" not in str(err)
        return
    assert_linear(loss, text)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deep_formulas())
def test_deep_random_formulas_are_refused_or_linear(text):
    _check(text)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(long_formulas())
def test_long_random_formulas_are_refused_or_linear(text):
    _check(text)
