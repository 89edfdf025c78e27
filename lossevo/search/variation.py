"""DEAP variation: the initial population, selection, crossover and mutation within limits.

Individuals are DEAP trees with a fitness; they never leave this process (the store and the
workers see formula text only).
"""

from __future__ import annotations

import random

from deap import base, gp, tools

from lossevo.loss.formula import parse_formula, tree_to_text
from lossevo.search.config import SearchConfig
from lossevo.search.gp import deap_to_tree, make_pset, tree_to_deap
from lossevo.search.space import SearchSpace


class _Fitness(base.Fitness):
    weights = (-1.0,)


class _ParetoFitness(base.Fitness):
    weights = (-1.0, -1.0)


class Individual(gp.PrimitiveTree):
    """A DEAP tree with a fitness; it never leaves this process."""

    def __init__(self, content, pareto: bool = False):
        super().__init__(content)
        self.fitness = _ParetoFitness() if pareto else _Fitness()


class Variation:
    """Makes and varies populations of one space under one config, with the global ``random``."""

    def __init__(self, space: SearchSpace, config: SearchConfig):
        self.space, self.config = space, config
        self.pset = make_pset(space)
        self.pareto = config.selection == "nsga2"

    def initial_population(self) -> list[Individual]:
        random.seed(self.config.seed)
        seeds = [
            Individual(tree_to_deap(t, self.pset), self.pareto) for t in self.space.seed_trees()
        ][: self.config.population]
        limits = self.space.tree
        rest = [
            Individual(
                gp.genHalfAndHalf(self.pset, limits.init_min_height, limits.init_max_height),
                self.pareto,
            )
            for _ in range(self.config.population - len(seeds))
        ]
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
        new = Individual(list(ind), self.pareto)
        if ind.fitness.valid:
            new.fitness.values = ind.fitness.values
        return new

    def from_formulas(self, formulas: list[str]) -> list[Individual]:
        ops = set(self.space.operators)
        return [
            Individual(tree_to_deap(parse_formula(f, ops), self.pset), self.pareto)
            for f in formulas
        ]


def str_formula(ind: Individual) -> str:
    """An individual as formula text that parses back to the same tree."""
    return tree_to_text(deap_to_tree(ind))
