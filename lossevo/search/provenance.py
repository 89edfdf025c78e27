"""Where a search's candidate came from: a seed formula, a control, a random tree, or the
offspring of earlier candidates (their keys), as stored once, when the candidate is first seen.

A candidate's provenance answers "did evolution find this?": an ``offspring`` row names its
parents' candidate keys and the generation it first appeared in, so a winner's lineage can be
walked back through the store to the random trees or seed formulas it started from.
"""

from __future__ import annotations

from dataclasses import dataclass

SEED, CONTROL, RANDOM, OFFSPRING = "seed", "control", "random", "offspring"
ORIGINS = (SEED, CONTROL, RANDOM, OFFSPRING)
#: How many characters of a parent's key the one-line provenance shows.
SHORT_KEY = 8


@dataclass(frozen=True)
class Provenance:
    """How a candidate was made: its origin and, for offspring, its parents' candidate keys."""

    origin: str
    parents: tuple[str, ...] = ()

    def __post_init__(self):
        if self.origin not in ORIGINS:
            raise ValueError(f"origin must be one of {ORIGINS}, not {self.origin!r}")


#: A tree drawn at random: what an individual is unless variation or a seed says otherwise.
DRAWN = Provenance(RANDOM)


def provenance_fields(row: dict) -> dict:
    """A stored candidate row's provenance as plain data for tables and JSON: ``origin``
    (None where a run older than format 4 never recorded it), ``parents`` (full keys) and
    ``provenance``, one line: ``seed``, ``control``, ``random, gen 0``, ``gen 3 from 1a2b3c4d
    × 9f8e7d6c`` (crossover) or ``gen 3 from 1a2b3c4d`` (mutation)."""
    origin, parents = row.get("origin"), list(row.get("parents") or [])
    generation = row.get("first_generation")
    if origin is None:
        text = "unknown (not recorded before run format 4)"
    elif origin in (SEED, CONTROL):
        text = origin
    elif origin == RANDOM:
        text = f"random, gen {generation}"
    else:
        text = f"gen {generation} from " + " × ".join(key[:SHORT_KEY] for key in parents)
    return {"origin": origin, "parents": parents, "provenance": text}
