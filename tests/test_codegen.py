"""The torch printer: helpers defined once, each argument printed once, values as SymPy's."""

import sympy as sp
import torch

from lossevo.loss import codegen
from lossevo.loss.ops import Y_PRED, Y_REAL, guard


def test_heaviside_prints_its_argument_once_with_the_value_at_zero():
    inner = Y_PRED - Y_REAL
    for _ in range(12):
        inner = sp.Heaviside(inner, 1) + Y_PRED
    source = codegen.function_source(inner)
    assert source.count("def _step") == 1 and len(source) < 2000
    y_pred = torch.tensor([0.0, 0.25, 1.0], dtype=torch.float64)
    y_real = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    at_one = codegen.compile_torch(sp.Heaviside(Y_PRED - Y_REAL, 1))(y_real, y_pred)
    at_zero = codegen.compile_torch(sp.Heaviside(Y_PRED - Y_REAL, 0))(y_real, y_pred)
    assert at_one.tolist() == [1.0, 0.0, 1.0] and at_zero.tolist() == [0.0, 0.0, 0.0]
    assert at_one.dtype == torch.float64


def test_guard_helper_matches_its_sympy_definition():
    fn = codegen.compile_torch(Y_REAL / guard(Y_PRED))
    y_pred = torch.tensor([-0.5, 0.0, 1e-9, 2.0], dtype=torch.float64)
    expected = [1 / float(guard(sp.Float(v))) for v in y_pred.tolist()]
    torch.testing.assert_close(fn(torch.ones_like(y_pred), y_pred).tolist(), expected)


def test_only_used_helpers_are_emitted():
    assert "def _" not in codegen.function_source(Y_PRED * Y_REAL)


def test_latex_prints_powers_of_guard_and_sigmoid():
    """SymPy passes the exponent to a function's printer; random trees hit guard(b)**2 at once."""
    from lossevo.loss.ops import sigmoid

    x = sp.Symbol("x")
    assert sp.latex(guard(x) ** 2) == r"\operatorname{guard}\left(x\right)^{2}"
    assert sp.latex(1 / sigmoid(x) ** 3) == r"\frac{1}{\sigma\left(x\right)^{3}}"
