"""Search spaces load, and every mistake in a YAML file names the key and the file."""

import pytest

from lossevo.search.space import SPACES_DIR, SpaceError, load_space


def write(tmp_path, text):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return str(path)


GOOD = """
name: t
operators: [add, mul, div, log, neg, sub]
"""


@pytest.mark.parametrize("name", sorted(p.stem for p in SPACES_DIR.glob("*.yaml")))
def test_shipped_spaces_load(name):
    space = load_space(name)
    assert space.seed_trees()


def test_ganetic_space_seeds_ganetic_bce_and_least_squares_under_their_own_conventions():
    space = load_space("ganetic")
    assert [seed.text for seed in space.seeds] == ["ganetic", "bce", "least_squares"]
    assert [(g.transform, g.generator) for g in space.seed_genomes()] == [
        ("sigmoid", "non_saturating"),
        ("sigmoid", "non_saturating"),
        ("raw", "non_saturating"),
    ]


def test_transform_and_generator_are_a_name_or_a_list(tmp_path):
    space = load_space(write(tmp_path, GOOD + "transform: raw\ngenerator: [minimax]\n"))
    assert (space.transforms, space.generators) == (("raw",), ("minimax",))
    assert space.to_dict()["transform"] == "raw" and space.to_dict()["generator"] == "minimax"
    space = load_space(write(tmp_path, GOOD + "transform: [raw, sigmoid]\n"))
    assert space.transforms == ("raw", "sigmoid") and space.generators == ("non_saturating",)
    assert space.to_dict()["transform"] == ["raw", "sigmoid"]


def test_seeds_carry_their_conventions(tmp_path):
    """A built-in keeps its own; a formula takes the first of the space's lists; the mapping
    form names either, for a formula or a built-in."""
    text = (
        "name: t\noperators: [add, sub, mul, div, log, neg, square, max]\n"
        "transform: [sigmoid, raw]\ngenerator: [minimax, non_saturating]\n"
        "seeds: [least_squares, 'y_pred*y_real', {formula: 'y_pred - y_real', transform: raw},\n"
        "  {formula: bce, generator: non_saturating},\n"
        "  {formula: least_squares, transform: sigmoid}]\n"
    )
    space = load_space(write(tmp_path, text))
    assert [(g.transform, g.generator) for g in space.seed_genomes()] == [
        ("raw", "non_saturating"),
        ("sigmoid", "minimax"),
        ("raw", "minimax"),
        ("sigmoid", "non_saturating"),
        ("sigmoid", "non_saturating"),
    ]
    assert space.to_dict()["seeds"][2] == {"formula": "y_pred - y_real", "transform": "raw"}


def test_a_space_without_seeds_fills_generation_0_with_random_trees(tmp_path):
    from lossevo.search.config import SearchConfig
    from lossevo.search.variation import Variation

    for seeds in ("seeds: []\n", "seeds:\n", ""):
        path = write(tmp_path, GOOD + "transform: [sigmoid, raw]\n" + seeds)
        space = load_space(path)
        assert space.seeds == ()
        population, stats = Variation(
            space, SearchConfig(space=path, population=6)
        ).initial_population()
        assert len(population) == 6 and stats.random_fill == 6


@pytest.mark.parametrize(
    "text, match",
    [
        (GOOD + "colour: red\n", "unknown key colour"),
        (GOOD + "tree: {max_hight: 3}\n", "unknown key tree.max_hight"),
        ("name: t\noperators: [add, frobnicate]\n", "unknown operator 'frobnicate'"),
        (GOOD + "tree: {max_height: -1}\n", "tree.max_height must be an integer >= 1"),
        (GOOD + "tree: {max_size: abc}\n", "tree.max_size must be an integer"),
        (GOOD + "transform: softmax\n", "transform must be one of sigmoid, raw"),
        (GOOD + "transform: [sigmoid, softmax]\n", "got 'softmax'"),
        (GOOD + "transform: []\n", "transform must be one of sigmoid, raw or a non-empty list"),
        (GOOD + "generator: []\n", "generator must be one of non_saturating, minimax or a"),
        (GOOD + "generator: [minimax, minimax]\n", "with a name twice"),
        (GOOD + "transform: {raw: 1}\n", "transform must be one of"),
        (GOOD + "seeds: [{formula: y_pred, colour: red}]\n", "unknown seed key colour"),
        (GOOD + "seeds: [{transform: raw}]\n", "each seed is a formula"),
        (GOOD + "seeds: [{formula: y_pred, transform: [raw]}]\n", "must be one name"),
        (GOOD + "seeds: [{formula: y_pred, transform: raw}]\n", "its transform raw is not in"),
        (GOOD + "seeds: [least_squares]\n", "add it there, or write the seed as"),
        (GOOD + "generator: minimax\nseeds: [bce]\n", "its generator non_saturating is not"),
        (GOOD + "constants: {low: 3, high: 1}\n", "constants.low"),
        (GOOD + "seeds: ['sqrt(y_pred)']\n", "not in this search space"),
        (GOOD + "seeds: ['y_pred +']\n", "does not parse"),
        ("name: t\noperators: [add\n", "malformed YAML at line"),
        ("name: t\n", "missing key operators"),
    ],
)
def test_bad_spaces_name_key_and_file(tmp_path, text, match):
    path = write(tmp_path, text)
    with pytest.raises(SpaceError, match=match) as info:
        load_space(path)
    assert path in str(info.value) and "\n" not in str(info.value)


def test_unknown_space_name_lists_shipped_ones():
    with pytest.raises(SpaceError, match="shipped spaces: .*ganetic"):
        load_space("nope")


@pytest.mark.parametrize(
    "text, match",
    [
        ("name: t\noperators: [[add], mul]\n", "each entry must be a plain name"),
        ("name: t\noperators: [{add: 1}]\n", "each entry must be a plain name"),
        ("name: t\noperators: add\n", "operators must be a non-empty list"),
        ("name: t\noperators: [add, add]\n", "lists a name twice"),
        (GOOD + "leaves: [[y_real]]\n", "each entry must be a plain name"),
        (GOOD + "leaves: [x_real]\n", "unknown leaf 'x_real'"),
        (GOOD + "constants: {low: -1.0e+9, high: 1.0e+9}\n", "constants.low must be a finite"),
        (GOOD + "constants: {low: .nan, high: .inf}\n", "constants.low must be a finite"),
        (GOOD + "constants: {low: 0, high: .inf}\n", "constants.high must be a finite"),
        (GOOD + "constants: {distribution: choice, values: [1, .nan]}\n", "constants.values"),
        (GOOD + "constants: {decimals: 400}\n", "constants.decimals must be an integer in"),
        (
            GOOD + "tree: {init_min_height: 28, init_max_height: 28, max_height: 28}\n",
            "tree.init_min_height is 28; at most 6",
        ),
        (GOOD + "tree: {max_height: 40}\n", "tree.max_height is 40; at most 17"),
        (GOOD + "tree: {max_size: 100000}\n", "tree.max_size is 100000; at most 100"),
        ("name: [a, b]\noperators: [add]\n", "name must be text"),
        ("name: ''\noperators: [add]\n", "name must not be empty"),
        (GOOD + "description: " + "x" * 3000 + "\n", "description must be text of at most"),
        ("1: x\nname: t\noperators: [add]\n", "unknown key 1"),
        (GOOD + "seeds: ['" + "log(" * 40 + "y_pred" + ")" * 40 + "']\n", "levels deep"),
    ],
)
def test_malformed_values_are_refused_value_by_value(tmp_path, text, match):
    path = write(tmp_path, text)
    with pytest.raises(SpaceError, match=match) as info:
        load_space(path)
    assert path in str(info.value) and "\n" not in str(info.value)


def test_the_widest_accepted_space_yields_trees_within_the_formula_limits(tmp_path):
    import random

    from lossevo.loss.expr import LossExpr
    from lossevo.loss.formula import tree_to_text
    from lossevo.loss.ops import OPS
    from lossevo.search.gp import random_tree

    path = write(
        tmp_path,
        f"name: wide\noperators: [{', '.join(OPS)}]\n"
        "constants: {low: -1.0e+6, high: 1.0e+6, decimals: 6}\n"
        "tree: {init_min_height: 6, init_max_height: 6, max_height: 17, max_size: 100}\n",
    )
    space = load_space(path)
    random.seed(0)
    for _ in range(5):
        LossExpr.from_text(tree_to_text(random_tree(space)))  # parses back: no FormulaError
