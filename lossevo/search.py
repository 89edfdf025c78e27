"""The evolutionary loop: DEAP variation, screening and fingerprint dedup, successive halving.

Every fact the loop learns lands in the run store as soon as it is known (candidates, each
evaluation, each finished generation with the RNG state), and every decision is a function of
stored facts and the seeded ``random`` module. So a run killed at any point and resumed makes
the same decisions, re-running only the evaluations that had not finished.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from deap import base, gp, tools
from tqdm import tqdm

from lossevo.executors import Job
from lossevo.expr import LossExpr
from lossevo.formula import parse_formula, tree_to_text
from lossevo.gp import deap_to_tree, make_pset, tree_to_deap
from lossevo.losses import LossSpec, reference_loss
from lossevo.screen import fingerprint, screen
from lossevo.space import SearchSpace, load_space
from lossevo.store import RunStore

#: Fitness given to rejected, diverged and failed candidates (fitness is minimised).
PENALTY = 1e6


@dataclass
class SearchConfig:
    """Everything that defines a search; execution settings live in the executor."""

    space: str = "ganetic"
    population: int = 10
    generations: int = 3
    seed: int = 0
    selection: str = "tournament"      # tournament | nsga2 (fitness and complexity)
    tournament_size: int = 3
    crossover_prob: float = 0.5
    mutation_prob: float = 0.6
    elites: int = 2
    hall_of_fame: int = 10
    short_steps: int = 40              # successive halving: every new candidate
    full_steps: int = 120              # ... the best fraction of each generation
    promote_fraction: float = 0.25
    full_seeds: int = 1
    final_top: int = 2                 # elites re-evaluated on more seeds at the end
    final_seeds: int = 2
    baselines: tuple[str, ...] = ("bce", "ganetic")
    task: str = "gan"
    task_config: dict = field(default_factory=dict)

    #: Keys that may change when a run is resumed (``generations`` extends a finished run).
    RESUMABLE = ("generations",)

    def identity(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in self.RESUMABLE}

    @classmethod
    def from_dict(cls, data: dict) -> SearchConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "baselines" in known:
            known["baselines"] = tuple(known["baselines"])
        return cls(**known)

    def validate(self) -> None:
        checks = [(self.population >= 2, "--population must be at least 2"),
                  (self.generations >= 1, "--generations must be at least 1"),
                  (0 <= self.elites < self.population, "--elites must be below --population"),
                  (self.selection in ("tournament", "nsga2"),
                   "--selection must be tournament or nsga2"),
                  (0 < self.short_steps <= self.full_steps,
                   "--short-steps must be positive and at most --full-steps"),
                  (0 < self.promote_fraction <= 1, "--promote-fraction must be in (0, 1]"),
                  (self.full_seeds >= 1 and self.final_seeds >= self.full_seeds,
                   "--final-seeds must be at least --full-seeds, which must be at least 1")]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


class _Fitness(base.Fitness):
    weights = (-1.0,)


class _ParetoFitness(base.Fitness):
    weights = (-1.0, -1.0)


class Individual(gp.PrimitiveTree):
    """A DEAP tree with a fitness; it never leaves this process."""

    def __init__(self, content, pareto: bool = False):
        super().__init__(content)
        self.fitness = _ParetoFitness() if pareto else _Fitness()


class Search:
    """One search run over a store and an executor; ``run()`` continues wherever it stopped."""

    def __init__(self, store: RunStore, config: SearchConfig, executor,
                 echo: Callable[[str], None] = print, progress: bool = True):
        self.store, self.config, self.executor = store, config, executor
        self.echo, self.progress = echo, progress
        self.space: SearchSpace = load_space(config.space)
        self.pset = make_pset(self.space)
        self.pareto = config.selection == "nsga2"
        self.dispatched = 0  # evaluations run by this process (a resume re-runs only missing ones)

    # ----------------------------------------------------------------------------- candidates
    def spec_for(self, formula: str) -> LossSpec:
        return LossSpec.from_formula(formula, transform=self.space.transform,
                                     generator=self.space.generator)

    def assess(self, tree, generation: int) -> dict:
        """The stored candidate record for a tree, screening it the first time it is seen."""
        expr = LossExpr.from_tree(tree)
        record = self.store.get_candidate(expr.key)
        if record is None:
            spec = LossSpec(name=expr.text, expr=expr, transform=self.space.transform,
                            generator=self.space.generator)
            verdict = screen(spec)
            self.store.put_candidate(key=expr.key, verdict="passed" if verdict.passed
                                     else verdict.reason, formula=expr.formula, text=expr.text,
                                     latex=expr.latex, complexity=expr.complexity,
                                     detail=verdict.detail, fingerprint=verdict.fingerprint,
                                     first_generation=generation)
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
    def evaluate(self, items: list[tuple[dict, LossSpec]], seeds: range, steps: int,
                 label: str) -> None:
        """Evaluate (record, spec) pairs on ``seeds`` at ``steps``, skipping stored results."""
        jobs, seen = [], set()
        for record, spec in items:
            for seed in seeds:
                job_id = f"{record['fingerprint']}:{seed}:{steps}"
                if job_id in seen or self.store.get_evaluation(record["fingerprint"], seed,
                                                               steps):
                    continue
                seen.add(job_id)
                jobs.append(Job(job_id, {"loss": spec.to_dict(), "seed": seed, "steps": steps,
                                         "key": record["key"]}))
        if not jobs:
            return
        self.dispatched += len(jobs)
        bar = tqdm(total=len(jobs), desc=label, unit="eval", disable=not self.progress,
                   leave=False)
        for job, result in self.executor.run(jobs):
            fp, seed, steps_ = job.job_id.rsplit(":", 2)
            self.store.put_evaluation(fp, job.payload["key"], int(seed), int(steps_), result)
            if result["status"] == "failed":
                self.store.log("failed", f"{job.payload['loss']['formula']} seed {seed}: "
                                         f"{(result.get('error') or '').splitlines()[0]}")
            bar.update(1)
            bar.set_postfix_str(f"{result['status']} {_fmt(result.get('fitness'))}")
        bar.close()

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
        self.evaluate(ranked[:n_full], range(cfg.full_seeds), cfg.full_steps,
                      f"gen {generation} full")
        for ind, record in zip(population, records, strict=True):
            value = self.fitness_of(record)
            ind.fitness.values = (value, record["complexity"]) if self.pareto else (value,)
        values = sorted(self.fitness_of(r) for r in records)
        finite = [v for v in values if v < PENALTY]
        return {"best": values[0], "median": values[len(values) // 2],
                "median_valid": finite[len(finite) // 2] if finite else None,
                "passed": sum(r["verdict"] == "passed" for r in records),
                "unique_fingerprints": len(unique), "promoted": n_full}

    def _short_fitness(self, record: dict) -> float:
        result = self.store.get_evaluation(record["fingerprint"], 0, self.config.short_steps)
        if result is None or result["status"] != "ok" or result["fitness"] is None:
            return PENALTY
        return result["fitness"]

    # ----------------------------------------------------------------------------- variation
    def initial_population(self) -> list[Individual]:
        random.seed(self.config.seed)
        seeds = [Individual(tree_to_deap(t, self.pset), self.pareto)
                 for t in self.space.seed_trees()][: self.config.population]
        limits = self.space.tree
        rest = [Individual(gp.genHalfAndHalf(self.pset, limits.init_min_height,
                                             limits.init_max_height), self.pareto)
                for _ in range(self.config.population - len(seeds))]
        return seeds + rest

    def next_population(self, population: list[Individual]) -> list[Individual]:
        cfg = self.config
        order = sorted(population, key=lambda ind: (ind.fitness.values[0], str(ind)))
        elites = [self._clone(ind) for ind in order[: cfg.elites]]
        k = cfg.population - len(elites)
        if self.pareto:
            parents = tools.selNSGA2(population, k)
            random.shuffle(parents)
        else:
            parents = tools.selTournament(population, k, tournsize=cfg.tournament_size)
        offspring = [self._clone(p) for p in parents]
        for i in range(1, len(offspring), 2):
            if random.random() < cfg.crossover_prob:
                a, b = gp.cxOnePoint(self._clone(offspring[i - 1]), self._clone(offspring[i]))
                offspring[i - 1] = self._within_limits(a, offspring[i - 1])
                offspring[i] = self._within_limits(b, offspring[i])
        for i, ind in enumerate(offspring):
            if random.random() < cfg.mutation_prob:
                offspring[i] = self._within_limits(self._mutate(self._clone(ind)), ind)
        return elites + offspring

    def _mutate(self, ind: Individual) -> Individual:
        choice = random.randrange(4)
        if choice == 0:
            (ind,) = gp.mutUniform(ind, expr=lambda pset, type_: gp.genFull(pset, 0, 2, type_),
                                   pset=self.pset)
        elif choice == 1:
            (ind,) = gp.mutNodeReplacement(ind, self.pset)
        elif choice == 2:
            (ind,) = gp.mutEphemeral(ind, "one")
        else:
            (ind,) = gp.mutShrink(ind)
        return ind

    def _within_limits(self, child: Individual, parent: Individual) -> Individual:
        limits = self.space.tree
        if child.height > limits.max_height or len(child) > limits.max_size:
            return self._clone(parent)
        return child

    def _clone(self, ind: Individual) -> Individual:
        new = Individual(list(ind), self.pareto)
        if ind.fitness.valid:
            new.fitness.values = ind.fitness.values
        return new

    def _from_formulas(self, formulas: list[str]) -> list[Individual]:
        ops = set(self.space.operators)
        return [Individual(tree_to_deap(parse_formula(f, ops), self.pset), self.pareto)
                for f in formulas]

    # ---------------------------------------------------------------------------------- run
    def run(self) -> None:
        """Run (or continue) the generations, then the final re-evaluation and baselines."""
        cfg = self.config
        last = self.store.last_generation()
        if last is None:
            population, start = self.initial_population(), 0
        else:
            population = self._from_formulas(last["population"])
            self.evaluate_generation(population, last["generation"])
            random.setstate(last["rng_state"])
            population, start = self.next_population(population), last["generation"] + 1
            self.store.log("resume", f"resumed at generation {start}")
        for generation in range(start, cfg.generations):
            stats = self.evaluate_generation(population, generation)
            self.store.put_generation(generation, [str_formula(ind) for ind in population],
                                      random.getstate(), stats)
            self.echo(f"generation {generation}: best {_fmt(stats['best'])}, median of valid "
                      f"{_fmt(stats['median_valid'])}, {stats['passed']}/{len(population)} "
                      f"passed screening, {stats['unique_fingerprints']} distinct")
            if generation + 1 < cfg.generations:
                population = self.next_population(population)
        self.finalise()
        self.store.log("dispatched", f"{self.dispatched} evaluations run in this session")

    def finalise(self) -> None:
        """Re-evaluate the best candidates on more seeds, and the baselines on the same ones."""
        cfg = self.config
        from lossevo.report import hall_of_fame

        top = hall_of_fame(self.store, cfg)[: cfg.final_top]
        items = [(self.store.get_candidate(row["key"]), self.spec_for(row["formula"]))
                 for row in top]
        self.evaluate(items, range(cfg.final_seeds), cfg.full_steps, "final seeds")
        baselines = []
        for name in cfg.baselines:
            spec = reference_loss(name)
            record = {"key": f"baseline:{name}", "fingerprint": fingerprint(spec)}
            self.store.put_candidate(key=record["key"], verdict="baseline",
                                     formula=spec.expr.formula, text=spec.expr.text,
                                     latex=spec.expr.latex, complexity=spec.expr.complexity,
                                     detail=spec.note, fingerprint=record["fingerprint"],
                                     first_generation=-1)
            baselines.append((record, spec))
        self.evaluate(baselines, range(cfg.final_seeds), cfg.full_steps, "baselines")


def str_formula(ind: Individual) -> str:
    """An individual as formula text that parses back to the same tree."""
    return tree_to_text(deap_to_tree(ind))


def _fmt(value) -> str:
    if value is None:
        return "-"
    if value >= PENALTY:
        return "rejected"
    return f"{value:.4g}"


def start_search(run_dir, config: SearchConfig, *, workers: int = 1,
                 ray_address: str | None = None, gpus_per_eval: float = 0.0,
                 eval_timeout: float | None = None, echo=print, progress: bool = True) -> Path:
    """Create a run directory and run the search in it."""
    config.validate()
    space = load_space(config.space)
    with _executor(config, workers, ray_address, gpus_per_eval, eval_timeout) as executor:
        with create_run(run_dir, config, space) as store:
            run_on(store, config, executor, echo, progress)
    return Path(run_dir)


def create_run(run_dir, config: SearchConfig, space: SearchSpace | None = None) -> RunStore:
    """A new run directory whose config records the search and the space's content."""
    space = space or load_space(config.space)
    return RunStore.create(run_dir, {"search": asdict(config), "space_digest": space.digest(),
                                     "space": space.to_dict()}, kind="search")


def resume_search(run_dir, *, overrides: dict | None = None, workers: int = 1,
                  ray_address: str | None = None, gpus_per_eval: float = 0.0,
                  eval_timeout: float | None = None, echo=print, progress: bool = True) -> Path:
    """Continue a run from its database; ``overrides`` may only extend ``generations``."""
    with RunStore.open(run_dir, kind="search") as probe:
        stored = SearchConfig.from_dict(probe.config["search"])
        overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
        probe.check_config(overrides, [k for k in overrides if k not in SearchConfig.RESUMABLE])
        digest = probe.config.get("space_digest")
    config = SearchConfig.from_dict({**asdict(stored), **overrides})
    config.validate()
    if load_space(config.space).digest() != digest:
        raise ValueError(f"the search space {config.space!r} changed since this run started; "
                         f"restore it or start a new run")
    with _executor(config, workers, ray_address, gpus_per_eval, eval_timeout) as executor:
        with RunStore.open(run_dir, kind="search") as store:
            run_on(store, config, executor, echo, progress)
    return Path(run_dir)


def _executor(config, workers, ray_address, gpus_per_eval, eval_timeout):
    """The executor, made before the store is touched: a bad address leaves a run unchanged."""
    from lossevo.executors import make_executor

    return make_executor(config.task, config.task_config, workers=workers, address=ray_address,
                         gpus_per_eval=gpus_per_eval, timeout_s=eval_timeout)


def run_on(store: RunStore, config: SearchConfig, executor, echo=print,
           progress: bool = True) -> None:
    """Run or continue the search in ``store`` on ``executor``; write the views and leaderboard."""
    from lossevo.report import leaderboard_text, write_views

    search = Search(store, config, executor, echo=echo, progress=progress)
    try:
        search.run()
    finally:
        write_views(store)
    echo("")
    echo(leaderboard_text(store))
