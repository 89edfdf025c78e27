"""The evolutionary loop: new functions every generation, racing on shared seeds, a verdict.

Per generation: variation is re-drawn until the generation holds ``population`` functions new
to the run (screened, fingerprints never trained); those race against the incumbent on the
seeds the controls were trained on (``search/racing.py``). Every racing training runs toward
the target budget and is scored at checkpoints, where it stops itself if it is clearly behind
the controls and the incumbent on its seed, or has collapsed (``fitness/early_stop.py``). Each
function's fitness is its geometric-mean ratio to the reference control (BCE) at the target on
its seeds: what the verdict measures, on other seeds. Once the generations or the
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

from lossevo.fitness.early_stop import checkpoints_for, collapse_step, stop_rule
from lossevo.fitness.scores import checkpoint_curve, stopped
from lossevo.runs.store import RunStore
from lossevo.search.candidates import Candidates, trainable
from lossevo.search.config import (
    CHECKPOINT_TASKS,
    PENALTY,
    SEARCH_STAGE,
    VERDICT_SEED_BASE,
    VERDICT_STAGE,
    SearchConfig,
)
from lossevo.search.generation_stats import RACE_OUTCOMES, GenerationStats, VariationStats
from lossevo.search.leaderboard import hall_of_fame
from lossevo.search.racing import RaceSettings, Then, race
from lossevo.search.space import SearchSpace, load_space
from lossevo.search.spend import Spend
from lossevo.search.standing import first_seen, fitness_table, incumbent, racing_score
from lossevo.search.trainings import train
from lossevo.search.variation import Accept, Individual, Variation, genome_of


class Search:
    """One search run over a store and an executor; ``run()`` continues wherever it stopped."""

    def __init__(
        self,
        store: RunStore,
        config: SearchConfig,
        executor,
        echo: Callable[[str], None] = print,
        progress: bool = True,
        space: SearchSpace | None = None,
    ):
        self.store, self.config, self.executor = store, config, executor
        self.echo, self.progress = echo, progress
        self.space: SearchSpace = space or load_space(config.space)
        self.variation = Variation(self.space, config)
        self.candidates = Candidates(store)
        self.race_settings = RaceSettings(
            config.race_min_seeds, config.race_max_seeds, config.race_alpha, config.race_paired
        )
        self.spend = Spend(store, config)
        self.dispatched = 0  # evaluations run by this process (a resume re-runs only missing ones)

    def run(self) -> None:
        """Run (or continue) the generations within the budget, then the verdict."""
        cfg = self.config
        self.candidates.controls(cfg.controls)  # stored first: never "new" to a generation
        population, generation, variation = self.start()
        with self.spend.bar(self.progress):
            while generation < cfg.generations and not self.budget_spent(generation):
                stats = self.evaluate(population, generation)
                stats.variation = variation
                rng = random.getstate()  # the next population is bred from here on resume
                offspring, variation = self.breed(population, generation + 1)
                self.record(generation, population, rng, stats)
                population, generation = offspring, generation + 1
        self.finalise()
        self.store.log("dispatched", f"{self.dispatched} evaluations run in this session")

    # ---------------------------------------------------------------------------- the steps
    def start(self) -> tuple[list[Individual], int, VariationStats]:
        """The population to evaluate first and its generation: the initial one, or on resume
        the one bred from the last stored generation with its stored RNG state."""
        last = self.store.last_generation()
        if last is None:
            population, variation = self.variation.initial_population(
                self.accept(0), self.config.variation_attempts * self.config.population
            )
            return population, 0, variation
        population = self.variation.from_members(last["population"])
        self.set_fitness(population, last["generation"])
        random.setstate(last["rng_state"])
        generation = last["generation"] + 1
        self.store.log("resume", f"resumed at generation {generation}")
        offspring, variation = self.breed(population, generation)
        return offspring, generation, variation

    def budget_spent(self, generation: int) -> bool:
        if not self.spend.exhausted():
            return False
        self.store.log("budget", f"budget spent before generation {generation}")
        self.echo(f"budget spent ({self.spend.describe()}): no new generation")
        return True

    def accept(self, generation: int) -> Accept:
        """The novelty test of ``generation`` on DEAP individuals."""
        novel = self.candidates.novelty(generation)
        return lambda ind: novel(genome_of(ind), ind.provenance)

    def breed(
        self, population: list[Individual], generation: int
    ) -> tuple[list[Individual], VariationStats]:
        """Elites plus children new to the run; none after the last generation (a finished
        run draws no children it will not race)."""
        if generation >= self.config.generations:
            return [], VariationStats()
        elites = self.variation.elites(population)
        k = self.config.population - len(elites)
        children, stats = self.variation.offspring(
            population, k, self.accept(generation), self.config.variation_attempts * k
        )
        return elites + children, stats

    def evaluate(self, population: list[Individual], generation: int) -> GenerationStats:
        """Race the generation's new functions against the incumbent; set every fitness."""
        cfg = self.config
        controls = self.candidates.controls(cfg.controls)
        rows = [self.candidates.assess(genome_of(ind), generation) for ind in population]
        seen = first_seen(self.store)
        passed = [row["fingerprint"] for row in rows if trainable(row)]
        entrants = list(dict.fromkeys(fp for fp in passed if seen.get(fp) == generation))
        seeds = range(cfg.race_max_seeds)  # the controls train on every racing seed first
        self.train_racing([(fp, s) for fp in controls for s in seeds], generation)
        best = incumbent(self.store, cfg, generation)
        references = list(dict.fromkeys([*controls, best]))
        outcomes = race(
            entrants,
            best,
            self.race_settings,
            request=lambda pairs, then: self.train_racing(pairs, generation, then, references),
            score=lambda fp, seed: racing_score(self.store, fp, seed, cfg.steps),
            stopped=lambda fp, seed: stopped(
                self.store.get_evaluation(fp, seed, cfg.steps, stage=SEARCH_STAGE)
            ),
        )
        values = self.set_fitness(population, generation, rows)
        finite = [v for v in values if v < PENALTY]
        return GenerationStats(
            best=values[0],
            median=values[len(values) // 2],
            median_valid=finite[len(finite) // 2] if finite else None,
            passed=len(passed),
            unique_fingerprints=len({row["fingerprint"] for row in rows}),
            new_functions=len(entrants),
            race={str(s): sum(o.status == s for o in outcomes.values()) for s in RACE_OUTCOMES},
            outcomes={fp: o.to_dict() for fp, o in outcomes.items()},
            incumbent=best,
            spent_steps=self.spend.steps_stored(),
        )

    def set_fitness(
        self, population: list[Individual], generation: int, rows: list[dict] | None = None
    ) -> list[float]:
        """Every individual's fitness from the stored standing (the penalty for functions
        that failed screening or the race); returns the fitnesses sorted."""
        rows = rows or [self.candidates.assess(genome_of(i), generation) for i in population]
        table = fitness_table(self.store, self.config)
        pareto = self.variation.pareto
        for ind, row in zip(population, rows, strict=True):
            value = table.get(row["fingerprint"]) if trainable(row) else None
            value = PENALTY if value is None else value
            ind.fitness.values = (value, row["complexity"]) if pareto else (value,)
        return sorted(ind.fitness.values[0] for ind in population)

    def record(
        self, generation: int, population: list[Individual], rng: tuple, stats: GenerationStats
    ) -> None:
        """Store the finished generation (with the RNG state its successor is bred from)."""
        self.spend.update()
        members = self.variation.members(population)
        self.store.put_generation(generation, members, rng, stats.to_dict())
        self.echo(_generation_line(generation, stats, len(population), self.spend))

    def train_racing(
        self,
        pairs: list[tuple[str, int]],
        generation: int,
        then: Then | None = None,
        references: list[str] | None = None,
    ) -> None:
        """Racing trainings, scored at the checkpoints where the task can be; with
        ``references``, each stops early against their scores on its seed."""
        cfg = self.config

        def options(fp: str, seed: int) -> dict:
            if cfg.task not in CHECKPOINT_TASKS:
                return {}
            points = checkpoints_for(cfg.steps)
            if not (references and cfg.early_stop) or fp in references:
                return {"checkpoints": points}
            curves = [
                checkpoint_curve(self.store.get_evaluation(ref, seed, cfg.steps) or {})
                for ref in references
            ]
            rule = stop_rule(
                curves, points, margin=cfg.stop_margin, collapse_from=collapse_step(cfg.steps)
            )
            return {"checkpoints": points, "stop": rule.to_dict()}

        self.train(
            pairs,
            steps=cfg.steps,
            stage=SEARCH_STAGE,
            label=f"gen {generation}",
            options=options,
            then=then,
        )

    def train(
        self,
        pairs: list[tuple[str, int]],
        *,
        steps: int,
        stage: str,
        label: str,
        options: Callable[[str, int], dict] | None = None,
        then: Then | None = None,
    ) -> None:
        ran = train(
            self.store,
            self.executor,
            self.candidates,
            pairs,
            steps=steps,
            stage=stage,
            label=label,
            progress=self.progress,
            options=options,
            then=then,
        )
        if ran:
            self.dispatched += ran
            self.spend.update()

    def finalise(self) -> None:
        """The verdict: the best functions and the controls on fresh seeds at the target."""
        cfg = self.config
        controls = self.candidates.controls(cfg.controls)
        top = [row["fingerprint"] for row in hall_of_fame(self.store, cfg)[: cfg.verdict_top]]
        seeds = range(VERDICT_SEED_BASE, VERDICT_SEED_BASE + cfg.verdict_seeds)
        pairs = [(fp, s) for s in seeds for fp in [*top, *controls]]
        self.train(pairs, steps=cfg.verdict_steps, stage=VERDICT_STAGE, label="verdict")


def _generation_line(generation: int, stats: GenerationStats, size: int, spend: Spend) -> str:
    best = "none" if stats.best >= PENALTY else f"{stats.best:.2f} x reference"
    race_counts = ", ".join(f"{n} {s}" for s, n in stats.race.items() if n)
    return (
        f"generation {generation}: {stats.new_functions}/{size} new functions "
        f"({race_counts or 'none raced'}); best {best}; budget {spend.describe()}"
    )
