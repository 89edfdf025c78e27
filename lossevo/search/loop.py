"""The evolutionary loop: new functions every generation, racing on shared seeds, a verdict.

Per generation: variation is re-drawn until the generation holds ``population`` functions new
to the run (screened, fingerprints never trained); those race against the incumbent on the
seeds the controls were trained on (``search/racing.py``); each function's fitness is its
geometric-mean ratio to the reference control (BCE) on its seeds. Once the generations or the
budget are spent, the best functions and the controls are trained on fresh seeds that no
decision used, at the target budget: the verdict (``report/verdict.py`` reads it).

Every fact lands in the run store as soon as it is known (candidates, each evaluation, each
finished generation with the RNG state), and every decision is a function of stored facts and
the seeded ``random`` module. So a run killed at any point and resumed makes the same decisions,
re-running only the evaluations that had not finished.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from lossevo.loss.expr import LossExpr
from lossevo.loss.reference import LossSpec, reference_loss
from lossevo.loss.screen import fingerprint, screen
from lossevo.runs.pipeline import Destination, Work, pending, run_jobs
from lossevo.runs.store import RunStore
from lossevo.search.config import (
    PENALTY,
    SEARCH_STAGE,
    VERDICT_SEED_BASE,
    VERDICT_STAGE,
    SearchConfig,
)
from lossevo.search.gp import deap_to_tree
from lossevo.search.leaderboard import first_seen, hall_of_fame, search_score, standing
from lossevo.search.racing import RaceSettings, race
from lossevo.search.space import SearchSpace, load_space
from lossevo.search.spend import Spend
from lossevo.search.variation import Individual, Variation, str_formula


class Search:
    """One search run over a store and an executor; ``run()`` continues wherever it stopped."""

    def __init__(
        self,
        store: RunStore,
        config: SearchConfig,
        executor,
        echo: Callable[[str], None] = print,
        progress: bool = True,
    ):
        self.store, self.config, self.executor = store, config, executor
        self.echo, self.progress = echo, progress
        self.space: SearchSpace = load_space(config.space)
        self.variation = Variation(self.space, config)
        self.pareto = self.variation.pareto
        self.race_settings = RaceSettings(
            config.race_min_seeds, config.race_max_seeds, config.race_alpha, config.race_paired
        )
        self.spend = Spend(store, config)
        self.dispatched = 0  # evaluations run by this process (a resume re-runs only missing ones)
        self._specs: dict[str, tuple[dict, LossSpec]] = {}  # fingerprint -> (record, spec)

    # ----------------------------------------------------------------------------- candidates
    def spec_for(self, formula: str) -> LossSpec:
        return LossSpec.from_formula(
            formula, transform=self.space.transform, generator=self.space.generator
        )

    def assess(self, tree, generation: int) -> dict:
        """The stored candidate record for a tree, screening it the first time it is seen."""
        expr = LossExpr.from_tree(tree)
        record = self.store.get_candidate(expr.key)
        if record is None:
            spec = LossSpec(
                name=expr.text,
                expr=expr,
                transform=self.space.transform,
                generator=self.space.generator,
            )
            verdict = screen(spec)
            self.store.put_candidate(
                key=expr.key,
                verdict="passed" if verdict.passed else verdict.reason,
                formula=expr.formula,
                text=expr.text,
                latex=expr.latex,
                complexity=expr.complexity,
                detail=verdict.detail,
                fingerprint=verdict.fingerprint,
                first_generation=generation,
            )
            record = self.store.get_candidate(expr.key)
        return record

    def novelty(self, generation: int) -> Callable[[Individual], str | None]:
        """The acceptance test of a generation's children: None for a function new to the run,
        else why not (a screening reason, or a duplicate)."""
        before = {fp for fp, gen in first_seen(self.store).items() if gen < generation}
        chosen: set[str] = set()

        def accept(ind: Individual) -> str | None:
            record = self.assess(deap_to_tree(ind), generation)
            if record["verdict"] != "passed":
                return record["verdict"]
            fp = record["fingerprint"]
            if fp in before:
                return "duplicate_in_run"
            if fp in chosen:
                return "duplicate_in_generation"
            chosen.add(fp)
            return None

        return accept

    def controls(self) -> list[str]:
        """The controls' fingerprints, their candidate rows stored (first is the reference)."""
        out = []
        for name in self.config.controls:
            spec = reference_loss(name)
            fp = fingerprint(spec)
            key = f"baseline:{name}"
            if self.store.get_candidate(key) is None:
                self.store.put_candidate(
                    key=key,
                    role="baseline",
                    formula=spec.expr.formula,
                    text=name,
                    latex=spec.expr.latex,
                    complexity=spec.expr.complexity,
                    detail=spec.note,
                    fingerprint=fp,
                    first_generation=-1,
                )
            self._specs[fp] = (self.store.get_candidate(key), spec)
            out.append(fp)
        return out

    # ---------------------------------------------------------------------------- evaluation
    def train(self, pairs: list[tuple[str, int]], *, steps: int, stage: str, label: str) -> None:
        """Train (fingerprint, seed) pairs at ``steps`` for ``stage``, skipping stored ones."""
        works = []
        for fp, seed in pairs:
            record, spec = self._specs[fp]
            payload = {"loss": spec.to_dict(), "seed": seed, "steps": steps}
            works.append(
                Work(
                    payload,
                    Destination(
                        fp, record["key"], seed, steps, stage, record["role"], record["text"]
                    ),
                )
            )
        works = pending(works, self.store)
        if works:
            self.dispatched += len(works)
            run_jobs(self.store, self.executor, works, label=label, progress=self.progress)
            self.spend.update()

    def score(self, fp: str, seed: int) -> float | None:
        return search_score(self.store, fp, seed, self.config.steps)

    def evaluate_generation(
        self, population: list[Individual], generation: int, *, racing: bool = True
    ) -> dict:
        """Race the generation's new functions against the incumbent; set every fitness.

        ``racing=False`` only sets the fitnesses from stored results (a resume re-entering a
        finished generation must not race it again against what happened after it).
        """
        cfg = self.config
        controls = self.controls()
        records = [self.assess(deap_to_tree(ind), generation) for ind in population]
        seen = first_seen(self.store)
        entrants: list[str] = []
        for record in records:
            fp = record["fingerprint"]
            if record["verdict"] != "passed":
                continue
            self._specs.setdefault(fp, (record, self.spec_for(record["formula"])))
            if seen.get(fp) == generation and fp not in entrants:
                entrants.append(fp)

        def request(pairs: list[tuple[str, int]]) -> None:
            self.train(pairs, steps=cfg.steps, stage=SEARCH_STAGE, label=f"gen {generation}")

        outcomes, incumbent = {}, None
        if racing:
            for fp in controls:  # the controls train on every racing seed, before any race
                request([(fp, s) for s in range(cfg.race_max_seeds)])
            # the best of what earlier generations established: a resume sees the same one
            incumbent = standing(self.store, cfg, before=generation)[0]["fingerprint"]
            outcomes = race(
                entrants, incumbent, self.race_settings, request=request, score=self.score
            )
        table = {row["fingerprint"]: row for row in standing(self.store, cfg, every=True)}
        for ind, record in zip(population, records, strict=True):
            row = table.get(record["fingerprint"]) if record["verdict"] == "passed" else None
            value = row["fitness"] if row and row["fitness"] is not None else PENALTY
            ind.fitness.values = (value, record["complexity"]) if self.pareto else (value,)
        values = sorted(ind.fitness.values[0] for ind in population)
        finite = [v for v in values if v < PENALTY]
        counts = {s: sum(o.status == s for o in outcomes.values()) for s in _OUTCOMES}
        return {
            "best": values[0],
            "median": values[len(values) // 2],
            "median_valid": finite[len(finite) // 2] if finite else None,
            "passed": sum(r["verdict"] == "passed" for r in records),
            "unique_fingerprints": len({r["fingerprint"] for r in records}),
            "new_functions": len(entrants),
            "race": counts,
            "outcomes": {fp: o.to_dict() for fp, o in outcomes.items()},
            "incumbent": incumbent,
        }

    # ---------------------------------------------------------------------------------- run
    def initial_population(self) -> tuple[list[Individual], dict]:
        """The space's seeds and random trees; random ones that are not new to the run (they
        fail screening or repeat a function) are re-drawn, within the attempts allowed."""
        accept, cfg = self.novelty(0), self.config
        stats: dict = {"attempts": 0, "accepted": 0, "rejected": {}, "random_fill": 0, "short": 0}
        seeds = len(self.space.seed_trees())
        population = []
        for i, ind in enumerate(self.variation.initial_population()):
            for attempt in range(cfg.variation_attempts):
                stats["attempts"] += 1
                reason = accept(ind)
                if reason is None or i < seeds:
                    break
                stats["rejected"][reason] = stats["rejected"].get(reason, 0) + 1
                if attempt + 1 < cfg.variation_attempts:
                    ind = self.variation.random_individual()
            else:
                stats["short"] += 1
            stats["accepted"] += reason is None
            population.append(ind)
        return population, stats

    def next_population(
        self, population: list[Individual], generation: int
    ) -> tuple[list[Individual], dict]:
        """Elites plus children new to the run; the variation statistics for the record."""
        elites = self.variation.elites(population)
        k = self.config.population - len(elites)
        accept = self.novelty(generation)
        children, stats = self.variation.offspring(
            population, k, accept, self.config.variation_attempts * k
        )
        return elites + children, stats

    def run(self) -> None:
        """Run (or continue) the generations within the budget, then the verdict."""
        cfg = self.config
        self.controls()  # stored first: no generation's novelty test can see them as new
        last = self.store.last_generation()
        if last is None:
            population, variation = self.initial_population()
            start = 0
        else:
            population = self.variation.from_formulas(last["population"])
            self.evaluate_generation(population, last["generation"], racing=False)
            random.setstate(last["rng_state"])
            start = last["generation"] + 1
            variation = {}
            if start < cfg.generations:  # a finished run draws no children it will not race
                population, variation = self.next_population(population, start)
            self.store.log("resume", f"resumed at generation {start}")
        with self.spend.bar(self.progress):
            for generation in range(start, cfg.generations):
                if self.spend.exhausted():
                    self.store.log("budget", f"budget spent before generation {generation}")
                    self.echo(f"budget spent ({self.spend.describe()}): no new generation")
                    break
                stats = self.evaluate_generation(population, generation)
                stats["variation"] = variation
                stats["spent_steps"] = self.spend.steps_stored()
                if generation + 1 < cfg.generations:
                    rng = random.getstate()
                    next_pop, next_variation = self.next_population(population, generation + 1)
                else:
                    rng, next_pop, next_variation = random.getstate(), [], {}
                self.spend.update()
                self.store.put_generation(
                    generation, [str_formula(ind) for ind in population], rng, stats
                )
                self.echo(_generation_line(generation, stats, len(population), self.spend))
                population, variation = next_pop, next_variation
        self.finalise()
        self.store.log("dispatched", f"{self.dispatched} evaluations run in this session")

    def finalise(self) -> None:
        """The verdict: the best functions and the controls on fresh seeds at the target."""
        cfg = self.config
        controls = self.controls()
        top = [row["fingerprint"] for row in hall_of_fame(self.store, cfg)[: cfg.verdict_top]]
        for fp in top:
            if fp not in self._specs:
                record = next(c for c in self.store.candidates("passed") if c["fingerprint"] == fp)
                self._specs[fp] = (record, self.spec_for(record["formula"]))
        seeds = range(VERDICT_SEED_BASE, VERDICT_SEED_BASE + cfg.verdict_seeds)
        pairs = [(fp, s) for s in seeds for fp in [*top, *controls]]
        self.train(pairs, steps=cfg.verdict_steps, stage=VERDICT_STAGE, label="verdict")


_OUTCOMES = ("survived", "eliminated", "failed")


def _generation_line(generation: int, stats: dict, size: int, spend: Spend) -> str:
    best = "none" if stats["best"] >= PENALTY else f"{stats['best']:.2f} x reference"
    race_counts = ", ".join(f"{n} {s}" for s, n in stats["race"].items() if n)
    return (
        f"generation {generation}: {stats['new_functions']}/{size} new functions "
        f"({race_counts or 'none raced'}); best {best}; budget {spend.describe()}"
    )
