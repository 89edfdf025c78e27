"""The operator registry: every operator is defined once, as a SymPy builder.

The builder *is* the operator's semantics, protection included. Torch code, LaTeX, screening and
export are all derived from the SymPy expression the builders produce (see ``codegen.py``), so
there is no second definition that could drift.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

#: Guard added to denominators, inside square roots and inside logarithms.
EPS = 1e-8
#: Upper clamp of the argument of exp, so that exp(x) <= e**20 ~ 4.9e8 stays finite in float32.
EXP_MAX = 20.0

Y_REAL, Y_PRED = sp.symbols("y_real y_pred", real=True)
LEAVES: dict[str, sp.Symbol] = {"y_real": Y_REAL, "y_pred": Y_PRED}


class sigmoid(sp.Function):  # noqa: N801 - printed as the familiar lowercase name
    """The logistic function 1 / (1 + exp(-x)), kept opaque so it prints as torch.sigmoid."""

    @classmethod
    def eval(cls, x):
        if x.is_Number:
            return 1 / (1 + sp.exp(-x))
        return None

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0]) * (1 - sigmoid(self.args[0]))

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sp.exp(-x))

    def _eval_evalf(self, prec):
        return (1 / (1 + sp.exp(-self.args[0])))._eval_evalf(prec)

    def _eval_is_real(self):
        return self.args[0].is_real

    def _latex(self, printer, exp=None):
        return _with_power(r"\sigma\left(" + printer._print(self.args[0]) + r"\right)", exp)


class guard(sp.Function):  # noqa: N801
    """A denominator pushed away from zero: b + EPS for b >= 0, b - EPS for b < 0.

    Its derivative is 1 wherever it is defined, so gradients are those of plain division.
    """

    @classmethod
    def eval(cls, b):
        if b.is_Number:
            return b + EPS if b >= 0 else b - EPS
        return None

    def fdiff(self, argindex=1):
        return sp.Integer(1)

    def _eval_evalf(self, prec):
        b = self.args[0]._eval_evalf(prec)
        if b is None or not b.is_Number:
            return None
        return (b + EPS if b >= 0 else b - EPS)._eval_evalf(prec)

    def _eval_is_real(self):
        return self.args[0].is_real

    def _eval_is_zero(self):  # |guard(b)| >= EPS: SymPy may then treat a / guard(b) as real
        return False if self.args[0].is_real else None

    def _latex(self, printer, exp=None):
        text = r"\operatorname{guard}\left(" + printer._print(self.args[0]) + r"\right)"
        return _with_power(text, exp)


def _with_power(text: str, exp: str | None) -> str:
    """SymPy prints ``f(x)**2`` by passing the exponent to ``f``'s printer: ``f(x)^{2}``."""
    return text if exp is None else f"{text}^{{{exp}}}"


def _div(a: sp.Expr, b: sp.Expr) -> sp.Expr:
    return a / guard(b)


def _sqrt(a: sp.Expr) -> sp.Expr:
    return sp.sqrt(sp.Abs(a) + EPS)


def _log(a: sp.Expr) -> sp.Expr:
    return sp.log(sp.Abs(a) + EPS)


def _exp(a: sp.Expr) -> sp.Expr:
    return sp.exp(sp.Min(a, EXP_MAX))


@dataclass(frozen=True)
class Op:
    """One operator: its name in formulas and trees, arity, SymPy builder and plain semantics."""

    name: str
    arity: int
    build: Callable[..., sp.Expr]
    semantics: str
    #: Takes ``arity`` or more arguments (SymPy's Min and Max as displayed).
    variadic: bool = False


OPS: dict[str, Op] = {
    op.name: op
    for op in [
        Op("add", 2, lambda a, b: a + b, "a + b"),
        Op("sub", 2, lambda a, b: a - b, "a - b"),
        Op("mul", 2, lambda a, b: a * b, "a * b"),
        Op("div", 2, _div, f"a / guard(b), guard(b) = b + {EPS:g} if b >= 0 else b - {EPS:g}"),
        Op("neg", 1, lambda a: -a, "-a"),
        Op("abs", 1, sp.Abs, "|a|"),
        Op("square", 1, lambda a: a**2, "a**2"),
        Op("cube", 1, lambda a: a**3, "a**3"),
        Op("sqrt", 1, _sqrt, f"sqrt(|a| + {EPS:g})"),
        Op("log", 1, _log, f"log(|a| + {EPS:g})"),
        Op("exp", 1, _exp, f"exp(min(a, {EXP_MAX:g}))"),
        Op("sin", 1, sp.sin, "sin(a)"),
        Op("cos", 1, sp.cos, "cos(a)"),
        Op("tanh", 1, sp.tanh, "tanh(a)"),
        Op("sigmoid", 1, sigmoid, "1 / (1 + exp(-a))"),
        Op("min", 2, sp.Min, "min(a, b)"),
        Op("max", 2, sp.Max, "max(a, b)"),
    ]
}


def _shown_log(a: sp.Expr) -> sp.Expr:
    """A displayed ``log``: its argument is spelled out protected, ``Abs(x) + 1.0e-8``."""
    return sp.log(a) if a.is_positive else _log(a)


def _shown_sqrt(a: sp.Expr) -> sp.Expr:
    return sp.sqrt(a) if a.is_positive else _sqrt(a)


def _shown_exp(a: sp.Expr) -> sp.Expr:
    """A displayed ``exp``: its argument is spelled out bounded, ``2*Min(20, x)``."""
    return sp.exp(a) if a.has(sp.Min) else _exp(a)


def _shown_div(a: sp.Expr, b: sp.Expr) -> sp.Expr:
    """A displayed ``/``: its denominator is spelled out guarded, ``guard(x)`` or ``Abs(...)``."""
    return a / b if b.is_zero is False else _div(a, b)


def _shown_pow(base: sp.Expr, numerator: sp.Expr, denominator: sp.Expr) -> sp.Expr:
    """A displayed power ``base**(p/q)``; a fractional one of ``|base|``, a negative one a ``/``."""
    p, q = float(numerator), float(denominator)
    exponent = sp.Rational(int(p), int(q)) if p.is_integer() and q.is_integer() else p / q
    exponent = sp.sympify(exponent)
    if exponent < 0:
        return _shown_div(sp.Integer(1), _shown_pow(base, -numerator, denominator))
    if exponent.is_Integer:
        return base**exponent
    return sp.Abs(base) ** exponent


#: The forms the canonical text prints that formulas spell otherwise (see ``formula``): a text
#: that uses one is read as displayed, so what ``show`` prints can be typed back. Not offered
#: to searches. ``log``, ``sqrt`` and ``/`` of such a text are the plain functions where the
#: argument is already kept positive (nonzero), as the display spells it out, else protected.
SHOWN_OPS: dict[str, Op] = {
    op.name: op
    for op in [
        Op("Abs", 1, sp.Abs, "|a|"),
        Op("Min", 2, sp.Min, "min(a, b, ...)", variadic=True),
        Op("Max", 2, sp.Max, "max(a, b, ...)", variadic=True),
        Op("guard", 1, guard, f"a + {EPS:g} if a >= 0 else a - {EPS:g}"),
        Op("shown_log", 1, _shown_log, "log(a) for a > 0, else log(|a| + eps)"),
        Op("shown_sqrt", 1, _shown_sqrt, "sqrt(a) for a > 0, else sqrt(|a| + eps)"),
        Op("shown_exp", 1, _shown_exp, "exp(a) when a holds its Min, else exp(min(a, 20))"),
        Op("shown_div", 2, _shown_div, "a / b for b != 0, else a / guard(b)"),
        Op("shown_pow", 3, _shown_pow, "a**(p/q), of |a| when p/q is fractional"),
    ]
}


def get_op(name: str) -> Op:
    """The operator called ``name``, or a ValueError that lists the known ones."""
    try:
        return OPS[name] if name in OPS else SHOWN_OPS[name]
    except KeyError:
        known = ", ".join(sorted(OPS))
        raise ValueError(f"unknown operator {name!r}; known operators: {known}") from None
