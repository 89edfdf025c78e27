"""What one generation did, as a typed record: stored with the generation, read by the views.

:class:`VariationStats` says how the generation's functions were found (children drawn, accepted,
rejected by reason, filled by random trees or by the best rejected); :class:`GenerationStats`
adds how they raced. Both are stored as JSON in ``generations.stats`` and read back with
``from_dict``, which fills what older runs did not record with its default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from lossevo.fitness.scores import Race


@dataclass
class VariationStats:
    """How a generation's new functions were found (see ``Variation.offspring``):
    ``attempts == accepted + sum(rejected)`` and the population holds ``accepted + short``
    varied functions."""

    attempts: int = 0
    accepted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    random_fill: int = 0
    short: int = 0

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    @classmethod
    def from_dict(cls, data: dict | None) -> VariationStats:
        return _known(cls, data or {})


#: The race outcomes a generation counts (controls do not race).
RACE_OUTCOMES = (Race.SURVIVED, Race.ELIMINATED, Race.STOPPED, Race.FAILED)


@dataclass
class GenerationStats:
    """One finished generation: fitness summary, how its functions raced, what it spent.

    ``best``/``median`` are over the population (the penalty for rejected functions included);
    ``race`` counts outcomes; ``outcomes`` maps each raced fingerprint to its outcome and seeds;
    ``incumbent`` is the fingerprint it raced against; ``spent_steps`` the search's training
    steps when it finished (what a step budget decides on).
    """

    best: float | None = None
    median: float | None = None
    median_valid: float | None = None
    passed: int = 0
    unique_fingerprints: int = 0
    new_functions: int = 0
    race: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, dict] = field(default_factory=dict)
    incumbent: str | None = None
    variation: VariationStats = field(default_factory=VariationStats)
    spent_steps: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> GenerationStats:
        stats = _known(cls, data or {})
        stats.variation = VariationStats.from_dict(
            stats.variation if isinstance(stats.variation, dict) else None
        )
        return stats


def stored_stats(store) -> list[tuple[int, GenerationStats]]:
    """Every finished generation of a run store with its statistics, in order."""
    return [(g["generation"], GenerationStats.from_dict(g["stats"])) for g in store.generations()]


def _known(cls, data: dict):
    """``cls`` from the keys of ``data`` it knows; the others are ignored."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
