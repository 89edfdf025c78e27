"""DEAP variation: the initial population, selection, crossover and mutation within limits.

Individuals are DEAP trees with a fitness, a transform and a generator convention; they never
leave this process (the loop sees each as a :class:`Genome`, the store and the workers as text).
Conventions are drawn uniformly from the space's lists; a child of crossover takes each from one
of its parents; mutation changes each with its own small probability. A list of one name draws
nothing from ``random``, so a single-convention space evolves exactly as before lists existed.

Each individual also carries its provenance (``search/provenance.py``): a seed formula, a random
tree, or offspring with its parents' keys. Recording it draws nothing from ``random``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from deap import base, gp, tools

from lossevo.loss.expr import LossExpr
from lossevo.loss.formula import tree_to_text
from lossevo.loss.reference import reference_loss, spec_key
from lossevo.search.config import SearchConfig
from lossevo.search.generation_stats import VariationStats
from lossevo.search.genome import Genome, genome_from_member
from lossevo.search.gp import deap_to_tree, make_pset, tree_to_deap
from lossevo.search.provenance import DRAWN, OFFSPRING, SEED, Provenance
from lossevo.search.space import SearchSpace
from lossevo.util.errors import LossevoError


class _Fitness(base.Fitness):
    weights = (-1.0,)


class _ParetoFitness(base.Fitness):
    weights = (-1.0, -1.0)


class Individual(gp.PrimitiveTree):
    """A DEAP tree with a fitness, the conventions it is trained under and how it was made;
    it never leaves this process."""

    def __init__(
        self,
        content,
        pareto: bool = False,
        *,
        transform: str,
        generator: str,
        provenance: Provenance = DRAWN,
    ):
        super().__init__(content)
        self.fitness = _ParetoFitness() if pareto else _Fitness()
        self.transform, self.generator = transform, generator
        self.provenance = provenance

    def order_key(self) -> tuple[str, str, str]:
        """Its text, then its conventions: how ties are broken, deterministically."""
        return str(self), self.transform, self.generator


#: Decides on one child: None accepts it, a string is the reason it is rejected.
Accept = Callable[[Individual], str | None]
#: Rejection reasons whose child is a known, valid loss (the same function as one already in the
#: run or the generation): the best children to fill a generation with when too few are accepted.
DUPLICATE_IN_RUN, DUPLICATE_IN_GENERATION = "duplicate_in_run", "duplicate_in_generation"
DUPLICATE_REASONS = (DUPLICATE_IN_RUN, DUPLICATE_IN_GENERATION)
#: Draws of a random tree until one uses every leaf of the space.
RANDOM_TREE_ATTEMPTS = 200


def accept_all(ind: Individual) -> None:
    """The default acceptance: every child is accepted."""
    return None


class Variation:
    """Makes and varies populations of one space under one config, with the global ``random``."""

    def __init__(self, space: SearchSpace, config: SearchConfig):
        self.space, self.config = space, config
        self.pset = make_pset(space)
        self.pareto = config.selection == "nsga2"
        self._keys: dict[tuple[str, str, str], str | None] = {}

    # ------------------------------------------------------------------- initial population
    def initial_population(
        self, accept: Accept = accept_all, max_attempts: int | None = None
    ) -> tuple[list[Individual], VariationStats]:
        """The space's seeds that are not controls, then random trees that ``accept`` takes,
        through the same acceptance loop as every later generation (see :meth:`offspring`).

        Reseeds ``random`` with ``config.seed``, so the initial population is a function of
        the space and the config. Seeds are the user's chosen starting points: each goes to
        ``accept`` (so it is screened and recorded) and is kept whatever it says.
        """
        random.seed(self.config.seed)
        controls = {reference_loss(name).key for name in self.config.controls}
        seeds = [self.individual(g, Provenance(SEED)) for g in self.space.seed_genomes()]
        # a seed that is a control is trained as the control on every racing seed anyway: its
        # place goes to a random tree (and no random tree may be a control either)
        seeds = [ind for ind in seeds if self.canonical_key(ind) not in controls]
        seeds = seeds[: self.config.population]
        k = self.config.population - len(seeds)
        filling = _Filling(accept, k)
        for ind in seeds:
            accept(ind)
        seen = controls | {key for key in map(self.canonical_key, seeds) if key is not None}

        def distinct() -> Individual:  # distinct functions even when every tree is accepted
            ind = self.random_individual(avoid=seen)
            seen.add(self.canonical_key(ind))
            return ind

        filling.from_random(distinct, k if max_attempts is None else max_attempts)
        return seeds + filling.result(self._best_rejected), filling.stats

    def random_individual(self, avoid: set | frozenset = frozenset()) -> Individual:
        """A ramped half-and-half tree that uses every leaf, with conventions drawn uniformly
        from the space's lists, whose key is not in ``avoid``.

        Redraws up to ``RANDOM_TREE_ATTEMPTS`` times; then the last tree that used every leaf
        (a duplicate), or failing that the last tree drawn.
        """
        limits = self.space.tree
        fallback = None
        for _ in range(RANDOM_TREE_ATTEMPTS):
            tree = gp.genHalfAndHalf(self.pset, limits.init_min_height, limits.init_max_height)
            ind = Individual(
                tree,
                self.pareto,
                transform=_draw(self.space.transforms),
                generator=_draw(self.space.generators),
            )
            key = self.canonical_key(ind)
            if key is None:
                fallback = fallback or ind
                continue
            if key not in avoid:
                return ind
            fallback = ind
        return fallback

    def canonical_key(self, ind: Individual) -> str | None:
        """The key of an individual's spec (canonical tree, transform, generator) if its tree
        uses every leaf of the space, else None.

        A cheap look at the tree's terminals first; then the canonical expression, so a tree
        whose leaf cancels (``y_real - y_real``) counts as not using it.
        """
        names = {n.value for n in ind if isinstance(n, gp.Terminal) and isinstance(n.value, str)}
        if not set(self.space.leaves) <= names:
            return None
        try:
            expr = LossExpr.from_tree(deap_to_tree(ind))
        except LossevoError:
            return None
        if not set(self.space.leaves) <= {str(s) for s in expr.sympy.free_symbols}:
            return None
        return spec_key(expr.key, ind.transform, ind.generator)

    # --------------------------------------------------------------------------- generations
    def elites(self, population: list[Individual]) -> list[Individual]:
        """Copies of the ``config.elites`` best individuals (fitness, then formula text)."""
        order = sorted(population, key=lambda ind: (ind.fitness.values[0], ind.order_key()))
        return [self._clone(ind) for ind in order[: self.config.elites]]

    def next_population(
        self,
        population: list[Individual],
        accept: Accept = accept_all,
        max_attempts: int | None = None,
    ) -> list[Individual]:
        """The elites, then offspring up to the population size (see ``offspring``)."""
        elites = self.elites(population)
        k = self.config.population - len(elites)
        children, _ = self.offspring(
            population, k, accept, k if max_attempts is None else max_attempts
        )
        return elites + children

    def offspring(
        self,
        population: list[Individual],
        k: int,
        accept: Accept,
        max_attempts: int,
    ) -> tuple[list[Individual], VariationStats]:
        """Up to ``k`` children that ``accept`` takes, and how they were found.

        Rounds of selection, crossover and mutation (``k`` parents a round) are drawn; each child
        goes to ``accept`` in order until ``k`` are accepted or ``max_attempts`` children were
        tried. If still short: fresh random trees that use every leaf, also through ``accept``
        (at most ``max_attempts`` of them); then the best rejected candidates (duplicates of
        known losses before screening failures, then by the fitness they carry, distinct text
        first), so exactly ``k`` come back whenever anything was tried. With ``accept_all``
        and ``max_attempts == k`` this is one round: the classic generational step.
        """
        filling = _Filling(accept, k)
        if k <= 0:
            return [], filling.stats
        while not filling.done and filling.stats.attempts < max_attempts:
            for child in self._vary(population, k):
                filling.consider(child)
                if filling.done or filling.stats.attempts >= max_attempts:
                    break
        filling.from_random(self.random_individual, max_attempts)
        return filling.result(self._best_rejected), filling.stats

    def _best_rejected(
        self, rejected: list[tuple[str, Individual]], n: int, taken: set[str]
    ) -> list[Individual]:
        """The ``n`` best rejected candidates: duplicates of known losses first, the rest after;
        within each, texts not yet in the generation first, then by the fitness they carry
        (inherited from a parent; none is worst), then in the order drawn."""

        def rank(item):
            order, (_, ind) = item
            fitness = ind.fitness.values[0] if ind.fitness.valid else math.inf
            return (fitness, order)

        fill: list[Individual] = []
        for known in (True, False):
            group = [(i, r) for i, r in enumerate(rejected) if (r[0] in DUPLICATE_REASONS) == known]
            new, repeated = [], []
            for _, (_, ind) in sorted(group, key=rank):
                (repeated if ind.order_key() in taken else new).append(ind)
                taken.add(ind.order_key())
            fill += new + repeated
        return fill[: max(n, 0)]

    def _vary(self, population: list[Individual], k: int) -> list[Individual]:
        """One round: ``k`` parents selected, paired for crossover, each perhaps mutated (its
        tree, and each convention on its own)."""
        cfg = self.config
        if self.pareto:
            parents = tools.selNSGA2(population, k)
            random.shuffle(parents)
        else:
            parents = tools.selTournament(population, k, tournsize=cfg.tournament_size)
        offspring = [self._clone(p) for p in parents]
        lineage = [[p] for p in parents]
        for i in range(1, len(offspring), 2):
            if random.random() < cfg.crossover_prob:
                mother, father = offspring[i - 1], offspring[i]
                a, b = gp.cxOnePoint(self._clone(mother), self._clone(father))
                _inherit(a, mother, father)
                _inherit(b, father, mother)
                offspring[i - 1] = self._within_limits(a, mother)
                offspring[i] = self._within_limits(b, father)
                lineage[i - 1] = lineage[i] = lineage[i - 1] + lineage[i]
        for i, ind in enumerate(offspring):
            if random.random() < cfg.mutation_prob:
                offspring[i] = self._within_limits(self._mutate(self._clone(ind)), ind)
            offspring[i].transform = _mutate_choice(
                offspring[i].transform, self.space.transforms, cfg.transform_mutation_prob
            )
            offspring[i].generator = _mutate_choice(
                offspring[i].generator, self.space.generators, cfg.generator_mutation_prob
            )
            keys = dict.fromkeys(filter(None, map(self.key_of, lineage[i])))
            offspring[i].provenance = Provenance(OFFSPRING, tuple(keys))
        return offspring

    def key_of(self, ind: Individual) -> str | None:
        """The candidate key of an individual's spec (None for a tree that is no loss),
        remembered by text and conventions: parents recur across a generation's rounds."""
        order = ind.order_key()
        if order not in self._keys:
            try:
                self._keys[order] = genome_of(ind).spec().key
            except LossevoError:
                self._keys[order] = None
        return self._keys[order]

    def _mutate(self, ind: Individual) -> Individual:
        choice = random.randrange(4)
        if choice == 0:
            (ind,) = gp.mutUniform(
                ind, expr=lambda pset, type_: gp.genFull(pset, 0, 2, type_), pset=self.pset
            )
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
        new = Individual(
            list(ind),
            self.pareto,
            transform=ind.transform,
            generator=ind.generator,
            provenance=ind.provenance,
        )
        if ind.fitness.valid:
            new.fitness.values = ind.fitness.values
        return new

    def individual(self, genome: Genome, provenance: Provenance = DRAWN) -> Individual:
        """A genome of this space as a DEAP individual (no fitness yet). A stored population
        member's provenance is already in the store; the default is never recorded for it."""
        return Individual(
            tree_to_deap(genome.tree, self.pset),
            self.pareto,
            transform=genome.transform,
            generator=genome.generator,
            provenance=provenance,
        )

    def from_members(self, members: list) -> list[Individual]:
        """A stored population (``Genome.to_member``'s form) as individuals."""
        space = self.space
        return [
            self.individual(
                genome_from_member(m, space.operators, space.transforms, space.generators)
            )
            for m in members
        ]

    def members(self, population: list[Individual]) -> list:
        """A population in the form the store keeps (see ``Genome.to_member``)."""
        return [genome_of(ind).to_member(self.space.default_conventions) for ind in population]


def _draw(names: tuple[str, ...]) -> str:
    """One name uniformly; a single name draws nothing (the random stream is unchanged)."""
    return names[0] if len(names) == 1 else random.choice(names)


def _mutate_choice(current: str, names: tuple[str, ...], prob: float) -> str:
    """With probability ``prob``, another name from ``names``; a single name draws nothing."""
    others = [n for n in names if n != current]
    if not others or random.random() >= prob:
        return current
    return random.choice(others)


def _inherit(child: Individual, parent: Individual, other: Individual) -> None:
    """Crossover: each convention from one parent, either with probability 1/2 (no draw when
    the parents agree)."""
    for name in ("transform", "generator"):
        if getattr(parent, name) != getattr(other, name) and random.random() < 0.5:
            setattr(child, name, getattr(other, name))


class _Filling:
    """The acceptance loop a generation is filled by: candidates go to ``accept`` until ``k``
    are taken; the rejected are kept with their reasons, to fill a generation that is short."""

    def __init__(self, accept: Accept, k: int):
        self.accept, self.k = accept, k
        self.children: list[Individual] = []
        self.rejected: list[tuple[str, Individual]] = []
        self.stats = VariationStats()

    @property
    def done(self) -> bool:
        return len(self.children) >= self.k

    def consider(self, ind: Individual) -> None:
        self.stats.attempts += 1
        reason = self.accept(ind)
        if reason is None:
            self.children.append(ind)
            self.stats.accepted += 1
        else:
            self.stats.reject(reason)
            self.rejected.append((reason, ind))

    def from_random(self, draw: Callable[[], Individual], max_attempts: int) -> None:
        """Random trees through ``accept`` until done, at most ``max_attempts`` of them."""
        for _ in range(max_attempts):
            if self.done:
                break
            before = len(self.children)
            self.consider(draw())
            self.stats.random_fill += len(self.children) - before

    def result(self, best_rejected) -> list[Individual]:
        """The accepted children, then the best rejected ones up to ``k``."""
        taken = {c.order_key() for c in self.children}
        fill = best_rejected(self.rejected, self.k - len(self.children), taken)
        self.stats.short = len(fill)
        return self.children + fill


def str_formula(ind: Individual) -> str:
    """An individual's tree as formula text that parses back to the same tree."""
    return tree_to_text(deap_to_tree(ind))


def genome_of(ind: Individual) -> Genome:
    """An individual as plain data: its tree and conventions (what the candidate is)."""
    return Genome(deap_to_tree(ind), ind.transform, ind.generator)
