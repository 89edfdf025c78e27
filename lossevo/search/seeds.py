"""A search space's seeds: built-in losses or formulas placed in the first population, each with
the transform and generator convention it starts under.

A built-in (``bce``, ``least_squares``, ``hinge``...) carries its own conventions; a formula
takes the space's first transform and generator. Either may name its own in the mapping form
``{formula: "...", transform: raw, generator: minimax}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lossevo.loss.formula import parse_formula
from lossevo.loss.reference import reference_loss, reference_names
from lossevo.search.genome import Genome

#: The keys of a seed written as a mapping.
SEED_KEYS = ("formula", "transform", "generator")


@dataclass(frozen=True)
class Seed:
    """One seed as the space file wrote it; None conventions are the built-in's own, or the
    space's first for a formula."""

    text: str
    transform: str | None = None
    generator: str | None = None

    @property
    def builtin(self) -> bool:
        return self.text.lower() in reference_names()

    def to_yaml(self) -> str | dict:
        """The seed as written: plain text, or a mapping when it names a convention."""
        pairs = (("transform", self.transform), ("generator", self.generator))
        named = {key: value for key, value in pairs if value is not None}
        return {"formula": self.text, **named} if named else self.text

    def genome(
        self, operators: Sequence[str], transforms: Sequence[str], generators: Sequence[str]
    ) -> Genome:
        """The seed as a point of the space: its tree over ``operators`` and conventions from
        the space's lists. A ValueError (or FormulaError) says what does not fit."""
        if self.builtin:
            spec = reference_loss(self.text)
            formula, transform, generator = spec.expr.formula, spec.transform, spec.generator
        else:
            formula, transform, generator = self.text, transforms[0], generators[0]
        transform, generator = self.transform or transform, self.generator or generator
        for key, value, allowed in (
            ("transform", transform, transforms),
            ("generator", generator, generators),
        ):
            if value not in allowed:
                raise ValueError(
                    f"its {key} {value} is not in this space's {key} list "
                    f"[{', '.join(allowed)}]; add it there, or write the seed as "
                    f"{{formula: ..., {key}: {allowed[0]}}}"
                )
        return Genome(parse_formula(formula, set(operators)), transform, generator)


def seed_from_yaml(entry, transforms: Sequence[str], generators: Sequence[str]) -> Seed:
    """A seed entry of a space file: text, or a mapping with ``formula`` and optional
    ``transform``/``generator``. A ValueError names what is wrong."""
    if isinstance(entry, str):
        return Seed(entry)
    if not isinstance(entry, dict) or not isinstance(entry.get("formula"), str):
        raise ValueError(
            "each seed is a formula, a built-in loss name, or a mapping "
            '{formula: "...", transform: raw, generator: minimax}'
        )
    unknown = [str(k)[:40] for k in entry if k not in SEED_KEYS]
    if unknown:
        raise ValueError(f"unknown seed key {unknown[0]}; allowed: {', '.join(SEED_KEYS)}")
    for key, known in (("transform", transforms), ("generator", generators)):
        if key in entry and not isinstance(entry[key], str):
            raise ValueError(f"a seed's {key} must be one name, e.g. {known[0]}")
    return Seed(entry["formula"], entry.get("transform"), entry.get("generator"))
