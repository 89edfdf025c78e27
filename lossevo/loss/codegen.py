"""Torch source code generated from a SymPy loss expression, by a printer the project controls.

The output is the body of ``def loss(y_real, y_pred)`` using only ``torch``: it is what training
runs and what ``export`` writes, so the trained and the exported function are the same text.
Constants are Python floats (torch keeps the input's dtype and device); Min/Max with a number
become ``torch.clamp``, otherwise ``torch.minimum``/``torch.maximum``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import sympy as sp

from lossevo.loss.ops import EPS, Y_PRED, guard, sigmoid

FUNCTION_NAME = "loss"

_UNARY = {
    sp.Abs: "torch.abs",
    sp.exp: "torch.exp",
    sp.log: "torch.log",
    sp.sin: "torch.sin",
    sp.cos: "torch.cos",
    sp.tanh: "torch.tanh",
    sigmoid: "torch.sigmoid",
}


class UnsupportedExpression(ValueError):
    """The expression holds a function the torch printer does not know."""


def _number(value: float) -> str:
    if not math.isfinite(value):
        raise UnsupportedExpression(f"non-finite constant {value}")
    return repr(float(value))


def to_torch_source(expr: sp.Expr) -> str:
    """A Python expression over ``y_real``/``y_pred`` tensors equal to ``expr``."""
    return _print(sp.sympify(expr))


def _print(e: sp.Basic) -> str:
    if isinstance(e, sp.Symbol):
        return e.name
    if e.is_Number or e in (sp.pi, sp.E):
        return _number(float(e))
    if isinstance(e, sp.Add):
        return "(" + " + ".join(_print(a) for a in e.args) + ")"
    if isinstance(e, sp.Mul):
        numer, denom = [], []
        for factor in e.args:
            base, exp = factor.as_base_exp()
            if exp.is_Number and exp < 0:
                denom.append(base if exp == -1 else sp.Pow(base, -exp, evaluate=False))
            else:
                numer.append(factor)
        text = " * ".join(_print(a) for a in numer) if numer else "1.0"
        if denom:
            text = f"({text}) / ({' * '.join(_print(d) for d in denom)})"
        return f"({text})"
    if isinstance(e, sp.Pow):
        return _print_pow(e.base, e.exp)
    if isinstance(e, sp.Heaviside):
        arg = _print(e.args[0])
        at_zero = e.args[1] if len(e.args) > 1 else sp.Rational(1, 2)
        if at_zero == 1:
            return f"({arg} >= 0).to({arg}.dtype)"
        if at_zero == 0:
            return f"({arg} > 0).to({arg}.dtype)"
        raise UnsupportedExpression("Heaviside with a value at 0 other than 0 or 1")
    if isinstance(e, sp.re):  # every operator maps reals to reals: re() is the identity here
        return _print(e.args[0])
    if isinstance(e, sp.im):
        return f"(0.0 * {_print(e.args[0])})"
    if isinstance(e, guard):
        arg = _print(e.args[0])
        return f"torch.where({arg} >= 0, {arg} + {EPS!r}, {arg} - {EPS!r})"
    if isinstance(e, sp.Min | sp.Max):
        return _print_minmax(e)
    func = _UNARY.get(type(e))
    if func is not None:
        return f"{func}({_print(e.args[0])})"
    raise UnsupportedExpression(f"no torch translation for {type(e).__name__}: {e}")


def _print_pow(base: sp.Expr, exp: sp.Expr) -> str:
    b = _print(base)
    if exp == sp.Rational(1, 2):
        return f"torch.sqrt({b})"
    if exp == -1:
        return f"(1.0 / {b})"
    if exp == sp.Rational(-1, 2):
        return f"torch.rsqrt({b})"
    if exp.is_Integer:
        return f"({b} ** {int(exp)})"
    if exp.is_Number:
        return f"torch.pow({b}, {_number(float(exp))})"
    return f"torch.pow({b}, {_print(exp)})"


def _print_minmax(e: sp.Basic) -> str:
    is_min = isinstance(e, sp.Min)
    numbers = [a for a in e.args if a.is_Number]
    others = [a for a in e.args if not a.is_Number]
    text = _print(others[0])
    for other in others[1:]:
        text = f"torch.{'minimum' if is_min else 'maximum'}({text}, {_print(other)})"
    if numbers:
        bound = _number(float(numbers[0]))
        text = f"torch.clamp({text}, {'max' if is_min else 'min'}={bound})"
    return text


def function_source(expr: sp.Expr, name: str = FUNCTION_NAME) -> str:
    """Source of ``def name(y_real, y_pred)`` returning the element-wise loss tensor.

    Common subexpressions become local variables (each is computed once). A result that does
    not depend on y_pred is broadcast to its shape, so every loss returns one value per element.
    """
    temporaries, (reduced,) = sp.cse(expr, symbols=sp.numbered_symbols("_t"), list=True)
    lines = [f"def {name}(y_real, y_pred):"]
    lines += [f"    {symbol.name} = {to_torch_source(value)}" for symbol, value in temporaries]
    body = to_torch_source(reduced)
    if Y_PRED not in expr.free_symbols:
        body = f"0.0 * y_pred + {body}"
    lines.append(f"    return {body}")
    return "\n".join(lines) + "\n"


def compile_torch(expr: sp.Expr) -> Callable:
    """The generated function as a callable, compiled from :func:`function_source`.

    The source is produced by our own printer from a SymPy tree, never from user text.
    """
    import torch

    namespace: dict = {"torch": torch}
    code = compile(function_source(expr), f"<lossevo {expr}>", "exec")
    exec(code, namespace)  # noqa: S102 - our printer's output, see docstring
    return namespace[FUNCTION_NAME]
