"""Torch source code generated from a SymPy loss expression, by a printer the project controls.

The output is ``def loss(y_real, y_pred)`` using only ``torch``, after the small helpers it calls
(``_guard``): it is what training runs and what ``export`` writes, so the trained and the
exported function are the same text. Its size is linear in the expression's: no argument is
printed more than once.
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


#: Helpers the generated code may call, emitted once above the loss function when used. A
#: protected operator evaluates its argument once, as a helper's parameter, so the source stays
#: linear in the expression's size (printing the argument at each use grew it 3**depth).
HELPERS = {
    "_guard": (f"def _guard(b):\n    return torch.where(b >= 0, b + {EPS!r}, b - {EPS!r})\n"),
    "_step": (
        "def _step(x, at_zero):\n    return ((x >= 0) if at_zero == 1 else (x > 0)).to(x.dtype)\n"
    ),
}


class TorchPrinter:
    """Prints a SymPy tree as one torch expression; ``helpers`` collects the helpers it calls."""

    def __init__(self) -> None:
        self.helpers: set[str] = set()

    def call(self, helper: str, *args: str) -> str:
        self.helpers.add(helper)
        return f"{helper}({', '.join(args)})"

    def guard(self, arg: str) -> str:
        """A denominator pushed away from zero (see ``ops.guard``), its argument printed once."""
        return self.call("_guard", arg)

    def print(self, e: sp.Basic) -> str:
        if isinstance(e, sp.Symbol):
            return e.name
        if e.is_Number or e in (sp.pi, sp.E):
            return _number(float(e))
        if isinstance(e, sp.Add):
            return "(" + " + ".join(self.print(a) for a in e.args) + ")"
        if isinstance(e, sp.Mul):
            return self._mul(e)
        if isinstance(e, sp.Pow):
            return self._pow(e.base, e.exp)
        if isinstance(e, sp.Heaviside):
            at_zero = e.args[1] if len(e.args) > 1 else sp.Rational(1, 2)
            if at_zero not in (0, 1):
                raise UnsupportedExpression("Heaviside with a value at 0 other than 0 or 1")
            return self.call("_step", self.print(e.args[0]), str(int(at_zero)))
        if isinstance(e, sp.re):  # every operator maps reals to reals: re() is the identity here
            return self.print(e.args[0])
        if isinstance(e, sp.im):
            return f"(0.0 * {self.print(e.args[0])})"
        if isinstance(e, guard):
            return self.guard(self.print(e.args[0]))
        if isinstance(e, sp.Min | sp.Max):
            return self._minmax(e)
        func = _UNARY.get(type(e))
        if func is not None:
            return f"{func}({self.print(e.args[0])})"
        raise UnsupportedExpression(f"no torch translation for {type(e).__name__}: {e}")

    def _mul(self, e: sp.Mul) -> str:
        numer, denom = [], []
        for factor in e.args:
            base, exp = factor.as_base_exp()
            if exp.is_Number and exp < 0:
                denom.append(base if exp == -1 else sp.Pow(base, -exp, evaluate=False))
            else:
                numer.append(factor)
        text = " * ".join(self.print(a) for a in numer) if numer else "1.0"
        if denom:
            text = f"({text}) / ({' * '.join(self.print(d) for d in denom)})"
        return f"({text})"

    def _pow(self, base: sp.Expr, exp: sp.Expr) -> str:
        b = self.print(base)
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
        return f"torch.pow({b}, {self.print(exp)})"

    def _minmax(self, e: sp.Basic) -> str:
        is_min = isinstance(e, sp.Min)
        numbers = [a for a in e.args if a.is_Number]
        others = [a for a in e.args if not a.is_Number]
        text = self.print(others[0])
        for other in others[1:]:
            text = f"torch.{'minimum' if is_min else 'maximum'}({text}, {self.print(other)})"
        if numbers:
            bound = _number(float(numbers[0]))
            text = f"torch.clamp({text}, {'max' if is_min else 'min'}={bound})"
        return text


def to_torch_source(expr: sp.Expr) -> str:
    """A Python expression over ``y_real``/``y_pred`` tensors equal to ``expr``.

    It may call the functions of :data:`HELPERS`; :func:`function_source` defines those it uses.
    """
    return TorchPrinter().print(sp.sympify(expr))


def function_source(expr: sp.Expr, name: str = FUNCTION_NAME) -> str:
    """Source of ``def name(y_real, y_pred)`` returning the element-wise loss tensor, preceded by
    the helpers it calls.

    Common subexpressions become local variables (each is computed once). A result that does
    not depend on y_pred is broadcast to its shape, so every loss returns one value per element.
    """
    temporaries, (reduced,) = sp.cse(expr, symbols=sp.numbered_symbols("_t"), list=True)
    printer = TorchPrinter()
    lines = [f"def {name}(y_real, y_pred):"]
    lines += [f"    {symbol.name} = {printer.print(value)}" for symbol, value in temporaries]
    body = printer.print(reduced)
    if Y_PRED not in expr.free_symbols:
        body = f"0.0 * y_pred + {body}"
    lines.append(f"    return {body}")
    helpers = [HELPERS[h] + "\n\n" for h in sorted(printer.helpers)]
    return "".join(helpers) + "\n".join(lines) + "\n"


def compile_torch(expr: sp.Expr) -> Callable:
    """The generated function as a callable, compiled from :func:`function_source`.

    The source is produced by our own printer from a SymPy tree, never from user text.
    """
    import torch

    namespace: dict = {"torch": torch}
    code = compile(function_source(expr), f"<lossevo {expr}>", "exec")
    exec(code, namespace)  # noqa: S102 - our printer's output, see docstring
    return namespace[FUNCTION_NAME]
