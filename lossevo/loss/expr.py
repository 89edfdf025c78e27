"""LossExpr: one candidate loss L(y_real, y_pred) as a canonical SymPy expression.

The canonical expression is the candidate's identity (its ``key``), what is displayed (text and
LaTeX), and the single source of the torch function that is trained and exported.
"""

from __future__ import annotations

import functools
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import sympy as sp

from lossevo.loss import codegen
from lossevo.loss.formula import CHAINS, Tree, chain_links, parse_formula, tree_to_text
from lossevo.loss.ops import LEAVES, Y_PRED, Y_REAL, get_op

#: Significant digits kept in constants, so float noise does not split identical candidates.
CONSTANT_DIGITS = 10
#: Wall-clock budget for sympy.simplify. 0 (the default) skips it: measured on random trees it
#: costs 0.1-0.3 s per candidate and can return numerically worse forms (BCE became a log of a
#: quotient of powers), while the functional fingerprint already catches equivalent candidates.
SIMPLIFY_SECONDS = 0.0
#: Expressions larger than this (SymPy operation count) are not given to simplify at all.
SIMPLIFY_MAX_OPS = 60


def tree_to_sympy(tree: Tree) -> sp.Expr:
    """Build the SymPy expression of a tree with the registry's builders."""
    if isinstance(tree, str):
        return LEAVES[tree]
    if isinstance(tree, float | int):
        return sp.Float(float(tree))
    name, args = tree
    if name in CHAINS:  # a flat chain is built in a loop: its length costs no recursion
        first, links = chain_links(tree)
        expr = tree_to_sympy(first)
        for op, arg in links:
            expr = get_op(op).build(expr, tree_to_sympy(arg))
        return expr
    return get_op(name).build(*(tree_to_sympy(a) for a in args))


def _merge_nested_abs(expr: sp.Expr) -> sp.Expr:
    """|(|x|)| -> |x|: SymPy leaves these when a builder wraps an Abs in another."""
    return expr.replace(
        lambda e: isinstance(e, sp.Abs) and isinstance(e.args[0], sp.Abs), lambda e: e.args[0]
    )


def _rounded(value: float, digits: int) -> sp.Number:
    value = float(f"{value:.{digits}g}")
    return sp.Integer(int(value)) if value.is_integer() and abs(value) < 1e6 else sp.Float(value)


def round_constants(expr: sp.Expr, digits: int = CONSTANT_DIGITS) -> sp.Expr:
    """Round floats to ``digits`` significant digits; integral ones become exact integers.

    So ``2*x`` typed by a user and ``x + x`` built by a tree get the same canonical key.
    """
    replacements = {f: _rounded(float(f), digits) for f in expr.atoms(sp.Float)}
    return expr.xreplace(replacements) if replacements else expr


def fold_numbers(expr: sp.Expr) -> sp.Expr:
    """Evaluate each constant subexpression left symbolic, such as ``tanh(1)`` or ``E``.

    Rounding can turn a function's float argument into an exact integer, which SymPy then
    keeps unevaluated; typed back, the same text reads as a float and evaluates. Folding makes
    both the same number, so the displayed text parses back to the same key.
    """
    replacements = {}
    walk = sp.preorder_traversal(expr)
    for sub in walk:
        if sub.is_number and not sub.is_Number:
            value = sub.evalf(CONSTANT_DIGITS + 5)
            if value.is_Float:
                replacements[sub] = value
            walk.skip()
    return expr.xreplace(replacements) if replacements else expr


class _SimplifyTimeout(BaseException):
    """Raised by the alarm inside sympy.simplify; a BaseException so sympy cannot swallow it."""


def _simplify_bounded(expr: sp.Expr, seconds: float) -> sp.Expr | None:
    """sympy.simplify under a wall-clock budget (main thread only); None when it ran out."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def on_alarm(signum, frame):
        raise _SimplifyTimeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return sp.simplify(expr, rational=False)
    except _SimplifyTimeout:
        return None
    except Exception:  # sympy can fail on exotic inputs; the unsimplified form is still valid
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _printable(expr: sp.Expr) -> bool:
    try:
        codegen.to_torch_source(expr)
    except codegen.UnsupportedExpression:
        return False
    return True


@functools.lru_cache(maxsize=65536)
def canonicalize(expr: sp.Expr, seconds: float = SIMPLIFY_SECONDS) -> sp.Expr:
    """The canonical form: SymPy's automatic evaluation with constants rounded.

    Automatic evaluation orders terms, merges like ones and folds constants. With ``seconds``
    > 0, ``simplify`` is also tried on small expressions under that wall-clock budget, and its
    result is kept only if it is no larger and still printable to torch. It never hangs.
    """
    expr = _merge_nested_abs(round_constants(fold_numbers(round_constants(expr))))
    if seconds <= 0 or sp.count_ops(expr) > SIMPLIFY_MAX_OPS:
        return expr
    simplified = _simplify_bounded(expr, seconds)
    if simplified is None or simplified.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
        return expr
    simplified = round_constants(simplified)
    if sp.count_ops(simplified) <= sp.count_ops(expr) and _printable(simplified):
        return simplified
    return expr


@dataclass(frozen=True)
class LossExpr:
    """An immutable candidate loss: the tree it came from and its canonical SymPy expression."""

    tree: Tree
    sympy: sp.Expr = field(compare=False)

    @classmethod
    def from_tree(cls, tree: Tree) -> LossExpr:
        return cls(tree=tree, sympy=canonicalize(tree_to_sympy(tree)))

    @classmethod
    def from_text(cls, text: str, allowed_ops: set[str] | None = None) -> LossExpr:
        """Parse a user formula with the whitelisting parser (never eval)."""
        return cls.from_tree(parse_formula(text, allowed_ops))

    @property
    def key(self) -> str:
        """Canonical identity: two candidates with the same key are the same function."""
        return sp.srepr(self.sympy)

    @property
    def formula(self) -> str:
        """The tree written as a formula that parses back (provenance)."""
        return tree_to_text(self.tree)

    @property
    def text(self) -> str:
        """The canonical expression as readable text; this is what is displayed."""
        return sp.sstr(self.sympy, full_prec=False)

    @property
    def latex(self) -> str:
        return sp.latex(self.sympy)

    @property
    def complexity(self) -> int:
        """Number of nodes of the canonical expression tree."""
        return sum(1 for _ in sp.preorder_traversal(self.sympy))

    @property
    def uses_both_leaves(self) -> bool:
        return {Y_REAL, Y_PRED} <= self.sympy.free_symbols

    @property
    def torch_source(self) -> str:
        """Source of ``def loss(y_real, y_pred)``: the function that is trained and exported."""
        return codegen.function_source(self.sympy)

    def torch_fn(self) -> Callable:
        """The element-wise loss as a torch callable, compiled from :attr:`torch_source`."""
        return _compiled(self.sympy)

    def __str__(self) -> str:
        return self.text


@functools.lru_cache(maxsize=4096)
def _compiled(expr: sp.Expr) -> Callable:
    return codegen.compile_torch(expr)
