"""The one YAML reader: search spaces, protocols and stage files all come through here.

Limits, so a small hostile file cannot take the process down: at most ``MAX_BYTES``, UTF-8 only,
no anchors or aliases (an alias bomb expands a few hundred bytes into gigabytes), no duplicate
keys (the second would silently win), PyYAML's safe constructors only (no Python tags), and
nesting bounded. Every error is one line that starts with the file's path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from lossevo.util.errors import LossevoError

#: Largest YAML file read; the shipped ones are under 2 KB.
MAX_BYTES = 1_000_000


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors, aliases and duplicate mapping keys."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.MarkedYAMLError(
                problem="anchors and aliases (&name, *name) are not allowed; write the value out",
                problem_mark=event.start_mark,
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: SafeLoader reports it itself
                break
            if duplicate:
                raise yaml.MarkedYAMLError(
                    problem=f"duplicate key {key!r}", problem_mark=key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str | os.PathLike, error: type[LossevoError] = LossevoError) -> Any:
    """The YAML document in ``path``; any problem raises ``error`` with one line naming the file."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as err:
        raise error(f"{path}: cannot read it ({err.strerror or err})") from None
    if len(data) > MAX_BYTES:
        raise error(f"{path}: larger than {MAX_BYTES:,} bytes; a YAML config is a few KB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise error(f"{path}: not UTF-8 text (byte {err.start}); save it as UTF-8") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        raise error(f"{path}: malformed YAML{_where(err)}: {_problem(err)}") from None
    except RecursionError:
        raise error(f"{path}: YAML nested too deeply") from None


def _where(err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None)
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""


def _problem(err: yaml.YAMLError) -> str:
    problem = getattr(err, "problem", None) or str(err)
    return " ".join(str(problem).split())
