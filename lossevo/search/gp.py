"""DEAP glue: a primitive set from a search space, and DEAP trees to and from plain trees.

DEAP draws randomness from the global ``random`` module; callers seed it (and store its state)
to make evolution reproducible. Nothing DEAP-specific leaves this module and ``search.py``:
candidates travel as plain trees and formula text.
"""

from __future__ import annotations

import functools
import random

from deap import gp

from lossevo.loss.formula import Tree
from lossevo.loss.ops import OPS
from lossevo.search.space import Constants, SearchSpace

EPHEMERAL_NAME = "const"


def _draw_constant(constants: Constants) -> float:
    if constants.distribution == "choice":
        return float(random.choice(constants.values))
    return round(random.uniform(constants.low, constants.high), constants.decimals)


def make_pset(space: SearchSpace) -> gp.PrimitiveSet:
    """The primitive set of a space: its operators, its leaves and (optionally) constants."""
    pset = gp.PrimitiveSet(f"loss_{space.name}", len(space.leaves))
    pset.renameArguments(**{f"ARG{i}": leaf for i, leaf in enumerate(space.leaves)})
    for name in space.operators:
        pset.addPrimitive(_placeholder(name), OPS[name].arity, name=name)
    if space.constants is not None:
        pset.addEphemeralConstant(
            EPHEMERAL_NAME, functools.partial(_draw_constant, space.constants)
        )
    return pset


@functools.cache
def _placeholder(name: str):
    """DEAP wants a callable per primitive; trees are never compiled by DEAP, only converted."""

    def op(*args):
        raise RuntimeError(f"DEAP tree compiled directly; convert it with deap_to_tree ({name})")

    op.__name__ = name
    return op


def deap_to_tree(individual: gp.PrimitiveTree) -> Tree:
    """Convert a DEAP prefix list into a nested plain tree."""
    stack: list[list] = []
    result = None
    for node in individual:
        stack.append([node, []])
        while len(stack[-1][1]) == stack[-1][0].arity:
            prim, args = stack.pop()
            if isinstance(prim, gp.Primitive):
                value: Tree = (prim.name, tuple(args))
            elif isinstance(prim.value, str):
                value = prim.value
            else:
                value = float(prim.value)
            if not stack:
                result = value
                break
            stack[-1][1].append(value)
    return result


def tree_to_deap(tree: Tree, pset: gp.PrimitiveSet) -> gp.PrimitiveTree:
    """Convert a plain tree into a DEAP PrimitiveTree over ``pset`` (constants as ephemerals)."""
    nodes: list = []
    _emit(tree, pset, nodes)
    return gp.PrimitiveTree(nodes)


def _emit(tree: Tree, pset: gp.PrimitiveSet, out: list) -> None:
    if isinstance(tree, tuple):
        name, args = tree
        out.append(pset.mapping[name])
        for arg in args:
            _emit(arg, pset, out)
    elif isinstance(tree, str):
        out.append(pset.mapping[tree])
    else:
        out.append(constant_terminal(float(tree), pset))


def constant_terminal(value: float, pset: gp.PrimitiveSet) -> gp.Terminal:
    """A terminal holding ``value``: the space's ephemeral type if it has one, else a plain one."""
    cls = pset.mapping.get(EPHEMERAL_NAME)
    if cls is None:
        return gp.Terminal(value, False, pset.ret)
    terminal = cls.__new__(cls)
    terminal.value = value
    return terminal


def random_tree(space: SearchSpace, pset: gp.PrimitiveSet | None = None) -> Tree:
    """One ramped half-and-half tree within the space's initial heights (uses ``random``)."""
    pset = pset or make_pset(space)
    nodes = gp.genHalfAndHalf(
        pset, min_=space.tree.init_min_height, max_=space.tree.init_max_height
    )
    return deap_to_tree(gp.PrimitiveTree(nodes))
