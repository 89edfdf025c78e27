"""Formula trees and the whitelisting parser for formulas typed by users.

A tree is plain data: a leaf name (``"y_real"``/``"y_pred"``), a float constant, or a tuple
``(op_name, (child, ...))``. It is what DEAP trees, user formulas and stored candidates share.
The parser reads Python expression syntax with :mod:`ast` and accepts only numbers, the two
leaves, arithmetic and calls of registered operators; nothing is ever evaluated.

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

from lossevo.loss.ops import LEAVES, OPS
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
CHAINS = {"add": "sum", "sub": "sum", "mul": "product", "div": "product"}
_POWERS = {2: "square", 3: "cube"}


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
    counter = [0]
    try:
        return _convert(node, allowed_ops, counter, 1)
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


def _convert(node: ast.AST, allowed: set[str] | None, counter: list[int], depth: int) -> Tree:
    counter[0] += 1
    if counter[0] > MAX_NODES:
        raise FormulaError(
            f"formula has more than {MAX_NODES} nodes; at most {MAX_NODES} are accepted"
        )
    if depth > MAX_DEPTH:
        raise FormulaError(_too_deep("formula"))

    def child(sub: ast.AST) -> Tree:
        return _convert(sub, allowed, counter, depth + 1)

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
            return _op("neg", (operand,), allowed, node)
        raise FormulaError(f"operator {type(node.op).__name__} {_where(node)} is not allowed")
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Pow):
            return _op(_power_name(node), (child(node.left),), allowed, node)
        return _chain(node, allowed, counter, depth)
    if isinstance(node, ast.Call):
        name = _call_name(node)
        return _op(name, tuple(child(arg) for arg in node.args), allowed, node)
    raise FormulaError(f"{type(node).__name__} {_where(node)} is not allowed in a formula")


def _binop_name(node: ast.BinOp) -> str:
    name = _BINOPS.get(type(node.op))
    if name is None:
        raise FormulaError(f"operator {type(node.op).__name__} {_where(node)} is not allowed")
    return name


def _chain(node: ast.BinOp, allowed: set[str] | None, counter: list[int], depth: int) -> Tree:
    """``a + b - c ...`` (or ``a * b / c ...``) as one level: its links are walked in a loop."""
    family = CHAINS[_binop_name(node)]
    links: list[ast.BinOp] = [node]  # outermost first: ast nests a chain to the left
    while (
        isinstance(links[-1].left, ast.BinOp)
        and type(links[-1].left.op) in _BINOPS
        and CHAINS[_BINOPS[type(links[-1].left.op)]] == family
    ):
        links.append(links[-1].left)
        counter[0] += 1
        if counter[0] > MAX_NODES:
            raise FormulaError(
                f"formula has more than {MAX_NODES} nodes; at most {MAX_NODES} are accepted"
            )
    tree = _convert(links[-1].left, allowed, counter, depth + 1)
    for link in reversed(links):
        right = _convert(link.right, allowed, counter, depth + 1)
        tree = _op(_binop_name(link), (tree, right), allowed, link)
    return tree


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
    if name not in OPS:
        raise FormulaError(
            f"unknown function {name!r} {_where(node)}; known: {', '.join(sorted(OPS))}"
        )
    if len(node.args) != OPS[name].arity:
        raise FormulaError(
            f"{name}() takes {OPS[name].arity} argument(s), got {len(node.args)} {_where(node)}"
        )
    return name


def _op(name: str, args: tuple, allowed: set[str] | None, node: ast.AST) -> Tree:
    if allowed is not None and name not in allowed:
        raise FormulaError(
            f"operator {name!r} {_where(node)} is not in this search space "
            f"(allowed: {', '.join(sorted(allowed))})"
        )
    return (name, args)


_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/"}


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
    if name == "neg":  # a negated constant stays a neg node: "(-2.0)" would parse as -2.0
        inner = args[0]
        return f"neg({inner!r})" if isinstance(inner, float) else f"(-{tree_to_text(inner)})"
    return f"{name}({', '.join(tree_to_text(a) for a in args)})"


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
