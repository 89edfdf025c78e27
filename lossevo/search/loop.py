"""The evolutionary loop: screening and fingerprint dedup, successive halving, generations.

Every fact the loop learns lands in the run store as soon as it is known (candidates, each
evaluation, each finished generation with the RNG state), and every decision is a function of
stored facts and the seeded ``random`` module. So a run killed at any point and resumed makes
the same decisions, re-running only the evaluations that had not finished.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from lossevo.loss.expr import LossExpr
from lossevo.loss.reference import LossSpec, reference_loss
from lossevo.loss.screen import fingerprint, screen
from lossevo.runs.pipeline import Destination, Work, pending, run_jobs
from lossevo.runs.store import RunStore
from lossevo.search.config import PENALTY, SearchConfig
from lossevo.search.gp import deap_to_tree
from lossevo.search.leaderboard import hall_of_fame
from lossevo.search.space import SearchSpace, load_space
from lossevo.search.variation import Individual, Variation, str_formula
from lossevo.util.fmt import fmt_number

#: The stage of every evaluation of a search (successive halving differs only in budget).
STAGE = "search"


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
        self.dispatched = 0  # evaluations run by this process (a resume re-runs only missing ones)

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

    def fitness_of(self, record: dict) -> float:
        if record["verdict"] != "passed":
            return PENALTY
        summary = self.store.fitness_summary(record["fingerprint"])
        if not summary.get("n"):
            return PENALTY
        return summary["mean"]

    # ---------------------------------------------------------------------------- evaluation
    def evaluate(
        self, items: list[tuple[dict, LossSpec]], seeds: range, steps: int, label: str
    ) -> None:
        """Evaluate (record, spec) pairs on ``seeds`` at ``steps``, skipping stored results."""
        works = [
            Work(
                {"loss": spec.to_dict(), "seed": seed, "steps": steps},
                Destination(
                    record["fingerprint"], record["key"], seed, steps, STAGE, record["role"]
                ),
            )
            for record, spec in items
            for seed in seeds
        ]
        works = pending(works, self.store)
        if works:
            self.dispatched += len(works)
            run_jobs(self.store, self.executor, works, label=label, progress=self.progress)

    def evaluate_generation(self, population: list[Individual], generation: int) -> dict:
        """Screen, dedup and evaluate one population with successive halving; set fitnesses."""
        records = [self.assess(deap_to_tree(ind), generation) for ind in population]
        unique: dict[str, dict] = {}
        for record in records:
            if record["verdict"] == "passed":
                unique.setdefault(record["fingerprint"], record)
        items = [(r, self.spec_for(r["formula"])) for r in unique.values()]
        cfg = self.config
        self.evaluate(items, range(1), cfg.short_steps, f"gen {generation} short")
        ranked = sorted(items, key=lambda it: (self._short_fitness(it[0]), it[0]["key"]))
        n_full = math.ceil(cfg.promote_fraction * len(ranked)) if ranked else 0
        self.evaluate(
            ranked[:n_full], range(cfg.full_seeds), cfg.full_steps, f"gen {generation} full"
        )
        for ind, record in zip(population, records, strict=True):
            value = self.fitness_of(record)
            ind.fitness.values = (value, record["complexity"]) if self.pareto else (value,)
        values = sorted(self.fitness_of(r) for r in records)
        finite = [v for v in values if v < PENALTY]
        return {
            "best": values[0],
            "median": values[len(values) // 2],
            "median_valid": finite[len(finite) // 2] if finite else None,
            "passed": sum(r["verdict"] == "passed" for r in records),
            "unique_fingerprints": len(unique),
            "promoted": n_full,
        }

    def _short_fitness(self, record: dict) -> float:
        result = self.store.get_evaluation(record["fingerprint"], 0, self.config.short_steps)
        if result is None or result["status"] != "ok" or result["fitness"] is None:
            return PENALTY
        return result["fitness"]

    # ---------------------------------------------------------------------------------- run
    def run(self) -> None:
        """Run (or continue) the generations, then the final re-evaluation and baselines."""
        cfg = self.config
        last = self.store.last_generation()
        if last is None:
            population, start = self.variation.initial_population(), 0
        else:
            population = self.variation.from_formulas(last["population"])
            self.evaluate_generation(population, last["generation"])
            random.setstate(last["rng_state"])
            population, start = self.variation.next_population(population), last["generation"] + 1
            self.store.log("resume", f"resumed at generation {start}")
        for generation in range(start, cfg.generations):
            stats = self.evaluate_generation(population, generation)
            self.store.put_generation(
                generation, [str_formula(ind) for ind in population], random.getstate(), stats
            )
            self.echo(
                f"generation {generation}: best {_fmt(stats['best'])}, median of valid "
                f"{_fmt(stats['median_valid'])}, {stats['passed']}/{len(population)} "
                f"passed screening, {stats['unique_fingerprints']} distinct"
            )
            if generation + 1 < cfg.generations:
                population = self.variation.next_population(population)
        self.finalise()
        self.store.log("dispatched", f"{self.dispatched} evaluations run in this session")

    def finalise(self) -> None:
        """Re-evaluate the best candidates on more seeds, and the baselines on the same ones."""
        cfg = self.config
        top = hall_of_fame(self.store, cfg)[: cfg.final_top]
        items = [
            (self.store.get_candidate(row["key"]), self.spec_for(row["formula"])) for row in top
        ]
        self.evaluate(items, range(cfg.final_seeds), cfg.full_steps, "final seeds")
        baselines = []
        for name in cfg.baselines:
            spec = reference_loss(name)
            record = {
                "key": f"baseline:{name}",
                "fingerprint": fingerprint(spec),
                "role": "baseline",
            }
            self.store.put_candidate(
                key=record["key"],
                role="baseline",
                formula=spec.expr.formula,
                text=spec.expr.text,
                latex=spec.expr.latex,
                complexity=spec.expr.complexity,
                detail=spec.note,
                fingerprint=record["fingerprint"],
                first_generation=-1,
            )
            baselines.append((record, spec))
        self.evaluate(baselines, range(cfg.final_seeds), cfg.full_steps, "baselines")


def _fmt(value) -> str:
    """A generation's fitness: rejected for the penalty, else the shared number format."""
    return "rejected" if value is not None and value >= PENALTY else fmt_number(value)
