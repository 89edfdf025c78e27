"""The run's candidates: every function a search proposes or controls with, as a stored spec.

A candidate is its full :class:`LossSpec` (expression, transform, generator convention: what
its :class:`Genome` carries, not the space), keyed by the spec's digest; the first time a spec
is seen it is screened and its verdict and fingerprint stored. The registry is the only writer
of candidate rows in a search, and :func:`~lossevo.runs.store.spec_of` turns any row back into
the loss that is trained.

The novelty policy lives here too: a generation accepts a child only if it passes screening
and its function (fingerprint) was never proposed before, in earlier generations or earlier in
this one.
"""

from __future__ import annotations

from collections.abc import Callable

from lossevo.loss.reference import LossSpec, reference_loss
from lossevo.loss.screen import fingerprint, screen
from lossevo.runs.store import RunStore, spec_of
from lossevo.search.genome import Genome
from lossevo.search.provenance import CONTROL, Provenance
from lossevo.search.standing import first_seen
from lossevo.search.variation import DUPLICATE_IN_GENERATION, DUPLICATE_IN_RUN

#: The screening verdict of a function that may be trained.
PASSED = "passed"


def trainable(row: dict) -> bool:
    """True for a function the search may train: it passed screening, or it is a control (a
    built-in loss; a seed formula equal to a control is that control's row)."""
    return row["verdict"] == PASSED or row["role"] == "baseline"


class Candidates:
    """The candidate rows of one search: screened once, looked up by key or fingerprint."""

    def __init__(self, store: RunStore):
        self.store = store
        self._by_fp: dict[str, tuple[dict, LossSpec]] = {}

    def assess(self, genome: Genome, generation: int, provenance: Provenance | None = None) -> dict:
        """The stored row of a genome's spec, screening it the first time it is seen (and
        recording ``provenance``, how it was made, then)."""
        spec = genome.spec()
        row = self.store.get_candidate(spec.key)
        if row is None:
            verdict = screen(spec)
            self.store.put_candidate(
                spec,
                verdict=PASSED if verdict.passed else verdict.reason,
                detail=verdict.detail,
                fingerprint=verdict.fingerprint,
                first_generation=generation,
                origin=provenance.origin if provenance else None,
                parents=provenance.parents if provenance else (),
            )
            row = self.store.get_candidate(spec.key)
        if trainable(row):
            self._by_fp.setdefault(row["fingerprint"], (row, spec))
        return row

    def controls(self, names: tuple[str, ...]) -> list[str]:
        """The controls' fingerprints, their rows stored (the first is the reference)."""
        out = []
        for name in names:
            spec = reference_loss(name)
            if self.store.get_candidate(spec.key) is None:
                self.store.put_candidate(
                    spec,
                    role="baseline",
                    name=name,
                    detail=spec.note,
                    fingerprint=fingerprint(spec),
                    first_generation=-1,
                    origin=CONTROL,
                )
            row = self.store.get_candidate(spec.key)
            self._by_fp[row["fingerprint"]] = (row, spec)
            out.append(row["fingerprint"])
        return out

    def by_fingerprint(self, fp: str) -> tuple[dict, LossSpec]:
        """A function's row and spec: one seen in this session, else its first stored row."""
        if fp not in self._by_fp:
            row = next(c for c in self.store.candidates(PASSED) if c["fingerprint"] == fp)
            self._by_fp[fp] = (row, spec_of(row))
        return self._by_fp[fp]

    def novelty(self, generation: int) -> Callable[[Genome, Provenance], str | None]:
        """The acceptance test of a generation's candidates (genomes, with how each was made):
        None for a function new to the run, else why not (a screening reason, or a
        duplicate)."""
        before = {fp for fp, gen in first_seen(self.store).items() if gen < generation}
        chosen: set[str] = set()

        def accept(genome: Genome, provenance: Provenance) -> str | None:
            row = self.assess(genome, generation, provenance)
            if not trainable(row):
                return row["verdict"]
            fp = row["fingerprint"]
            if fp in before:
                return DUPLICATE_IN_RUN
            if fp in chosen:
                return DUPLICATE_IN_GENERATION
            chosen.add(fp)
            return None

        return accept
