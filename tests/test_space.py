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


def test_ganetic_space_expresses_ganetic_bce_and_least_squares():
    space = load_space("ganetic")
    assert {"ganetic", "bce"} <= set(space.seeds)
    assert len(space.seed_trees()) == 3


@pytest.mark.parametrize(
    "text, match",
    [
        (GOOD + "colour: red\n", "unknown key colour"),
        (GOOD + "tree: {max_hight: 3}\n", "unknown key tree.max_hight"),
        ("name: t\noperators: [add, frobnicate]\n", "unknown operator 'frobnicate'"),
        (GOOD + "tree: {max_height: -1}\n", "tree.max_height must be an integer >= 1"),
        (GOOD + "tree: {max_size: abc}\n", "tree.max_size must be an integer"),
        (GOOD + "transform: softmax\n", "transform must be one of"),
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
