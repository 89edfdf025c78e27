"""The formula parser whitelists syntax and never executes anything."""

import pytest

from lossevo.loss.expr import LossExpr
from lossevo.loss.formula import FormulaError, parse_formula, tree_to_text

HOSTILE = [
    "__import__('os').system('touch {marker}')",
    "y_pred.__class__.__bases__",
    "().__class__.__mro__[1].__subclasses__()",
    "(lambda: __import__('os').system('touch {marker}'))()",
    "[x for x in (1, 2)]",
    "{{1: 2}}",
    "open('{marker}', 'w')",
    "y_pred if y_real else 0",
    "exec('1')",
    "eval('1')",
    "y_pred ** 99999999999",
    "y_pred ** y_real",
    "9" * 400 + " * y_pred",
    "1e999 * y_pred",
    "y_pred + " * 400 + "y_real",
    "(" * 5000 + "y_pred" + ")" * 5000,
    "y_pred; import os",
    "sqrt(y_pred, key=1)",
    "f'{{y_pred}}'",
    "y_pred @ y_real",
    "not y_pred",
    "y_pred < y_real",
    "'text'",
    "True * y_pred",
    "x_pred + 1",
    "",
]


@pytest.mark.parametrize("template", HOSTILE)
def test_hostile_formulas_raise_one_line_and_execute_nothing(template, tmp_path):
    marker = tmp_path / "pwned"
    text = template.format(marker=marker)
    with pytest.raises(FormulaError) as info:
        parse_formula(text)
    message = str(info.value)
    assert message and "\n" not in message and len(message) < 400
    assert not marker.exists()


@pytest.mark.parametrize(
    "text",
    [
        "y_pred**3 + sqrt(abs(3.985*y_real/y_pred))",
        "-(y_real*log(y_pred) + (1 - y_real)*log(1 - y_pred))",
        "max(0, 1 - y_pred)*y_real - min(y_pred, 2.5) + tanh(sigmoid(y_pred))",
        "exp(-y_pred) * cos(sin(y_real)) / square(cube(y_pred - 0.5))",
    ],
)
def test_formulas_round_trip_through_text(text):
    tree = parse_formula(text)
    again = parse_formula(tree_to_text(tree))
    assert LossExpr.from_tree(again).key == LossExpr.from_tree(tree).key


def test_errors_name_the_problem():
    with pytest.raises(FormulaError, match="unknown function 'foo'"):
        parse_formula("foo(y_pred)")
    with pytest.raises(FormulaError, match="unknown name 'x'"):
        parse_formula("x + y_pred")
    with pytest.raises(FormulaError, match="takes 2 argument"):
        parse_formula("max(y_pred)")
    with pytest.raises(FormulaError, match="not in this search space"):
        parse_formula("sin(y_pred)", allowed_ops={"add"})
