"""Variation: initial trees use both leaves, and offspring fill a generation with new candidates."""

import random

import pytest

from lossevo.loss.expr import LossExpr
from lossevo.search.config import SearchConfig
from lossevo.search.gp import deap_to_tree
from lossevo.search.space import SPACES_DIR, load_space
from lossevo.search.variation import Variation, genome_of, str_formula

SPACES = sorted(p.stem for p in SPACES_DIR.glob("*.yaml"))


def variation(space="ganetic", **kw) -> Variation:
    return Variation(load_space(space), SearchConfig(space=space, **kw))


def expr(ind) -> LossExpr:
    return LossExpr.from_tree(deap_to_tree(ind))


def with_fitness(v: Variation, population):
    for i, ind in enumerate(population):
        ind.fitness.values = (float(i), float(len(ind))) if v.pareto else (float(i),)
    return population


class SeenBefore:
    """The loop's rule in miniature: a candidate is accepted once, the first time its key shows."""

    def __init__(self, population):
        self.seen = {expr(ind).key for ind in population}
        self.calls = 0

    def __call__(self, ind):
        self.calls += 1
        key = expr(ind).key
        if key in self.seen:
            return "duplicate_in_run"
        self.seen.add(key)
        return None


@pytest.mark.parametrize("space", SPACES)
def test_initial_random_trees_use_both_leaves_and_are_distinct(space):
    v = variation(space, population=40, seed=3)
    population = v.initial_population()[0]
    assert len(population) == 40
    exprs = [expr(ind) for ind in population]
    assert all(e.uses_both_leaves for e in exprs), [e.text for e in exprs if not e.uses_both_leaves]
    assert len({genome_of(ind).spec().key for ind in population}) == len(exprs)  # as candidates


def test_initial_population_is_a_function_of_the_seed():
    texts = [str_formula(i) for i in variation(seed=5).initial_population()[0]]
    random.random()  # the global state before the call does not matter: it is reseeded
    assert texts == [str_formula(i) for i in variation(seed=5).initial_population()[0]]
    assert texts != [str_formula(i) for i in variation(seed=6).initial_population()[0]]


@pytest.mark.parametrize("selection", ["tournament", "nsga2"])
def test_offspring_are_new_and_stats_add_up(selection):
    v = variation(population=20, seed=1, selection=selection)
    population = with_fitness(v, v.initial_population()[0])
    accept = SeenBefore(population)
    children, stats = v.offspring(population, 18, accept, max_attempts=200)
    assert len(children) == 18
    keys = {expr(c).key for c in children}
    assert len(keys) >= 0.9 * 18 and stats.accepted >= 0.9 * 18
    assert stats.attempts == accept.calls == stats.accepted + sum(stats.rejected.values())
    assert len(children) == stats.accepted + stats.short
    assert set(stats.rejected) <= {"duplicate_in_run"}
    assert stats.random_fill <= stats.accepted


def test_offspring_are_deterministic_given_the_random_state():
    v = variation(population=12, seed=2)
    population = with_fitness(v, v.initial_population()[0])

    def draw():
        random.seed(11)
        children, stats = v.offspring(population, 10, SeenBefore(population), max_attempts=100)
        return [genome_of(c) for c in children], stats

    assert draw() == draw()


def test_random_trees_fill_when_variation_finds_too_few():
    v = variation(population=8, seed=0)
    population = with_fitness(v, v.initial_population()[0])
    calls = []

    def accept(ind):  # every child of variation is rejected, then everything is accepted
        calls.append(ind)
        return "duplicate_in_run" if len(calls) <= 30 else None

    children, stats = v.offspring(population, 6, accept, max_attempts=30)
    assert stats.attempts == 36 and stats.accepted == stats.random_fill == 6
    assert stats.short == 0 and stats.rejected == {"duplicate_in_run": 30}
    assert all(expr(c).uses_both_leaves for c in children)


def test_best_rejected_fill_keeps_the_size_and_prefers_known_losses():
    v = variation(population=10, seed=0)
    population = with_fitness(v, v.initial_population()[0])
    reasons = {}

    def accept(ind):  # nothing is accepted; every third candidate is a duplicate of a known loss
        reason = "duplicate_in_run" if len(reasons) % 3 == 0 else "non_finite"
        reasons[id(ind)] = reason
        return reason

    children, stats = v.offspring(population, 8, accept, max_attempts=24)
    assert len(children) == 8 and stats.short == 8 and stats.accepted == 0
    assert stats.attempts == 48  # 24 children, then 24 random trees
    assert sum(stats.rejected.values()) == 48
    n_duplicates = stats.rejected["duplicate_in_run"]
    expected = ["duplicate_in_run"] * min(8, n_duplicates)
    expected += ["non_finite"] * (8 - len(expected))
    assert [reasons[id(c)] for c in children] == expected


def test_next_population_keeps_elites_and_size_with_the_default_accept():
    v = variation(population=10, seed=4, elites=2)
    population = with_fitness(v, v.initial_population()[0])
    random.seed(9)
    nxt = v.next_population(population)
    assert len(nxt) == 10
    assert [str(i) for i in nxt[:2]] == [str(population[0]), str(population[1])]
    random.seed(9)
    assert [str(i) for i in v.next_population(population)] == [str(i) for i in nxt]
