"""Generated torch source size and codegen time for nested protected division, by depth.

    python experiments/codegen_depth_benchmark.py

The loss is y_real/(y_real/(...(y_real/y_pred))) nested ``depth`` times. It is built as a SymPy
expression directly, past the parser's depth limit (formula.MAX_DEPTH), to show that the printer
itself is linear. "old chars" is what the former printer would have written: it printed guard(x)
as torch.where(x >= 0, x + eps, x - eps), three copies of x per level; it is measured exactly up
to depth 9 and extended by its recurrence L(d) = 3 L(d-1) + k beyond (too large to print).

SymPy's own tree walks recurse once per level, so at depth 200 they need more than Python's
default recursion limit: this script raises it, while formulas from users stop at MAX_DEPTH (32).
"""

from __future__ import annotations

import argparse
import sys
import time

from lossevo.loss.codegen import TorchPrinter, function_source
from lossevo.loss.expr import canonicalize, tree_to_sympy
from lossevo.loss.ops import EPS

DEPTHS = (5, 10, 50, 100, 200)
EXACT_UP_TO = 9


class OldPrinter(TorchPrinter):
    """The former rule for guard, kept here only to measure what it produced."""

    def guard(self, arg: str) -> str:
        return f"torch.where({arg} >= 0, {arg} + {EPS!r}, {arg} - {EPS!r})"


def nested_division(depth: int):
    tree = "y_pred"
    for _ in range(depth):
        tree = ("div", ("y_real", tree))
    return canonicalize(tree_to_sympy(tree))


def old_sizes(depths: tuple[int, ...]) -> dict[int, int]:
    """The old printer's expression length: measured to EXACT_UP_TO, then its recurrence."""
    sizes = {d: len(OldPrinter().print(nested_division(d))) for d in range(1, EXACT_UP_TO + 1)}
    k = sizes[EXACT_UP_TO] - 3 * sizes[EXACT_UP_TO - 1]
    for d in range(EXACT_UP_TO + 1, max(depths) + 1):
        sizes[d] = 3 * sizes[d - 1] + k
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="best of this many timings")
    args = parser.parse_args()
    sys.setrecursionlimit(20_000)  # for SymPy's walks only; see the module docstring
    old = old_sizes(DEPTHS)
    print(
        f"{'depth':>5} {'nodes':>6} {'chars':>8} {'chars/node':>10} {'codegen ms':>11} "
        f"{'old chars':>12}"
    )
    for depth in DEPTHS:
        expr = nested_division(depth)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            source = function_source(expr)
            times.append(time.perf_counter() - start)
        nodes = 2 * depth + 1
        old_text = f"{old[depth]:d}" if old[depth] < 10**9 else f"{old[depth]:.2e}"
        print(
            f"{depth:>5} {nodes:>6} {len(source):>8} {len(source) / nodes:>10.1f} "
            f"{1000 * min(times):>11.1f} {old_text:>12}"
        )


if __name__ == "__main__":
    main()
