"""The genome: a tree with its transform and generator convention, drawn, varied and stored.

The default space holds every loss of GANetic's table exactly; a candidate is screened under
its own transform (raw scores on the raw grid); single-convention spaces evolve as they did
before individuals carried conventions.
"""

import random
import shutil
import sqlite3

import pytest
import test_search

from lossevo.loss.formula import parse_formula
from lossevo.loss.reference import GANETIC_TABLE_LOSSES, reference_loss
from lossevo.loss.screen import fingerprint, screen
from lossevo.runs.store import RunStore, spec_of
from lossevo.search.candidates import Candidates
from lossevo.search.config import SearchConfig
from lossevo.search.genome import Genome, GenomeError, genome_from_member
from lossevo.search.gp import deap_to_tree, make_pset, tree_to_deap
from lossevo.search.run import resume_search, start_search
from lossevo.search.space import DEFAULT_SPACE, load_space, space_from_dict
from lossevo.search.variation import Variation, accept_all, genome_of, str_formula


def nodes(tree):
    """Every (kind, value) of a plain tree: operators, leaves and constants."""
    if isinstance(tree, tuple):
        name, args = tree
        yield "operator", name
        for arg in args:
            yield from nodes(arg)
    else:
        yield ("leaf" if isinstance(tree, str) else "constant"), tree


@pytest.mark.parametrize("name", GANETIC_TABLE_LOSSES)
def test_the_default_space_expresses_each_loss_of_ganetics_table_exactly(name):
    """The built-in's formula, read with the space's own operators, is a DEAP individual of the
    space's primitive set; with the built-in's conventions (both in the space's lists) it is the
    same loss: the same key and the same fingerprint."""
    space, builtin = load_space(DEFAULT_SPACE), reference_loss(name)
    tree = parse_formula(builtin.expr.formula, set(space.operators))  # refuses any other operator
    constants = space.constants
    for kind, value in nodes(tree):
        if kind == "operator":
            assert value in space.operators
        elif kind == "leaf":
            assert value in space.leaves
        else:  # a constant the space can draw: in [low, high], at its rounding
            assert constants.low <= value <= constants.high
            assert round(value, constants.decimals) == value
    assert builtin.transform in space.transforms and builtin.generator in space.generators
    individual = tree_to_deap(tree, make_pset(space))
    point = Genome(deap_to_tree(individual), builtin.transform, builtin.generator).spec()
    assert point.key == builtin.key
    assert fingerprint(point) == fingerprint(reference_loss(name))


def test_the_default_space_no_longer_fixes_one_convention():
    space = load_space(DEFAULT_SPACE)
    assert set(space.transforms) == {"sigmoid", "raw"}
    assert set(space.generators) == {"non_saturating", "minimax"}
    assert "least squares on sigmoid" not in space.description
    seeds = {(reference_loss(s.text).key) for s in space.seeds}
    assert seeds == {g.spec().key for g in space.seed_genomes()}  # built-ins keep their own


def test_a_raw_candidate_is_screened_on_raw_scores(tmp_path):
    """The same tree as two candidates: finite for sigmoid outputs in (0, 1), but y_pred**32
    overflows at the raw grid's score -20, and the stored row says which transform it is."""
    tree = parse_formula(
        "square(y_pred - y_real) + square(square(square(square(square(y_pred)))))", None
    )
    with RunStore.create(tmp_path / "run", {}, kind="search") as store:
        candidates = Candidates(store)
        sig = candidates.assess(Genome(tree, "sigmoid", "non_saturating"), 0)
        raw = candidates.assess(Genome(tree, "raw", "minimax"), 0)
        assert sig["verdict"] == "passed" and sig["transform"] == "sigmoid"
        assert raw["verdict"] == "non_finite" and "score=-20" in raw["detail"]
        assert (raw["transform"], raw["generator"]) == ("raw", "minimax")
        assert spec_of(raw).key == raw["key"] != sig["key"]
        assert not screen(spec_of(raw)).passed


def variation(space=DEFAULT_SPACE, **kw) -> Variation:
    return Variation(load_space(space), SearchConfig(space=space, **kw))


def with_fitness(population):
    for i, ind in enumerate(population):
        ind.fitness.values = (float(i),)
    return population


def test_random_individuals_draw_every_convention_of_the_space():
    population = variation(population=40, seed=2).initial_population()[0]
    assert {ind.transform for ind in population} == {"sigmoid", "raw"}
    assert {ind.generator for ind in population} == {"non_saturating", "minimax"}
    again = variation(population=40, seed=2).initial_population()[0]
    assert [genome_of(i) for i in population] == [genome_of(i) for i in again]


#: No variation at all: each test turns on the one kind it is about.
FROZEN = dict(
    crossover_prob=0.0, mutation_prob=0.0, transform_mutation_prob=0.0, generator_mutation_prob=0.0
)


def test_mutation_changes_a_convention_with_its_own_probability():
    """Conventions mutate apart from the tree: with the tree's variation off and the transform's
    probability at 1, every child is a parent's tree and generator under the other transform."""
    v = variation(population=12, seed=1, **{**FROZEN, "transform_mutation_prob": 1.0})
    parents = with_fitness(v.initial_population()[0])
    by_text = {str_formula(p): p for p in parents}
    assert len(by_text) == len(parents)
    random.seed(5)
    for child in v.offspring(parents, 12, accept_all, 12)[0]:  # one round of variation
        parent = by_text[str_formula(child)]
        assert child.generator == parent.generator and child.transform != parent.transform
    still = variation(population=12, seed=1, **FROZEN)
    for child in still.offspring(parents, 50, accept_all, 50)[0]:
        parent = by_text[str_formula(child)]
        assert (child.transform, child.generator) == (parent.transform, parent.generator)


def test_crossover_children_take_each_convention_from_one_parent():
    """Parents (sigmoid, non_saturating) and (raw, minimax) only: the children of crossover mix
    them, each convention from one parent, and never invent one."""
    v = variation(population=20, seed=3, **{**FROZEN, "crossover_prob": 1.0})
    parents = with_fitness(v.initial_population()[0])
    for i, ind in enumerate(parents):
        ind.transform, ind.generator = (
            ("sigmoid", "non_saturating") if i % 2 else ("raw", "minimax")
        )
    random.seed(7)
    children = [c for _ in range(10) for c in v.offspring(parents, 20, accept_all, 20)[0]]
    pairs = {(c.transform, c.generator) for c in children}
    assert pairs == {
        ("sigmoid", "non_saturating"),
        ("raw", "minimax"),
        ("sigmoid", "minimax"),
        ("raw", "non_saturating"),
    }


def test_a_single_convention_space_evolves_as_before_genomes_carried_conventions():
    """The minimal space (one transform, one generator) draws nothing for conventions: its first
    population and children are those the code made before, recorded here from it (with a
    control other than its bce seed: a seed that is a control gives its place away)."""
    v = variation("minimal", population=6, seed=1, controls=("ganetic",))
    population = with_fitness(v.initial_population()[0])
    random.seed(11)
    children, _ = v.offspring(population, 6, lambda ind: None, max_attempts=6)
    bce = "(-((y_real * log(y_pred)) + ((1.0 - y_real) * log((1.0 - y_pred)))))"
    assert [str_formula(i) for i in population] == [
        bce,
        "(y_real * y_pred)",
        "(-(y_pred - y_real))",
        "((y_pred + y_real) * 2.0)",
        "(y_pred / y_real / neg(1.0))",
        "(y_real + y_pred)",
    ]
    assert [str_formula(c) for c in children] == [
        "(y_pred * 2.0)",
        "((y_pred + y_real) * 2.0)",
        "(y_real * y_pred)",
        "(0.5 * 2.0)",
        bce,
        bce,
    ]
    assert random.random() == 0.6402917079191771
    assert v.members(population) == [str_formula(i) for i in population]  # stored as before


def test_population_members_round_trip_and_refuse_what_the_space_does_not_allow():
    space = load_space(DEFAULT_SPACE)
    lists = (space.operators, space.transforms, space.generators)
    default = Genome(parse_formula("y_pred*y_real", None), "sigmoid", "non_saturating")
    other = Genome(default.tree, "raw", "minimax")
    assert default.to_member(space.default_conventions) == "(y_pred * y_real)"
    assert other.to_member(space.default_conventions) == {
        "formula": "(y_pred * y_real)",
        "transform": "raw",
        "generator": "minimax",
    }
    for genome in (default, other):
        assert genome_from_member(genome.to_member(space.default_conventions), *lists) == genome
    for bad, match in [
        ({"formula": "y_pred", "transform": "softmax", "generator": "minimax"}, "does not allow"),
        ({"formula": "y_pred", "transform": "raw"}, "is not {formula, transform, generator}"),
        (3, "neither a formula nor a mapping"),
    ]:
        with pytest.raises(GenomeError, match=match) as info:
            genome_from_member(bad, *lists)
        assert "\n" not in str(info.value)
    with pytest.raises(GenomeError, match="does not allow"):  # minimal: sigmoid only
        minimal = load_space("minimal")
        genome_from_member(
            other.to_member(("sigmoid", "non_saturating")),
            *[minimal.operators, minimal.transforms, minimal.generators],
        )


@pytest.mark.parametrize("name", ["ganetic", "minimal", "full"])
def test_a_stored_space_reads_back_to_the_same_space(name):
    space = load_space(name)
    again = space_from_dict(space.to_dict())
    assert again.digest() == space.digest() and again.seed_genomes() == space.seed_genomes()
    single = load_space("minimal").to_dict()
    assert single["transform"] == "sigmoid" and single["generator"] == "non_saturating"


def test_the_convention_settings_are_stored_only_when_changed():
    """Runs that leave them at their defaults store the settings they always did."""
    assert "transform_mutation_prob" not in SearchConfig().to_stored()
    stored = SearchConfig(generator_mutation_prob=0.3).to_stored()
    assert stored["generator_mutation_prob"] == 0.3 and "transform_mutation_prob" not in stored
    assert SearchConfig.from_dict(stored) == SearchConfig(generator_mutation_prob=0.3)


#: test_search's tiny probe search, in the default space (every convention pair in reach).
TINY = {
    **test_search.TINY,
    **dict(space=DEFAULT_SPACE, population=8, seed=1, steps=40, verdict_top=1, verdict_seeds=2),
    **dict(verdict_steps=40, variation_attempts=10),
}


def snapshot(run) -> dict:
    with RunStore.open(run, kind="search", readonly=True) as store:
        return {
            "candidates": sorted(
                (c["key"], c["transform"], c["generator"], c["verdict"], c["first_generation"])
                for c in store.candidates()
            ),
            "generations": [
                (g["generation"], g["population"], g["rng_state"], g["stats"])
                for g in store.generations()
            ],
            "evaluations": sorted(
                (e["stage"], e["fingerprint"], e["seed"], e["fitness"]) for e in store.evaluations()
            ),
        }


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("genome")
    return start_search(root / "run", SearchConfig(**TINY), progress=False, echo=lambda s: None)


def test_a_search_in_the_default_space_trains_every_convention(default_run):
    snap = snapshot(default_run)
    conventions = {(c[1], c[2]) for c in snap["candidates"] if c[3] == "passed"}
    assert {t for t, _ in conventions} == {"sigmoid", "raw"}
    assert {g for _, g in conventions} == {"non_saturating", "minimax"}
    members = [m for g in snap["generations"] for m in g[1]]
    assert any(isinstance(m, dict) for m in members) and any(isinstance(m, str) for m in members)
    with RunStore.open(default_run, kind="search", readonly=True) as store:
        assert "transform_mutation_prob" not in store.config["search"]  # a default: not stored
        assert store.config["space"]["transform"] == ["sigmoid", "raw"]


def test_a_resumed_search_breeds_the_same_genomes(default_run, tmp_path):
    """Generation 2 dropped as if the search was killed before storing it: the resume rebuilds
    generation 1 from its stored members (conventions included) and breeds the same one."""
    run = tmp_path / "run"
    shutil.copytree(default_run, run)
    with sqlite3.connect(run / "run.db") as db:
        db.execute("DELETE FROM generations WHERE generation = 2")
    resume_search(run, progress=False, echo=lambda s: None)
    assert snapshot(run) == snapshot(default_run)


def test_seeds_that_are_controls_give_their_places_to_random_trees():
    """The default space seeds ganetic, bce and least_squares, which are also the default
    controls, trained on every racing seed anyway: generation 0 is all random trees, and no
    random tree may be a control either. With a control that is not a seed, the seeds come
    first."""
    v = variation(population=8, seed=0)
    population, _ = v.initial_population()
    keys = [v.canonical_key(ind) for ind in population]
    controls = {reference_loss(name).key for name in ("bce", "ganetic", "least_squares")}
    assert len(population) == 8 == len(set(keys)) and not controls & set(keys)
    only_bce = variation(population=8, seed=0, controls=("bce", "ganetic"))
    assert only_bce.canonical_key(only_bce.initial_population()[0][0]) == (
        reference_loss("least_squares").key  # the one seed that is no control
    )
    with_controls = variation(population=8, seed=0, controls=("hinge",))
    first = [with_controls.canonical_key(i) for i in with_controls.initial_population()[0][:3]]
    assert first == [reference_loss(n).key for n in ("ganetic", "bce", "least_squares")]
