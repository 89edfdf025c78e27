"""A search individual as plain data: its tree, its transform and its generator convention.

The three together are the candidate: its :class:`LossSpec` (and so its key, fingerprint and
stored row) is built from the genome, never from the space. A generation's population is stored
as members: the formula text alone when the individual has the space's first transform and
generator (so runs of single-convention spaces store exactly what they always did), else a
mapping ``{formula, transform, generator}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lossevo.loss.expr import LossExpr
from lossevo.loss.formula import Tree, parse_formula, tree_to_text
from lossevo.loss.reference import LossSpec
from lossevo.util.errors import LossevoError

#: The keys of a stored member that is not a plain formula.
MEMBER_KEYS = ("formula", "transform", "generator")


class GenomeError(LossevoError):
    """A stored population member that is not a genome of the run's space."""


@dataclass(frozen=True)
class Genome:
    """A tree of the space with the transform and generator convention it is trained under."""

    tree: Tree
    transform: str
    generator: str

    def spec(self) -> LossSpec:
        """The candidate this genome is: expression, transform and generator convention."""
        expr = LossExpr.from_tree(self.tree)
        return LossSpec(
            name=expr.text, expr=expr, transform=self.transform, generator=self.generator
        )

    def to_member(self, default: tuple[str, str]) -> str | dict:
        """The stored form: the formula alone under the ``default`` (transform, generator)."""
        text = tree_to_text(self.tree)
        if (self.transform, self.generator) == default:
            return text
        return {"formula": text, "transform": self.transform, "generator": self.generator}


def genome_from_member(
    member, operators: Sequence[str], transforms: Sequence[str], generators: Sequence[str]
) -> Genome:
    """A stored member read back (the inverse of :meth:`Genome.to_member` with the first of
    ``transforms`` and ``generators`` as the default), checked against the space's operators
    and lists: a GenomeError names what is wrong."""
    transform, generator = transforms[0], generators[0]
    if isinstance(member, dict):
        if sorted(member) != sorted(MEMBER_KEYS) or not all(
            isinstance(v, str) for v in member.values()
        ):
            raise GenomeError(
                f"population member {str(member)[:60]!r} is not "
                f"{{formula, transform, generator}}; restore run.db or start a new run"
            )
        formula, transform, generator = (member[k] for k in MEMBER_KEYS)
    elif isinstance(member, str):
        formula = member
    else:
        raise GenomeError(
            f"population member {str(member)[:60]!r} is neither a formula nor a mapping; "
            f"restore run.db or start a new run"
        )
    if transform not in transforms or generator not in generators:
        raise GenomeError(
            f"population member {formula[:60]!r} has transform {transform!r} and generator "
            f"{generator!r}, which the space does not allow; restore run.db or start a new run"
        )
    return Genome(parse_formula(formula, set(operators)), transform, generator)
