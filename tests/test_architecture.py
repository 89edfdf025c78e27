"""The package's shape: dependencies point one way, and no import cycle exists anywhere.

Every import is read from the source with ``ast``, including those inside functions: a lazy
import that dodges a cycle at run time is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "lossevo"

#: Subpackages from the bottom up: a module may import its own layer and the layers below it.
LAYERS = ["util", "loss", "fitness", "runs", "search", "report", "studies", "api", "cli"]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str:
    """The layer of ``lossevo.X...``; the package itself is the public API."""
    parts = module.split(".")
    if len(parts) == 1:
        return "api"
    return {"__main__": "cli"}.get(parts[1], parts[1])


def imports_of(path: Path) -> set[str]:
    """Every lossevo module that ``path`` imports, at any depth of its code."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "lossevo")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1]
                    + ([base] if base else [])
                )
            if base.split(".")[0] != "lossevo":
                continue
            for alias in node.names:  # `from lossevo.loss import codegen` imports a module
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in ALL_MODULES else base)
    return found


ALL_MODULES = {module_name(p) for p in PACKAGE.rglob("*.py")}
GRAPH = {module_name(p): imports_of(p) - {module_name(p)} for p in PACKAGE.rglob("*.py")}


def test_every_subpackage_has_a_layer():
    for module in ALL_MODULES:
        assert layer_of(module) in LAYERS, f"{module} is in no layer of {LAYERS}"


def test_dependencies_point_down_the_layers():
    wrong = []
    for module, deps in GRAPH.items():
        for dep in deps:
            if LAYERS.index(layer_of(dep)) > LAYERS.index(layer_of(module)):
                wrong.append(f"{module} -> {dep}")
    assert not wrong, "imports that point up the layers:\n" + "\n".join(sorted(wrong))


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes, or None (iterative depth-first search)."""
    state: dict[str, int] = {}
    for root in sorted(graph):
        if state.get(root):
            continue
        stack = [(root, iter(sorted(graph.get(root, ()))))]
        path = [root]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(child) == 1:
                return path[path.index(child) :] + [child]
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(graph.get(child, ())))))
    return None


def test_no_import_cycle_between_modules():
    # A package's __init__ that re-exports its modules is not a cycle with them.
    graph = {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in GRAPH.items()}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
