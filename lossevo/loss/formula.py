"""Formula trees and the whitelisting parser for formulas typed by users.

A tree is plain data: a leaf name (``"y_real"``/``"y_pred"``), a float constant, or a tuple
``(op_name, (child, ...))``. It is what DEAP trees, user formulas and stored candidates share.
The parser reads Python expression syntax with :mod:`ast` and accepts only numbers, the two
leaves, arithmetic and calls of registered operators; nothing is ever evaluated. A text that
uses a spelling only the canonical display has (``Abs``, ``Min``, ``Max``, ``guard``, a power other
than 2, 3, 0.5) is read as displayed, its spelled-out protections not added twice, so what
``show`` prints types back to the same function (``ops.SHOWN_OPS``).

Formulas are bounded before any SymPy work, so no input reaches a recursion limit or grows
without bound: at most ``MAX_FORMULA_CHARS`` characters, ``MAX_NODES`` nodes and ``MAX_DEPTH``
levels of nesting. A flat chain ``a + b - c + ...`` or ``a * b / c * ...`` is one level, whatever
its length: the parser and every walk over a tree follow a chain in a loop, not by recursion, so
only real nesting (parentheses, calls, powers) can reach the depth bound. The shipped search
spaces build trees of height at most 8 and 40 nodes, so the bounds leave a wide margin.
"""

from __future__ import annotations

import ast
import math

from lossevo.loss.ops import LEAVES, OPS, SHOWN_OPS
from lossevo.util.errors import LossevoError

Tree = str | float | tuple  # tuple = (op_name, tuple[Tree, ...])

#: Longest formula text accepted.
MAX_FORMULA_CHARS = 2000
#: Most nodes (leaves, constants and operators) in a formula's tree.
MAX_NODES = 400
#: Deepest nesting of a formula's tree: a leaf alone has depth 1, ``sqrt(y_pred)`` depth 2.
MAX_DEPTH = 32
#: Parentheses and brackets nested deeper than this in the text are refused before parsing.
MAX_TEXT_NESTING = 64
MAX_CONSTANT = 1e6


class FormulaError(LossevoError):
    """A formula that cannot be read; the message is one line that says what and where."""


_BINOPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div"}
#: Operators that chain flat: a left-nested run of one family is one level of nesting.
CHAINS = {"add": "sum", "sub": "sum", "mul": "product", "div": "product", "shown_div": "product"}
_POWERS = {2: "square", 3: "cube"}
_FORMULA_POWERS = (2, 3, 0.5)
#: Calls only the displayed (canonical) text spells this way; formulas write abs, min, max.
DISPLAYED_CALLS = ("Abs", "Min", "Max", "guard")
#: What a formula's name means in a text read as displayed (see ``ops.SHOWN_OPS``).
_DISPLAYED_RAW = {
    "log": "shown_log",
    "sqrt": "shown_sqrt",
    "exp": "shown_exp",
    "div": "shown_div",
}


def parse_formula(text: str, allowed_ops: set[str] | None = None) -> Tree:
    """Parse ``text`` such as ``y_pred**3 + sqrt(abs(3.985*y_real/y_pred))`` into a tree.

    Raises FormulaError naming the offending piece and its column. ``allowed_ops`` restricts the
    operators (a search space's), default all registered ones.
    """
    if not isinstance(text, str) or not text.strip():
        raise FormulaError("empty formula; write one such as 'y_pred**3 + sqrt(y_real/y_pred)'")
    if len(text) > MAX_FORMULA_CHARS:
        raise FormulaError(
            f"formula is {len(text)} characters long; at most {MAX_FORMULA_CHARS} are accepted"
        )
    _check_text_nesting(text)
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as err:
        raise FormulaError(f"formula does not parse at column {err.offset}: {err.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise FormulaError(_too_deep("formula")) from None
    reader = _Reader(allowed_ops, displayed=_is_displayed(node))
    try:
        return reader.convert(node, 1)
    except RecursionError:  # unreachable with MAX_DEPTH well below the interpreter's limit
        raise FormulaError(_too_deep("formula")) from None


def _too_deep(what: str) -> str:
    return (
        f"{what} nests more than {MAX_DEPTH} levels deep (a flat chain a + b + c counts as one); "
        f"remove parentheses or calls nested inside each other"
    )


def _check_text_nesting(text: str) -> None:
    """Refuse brackets nested deeper than any formula could use, before ``ast`` sees them."""
    depth = deepest = 0
    for char in text:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    if deepest > MAX_TEXT_NESTING:
        raise FormulaError(
            f"formula nests {deepest} parentheses deep; at most {MAX_TEXT_NESTING} are accepted"
        )


def _where(node: ast.AST) -> str:
    return f"at column {getattr(node, 'col_offset', 0) + 1}"


def _is_displayed(root: ast.AST) -> bool:
    """Whether the text uses a spelling only the displayed form has (Abs, guard, x**4...).

    Such text was refused before it was read as displayed, so no formula changes meaning.
    """
    for node in ast.walk(root):  # iterative: the depth checks come later
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in DISPLAYED_CALLS:
                return True
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            exponent = node.right
            if not isinstance(exponent, ast.Constant) or exponent.value not in _FORMULA_POWERS:
                return True
    return False


class _Reader:
    """Converts one parsed text, counting nodes; ``displayed`` reads it as ``show`` prints."""

    def __init__(self, allowed: set[str] | None, displayed: bool) -> None:
        self.allowed = allowed
        self.displayed = displayed
        self.nodes = 0

    def count(self) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise FormulaError(
                f"formula has more than {MAX_NODES} nodes; at most {MAX_NODES} are accepted"
            )

    def convert(self, node: ast.AST, depth: int) -> Tree:
        self.count()
        if depth > MAX_DEPTH:
            raise FormulaError(_too_deep("formula"))

        def child(sub: ast.AST) -> Tree:
            return self.convert(sub, depth + 1)

        if isinstance(node, ast.Constant):
            return _constant(node)
        if isinstance(node, ast.Name):
            if node.id in LEAVES:
                return node.id
            raise FormulaError(
                f"unknown name {node.id!r} {_where(node)}; the variables are y_real and y_pred"
            )
        if isinstance(node, ast.UnaryOp):
            operand = child(node.operand)
            if isinstance(node.op, ast.UAdd):
                return operand
            if isinstance(node.op, ast.USub):
                if isinstance(operand, float):
                    return -operand
                return self.op("neg", (operand,), node)
            raise FormulaError(f"operator {type(node.op).__name__} {_where(node)} is not allowed")
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Pow):
                if self.displayed:
                    return self.op("shown_pow", (child(node.left), *_exponent(node)), node)
                return self.op(_power_name(node), (child(node.left),), node)
            return self.chain(node, depth)
        if isinstance(node, ast.Call):
            name = _call_name(node)
            if self.displayed:
                name = _DISPLAYED_RAW.get(name, name)
            return self.op(name, tuple(child(arg) for arg in node.args), node)
        raise FormulaError(f"{type(node).__name__} {_where(node)} is not allowed in a formula")

    def chain(self, node: ast.BinOp, depth: int) -> Tree:
        """``a + b - c ...`` (or ``a * b / c ...``) as one level: its links walked in a loop."""
        family = CHAINS[_binop_name(node)]
        links: list[ast.BinOp] = [node]  # outermost first: ast nests a chain to the left
        while (
            isinstance(links[-1].left, ast.BinOp)
            and type(links[-1].left.op) in _BINOPS
            and CHAINS[_BINOPS[type(links[-1].left.op)]] == family
        ):
            links.append(links[-1].left)
            self.count()
        tree = self.convert(links[-1].left, depth + 1)
        for link in reversed(links):
            right = self.convert(link.right, depth + 1)
            name = _binop_name(link)
            if self.displayed:
                name = _DISPLAYED_RAW.get(name, name)
            tree = self.op(name, (tree, right), link)
        return tree

    def op(self, name: str, args: tuple, node: ast.AST) -> Tree:
        if self.allowed is not None and name in SHOWN_OPS:
            raise FormulaError(
                f"this formula is written as lossevo displays it (Abs, guard, Min, Max or a "
                f"power other than 2, 3, 0.5), {_where(node)}; a search space needs its own "
                f"operators: {', '.join(sorted(self.allowed))}"
            )
        if self.allowed is not None and name not in self.allowed:
            raise FormulaError(
                f"operator {name!r} {_where(node)} is not in this search space "
                f"(allowed: {', '.join(sorted(self.allowed))})"
            )
        return (name, args)


def _binop_name(node: ast.BinOp) -> str:
    name = _BINOPS.get(type(node.op))
    if name is None:
        raise FormulaError(f"operator {type(node.op).__name__} {_where(node)} is not allowed")
    return name


def _exponent(node: ast.BinOp) -> tuple[float, float]:
    """A displayed power's exponent as (numerator, denominator): ``4``, ``(-1)``, ``(3/2)``."""
    exponent, sign = node.right, 1.0
    if isinstance(exponent, ast.UnaryOp) and isinstance(exponent.op, ast.USub):
        exponent, sign = exponent.operand, -1.0
    if isinstance(exponent, ast.Constant):
        return sign * _constant(exponent), 1.0
    if (
        isinstance(exponent, ast.BinOp)
        and isinstance(exponent.op, ast.Div)
        and all(
            isinstance(part, ast.Constant) and type(part.value) is int and part.value > 0
            for part in (exponent.left, exponent.right)
        )
    ):
        return sign * _constant(exponent.left), _constant(exponent.right)
    raise FormulaError(
        f"a power's exponent must be a number such as 4, (-1) or (3/2) {_where(node)}"
    )


def _constant(node: ast.Constant) -> float:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FormulaError(f"only numbers are allowed as constants, got {value!r} {_where(node)}")
    if abs(value) > MAX_CONSTANT or not math.isfinite(value):
        # repr, not a rounded form: 1000000.5 must not read as 1e+06, inside the range
        shown = repr(value) if isinstance(value, float) else f"{str(value)[:12]}..."
        raise FormulaError(
            f"constant {shown} {_where(node)} is outside [-{MAX_CONSTANT:g}, {MAX_CONSTANT:g}]"
        )
    return float(value)


def _power_name(node: ast.BinOp) -> str:
    """``x**2``, ``x**3`` and ``x**0.5`` are square, cube and sqrt; other exponents are refused."""
    exponent = node.right
    if isinstance(exponent, ast.Constant) and not isinstance(exponent.value, bool):
        if exponent.value in _POWERS:
            return _POWERS[exponent.value]
        if exponent.value == 0.5:
            return "sqrt"
    raise FormulaError(
        f"only the exponents 2, 3 and 0.5 are allowed {_where(node)}; "
        f"use square(), cube() or sqrt()"
    )


def _call_name(node: ast.Call) -> str:
    """The registered operator a call names, with the right number of arguments."""
    if not isinstance(node.func, ast.Name) or node.keywords:
        raise FormulaError(f"only plain calls like sqrt(x) are allowed {_where(node)}")
    name = node.func.id
    op = OPS.get(name) or (SHOWN_OPS[name] if name in DISPLAYED_CALLS else None)
    if op is None:
        known = ", ".join([*sorted(OPS), *DISPLAYED_CALLS])
        raise FormulaError(f"unknown function {name!r} {_where(node)}; known: {known}")
    if len(node.args) != op.arity and not (op.variadic and len(node.args) > op.arity):
        takes = f"{op.arity} or more" if op.variadic else str(op.arity)
        raise FormulaError(
            f"{name}() takes {takes} argument(s), got {len(node.args)} {_where(node)}"
        )
    return name


_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "shown_div": "/"}
#: How a displayed operator is written back: as the display spells it.
_SPELLING = {"shown_log": "log", "shown_sqrt": "sqrt", "shown_exp": "exp"}


def tree_to_text(tree: Tree) -> str:
    """Write a tree back as a formula that ``parse_formula`` reads into the same tree."""
    if isinstance(tree, str):
        return tree
    if isinstance(tree, float | int):
        text = repr(float(tree))
        return f"({text})" if tree < 0 else text
    name, args = tree
    if name in _INFIX:  # a chain is written flat: nested parentheses would hit the bounds
        first, links = chain_links(tree)
        rest = "".join(f" {_INFIX[op]} {tree_to_text(arg)}" for op, arg in links)
        return f"({tree_to_text(first)}{rest})"
    if name == "shown_pow":
        base, p, q = args
        if q == 1:
            exponent = _number_text(p)
        else:
            exponent = f"({_number_text(abs(p))}/{_number_text(q)})"
            exponent = f"(-{exponent})" if p < 0 else exponent
        return f"{tree_to_text(base)}**{exponent}"
    if name == "neg":  # a negated constant stays a neg node: "(-2.0)" would parse as -2.0
        inner = args[0]
        return f"neg({inner!r})" if isinstance(inner, float) else f"(-{tree_to_text(inner)})"
    return f"{_SPELLING.get(name, name)}({', '.join(tree_to_text(a) for a in args)})"


def _number_text(value: float) -> str:
    """An exponent's part: ``4`` and ``(-1)`` for whole numbers, else the float's repr."""
    text = str(int(value)) if float(value).is_integer() else repr(float(value))
    return f"({text})" if value < 0 else text


def chain_links(tree: tuple) -> tuple[Tree, list[tuple[str, Tree]]]:
    """A chain's first operand and its ``(operator, operand)`` links in order, found in a loop.

    ``((a + b) - c)`` gives ``(a, [("add", b), ("sub", c)])``; a node outside :data:`CHAINS` is
    its own first operand with its arguments as links of its name.
    """
    name, args = tree
    family = CHAINS.get(name)
    if family is None:
        return tree, []
    links: list[tuple[str, Tree]] = []
    while isinstance(tree, tuple) and CHAINS.get(tree[0]) == family:
        links.append((tree[0], tree[1][1]))
        tree = tree[1][0]
    links.reverse()
    return tree, links


def _operands(tree: Tree) -> list[Tree]:
    """The subtrees one level below ``tree`` (a whole chain's operands for a chain)."""
    if not isinstance(tree, tuple):
        return []
    if tree[0] in CHAINS:
        first, links = chain_links(tree)
        return [first, *(arg for _, arg in links)]
    return list(tree[1])


def tree_size(tree: Tree) -> int:
    """Number of nodes in a tree."""
    if isinstance(tree, tuple) and tree[0] in CHAINS:
        first, links = chain_links(tree)
        return len(links) + tree_size(first) + sum(tree_size(a) for _, a in links)
    if isinstance(tree, tuple):
        return 1 + sum(tree_size(a) for a in tree[1])
    return 1


def tree_depth(tree: Tree) -> int:
    """Levels of nesting as the parser counts them: a leaf is 1, a flat chain one level."""
    return 1 + max((tree_depth(a) for a in _operands(tree)), default=0)


def tree_ops(tree: Tree) -> set[str]:
    """The operator names a tree uses."""
    if isinstance(tree, tuple) and tree[0] in CHAINS:
        first, links = chain_links(tree)
        return {op for op, _ in links}.union(tree_ops(first), *(tree_ops(a) for _, a in links))
    if isinstance(tree, tuple):
        return {tree[0]}.union(*(tree_ops(a) for a in tree[1]))
    return set()
