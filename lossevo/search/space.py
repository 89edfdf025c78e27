"""Search spaces: what trees may contain, from a shipped space (``lossevo/search/spaces/``) or a
YAML path, validated.

Every key is checked: an unknown key or a bad value is a SpaceError that names the key and the
file. ``transform`` and ``generator`` are one name or a list: every individual carries one of
each, drawn from these lists (``search/genome.py``). Seeds are formulas or built-in loss names
placed in the first population (``search/seeds.py``).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lossevo.loss.conventions import GENERATOR_MODES, TRANSFORMS
from lossevo.loss.formula import MAX_CONSTANT, FormulaError
from lossevo.loss.ops import LEAVES, OPS
from lossevo.search.genome import Genome
from lossevo.search.seeds import Seed, seed_from_yaml
from lossevo.util.errors import LossevoError
from lossevo.util.yaml_io import load_yaml

SPACES_DIR = Path(__file__).resolve().parent / "spaces"
DEFAULT_SPACE = "ganetic"


class SpaceError(LossevoError):
    """A search space file that is wrong; the message names the file and the key."""


@dataclass(frozen=True)
class Constants:
    """How ephemeral constants are drawn: uniform in [low, high] or a choice of values."""

    distribution: str = "uniform"
    low: float = -5.0
    high: float = 5.0
    values: tuple[float, ...] = ()
    decimals: int = 3


@dataclass(frozen=True)
class TreeLimits:
    init_min_height: int = 1
    init_max_height: int = 3
    max_height: int = 6
    max_size: int = 30


@dataclass(frozen=True)
class SearchSpace:
    name: str
    operators: tuple[str, ...]
    leaves: tuple[str, ...] = ("y_real", "y_pred")
    constants: Constants | None = field(default_factory=Constants)
    tree: TreeLimits = field(default_factory=TreeLimits)
    transforms: tuple[str, ...] = ("sigmoid",)
    generators: tuple[str, ...] = ("non_saturating",)
    seeds: tuple[Seed, ...] = ()
    description: str = ""
    source: str = "<memory>"

    @property
    def default_conventions(self) -> tuple[str, str]:
        """The first transform and generator: what a formula seed without its own gets."""
        return self.transforms[0], self.generators[0]

    def seed_genomes(self) -> list[Genome]:
        """The seeds as points of this space: trees over its operators, with conventions."""
        return [s.genome(self.operators, self.transforms, self.generators) for s in self.seeds]

    def seed_trees(self) -> list:
        """The seeds' trees, restricted to this space's operators."""
        return [genome.tree for genome in self.seed_genomes()]

    def to_dict(self) -> dict:
        """The space as a run's config.json keeps it, in the file's own form: a single transform
        or generator is a plain name, as before lists existed, so older runs keep their digest."""
        return {
            "name": self.name,
            "description": self.description,
            "operators": list(self.operators),
            "leaves": list(self.leaves),
            "constants": None if self.constants is None else _plain(asdict(self.constants)),
            "tree": asdict(self.tree),
            "transform": _one_or_list(self.transforms),
            "generator": _one_or_list(self.generators),
            "seeds": [seed.to_yaml() for seed in self.seeds],
        }

    def digest(self) -> str:
        """Short hash of the space's content: runs store it to refuse a changed space on resume."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _plain(section: dict) -> dict:
    """A section as JSON gives it back: tuples as lists."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in section.items()}


def _one_or_list(names: tuple[str, ...]) -> str | list[str]:
    return names[0] if len(names) == 1 else list(names)


_TOP_KEYS = {
    "name",
    "description",
    "operators",
    "leaves",
    "constants",
    "tree",
    "transform",
    "generator",
    "seeds",
}


#: Bounds on what a space may ask for, so every tree it yields stays within the formula limits
#: (``formula.MAX_DEPTH``, ``MAX_NODES``, ``MAX_FORMULA_CHARS``, ``MAX_CONSTANT``) and in memory:
#: a full binary tree of initial height h has 2**(h+1) - 1 nodes.
MAX_INIT_HEIGHT = 6
MAX_HEIGHT = 17
MAX_SIZE = 100
MAX_DECIMALS = 6
MAX_NAME_CHARS = 100
MAX_DESCRIPTION_CHARS = 2000
MAX_SEEDS = 100


def _shown(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_keys(section, allowed: set[str], where: str, source: str) -> None:
    if not isinstance(section, dict):
        raise SpaceError(f"{source}: {where or 'the file'} must be a mapping")
    unknown = [key for key in section if key not in allowed]
    if unknown:
        raise SpaceError(
            f"{source}: unknown key {where + '.' if where else ''}{str(unknown[0])[:40]}; "
            f"allowed keys: {', '.join(sorted(allowed))}"
        )


def _number(value, key: str, source: str, *, integer: bool = False, minimum=None, maximum=None):
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    ok = ok and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    if not ok:
        kind = "an integer" if integer else "a finite number"
        if minimum is not None and maximum is not None:
            bound = f" in [{minimum:g}, {maximum:g}]"
        else:
            bound = f" >= {minimum}" if minimum is not None else ""
        raise SpaceError(f"{source}: {key} must be {kind}{bound}, got {_shown(value)}")
    return value


def _names(value, key: str, what: str, known, source: str) -> tuple[str, ...]:
    """A non-empty list of distinct names drawn from ``known``."""
    if not isinstance(value, list) or not value:
        raise SpaceError(f"{source}: {key} must be a non-empty list of names, e.g. [add, mul]")
    for item in value:
        if not isinstance(item, str):
            raise SpaceError(
                f"{source}: {key}: each entry must be a plain name, got {_shown(item)}; "
                f"write {key}: [name, name, ...]"
            )
        if item not in known:
            raise SpaceError(
                f"{source}: {key}: unknown {what} {_shown(item)}; known: {', '.join(known)}"
            )
    if len(set(value)) != len(value):
        raise SpaceError(f"{source}: {key} lists a name twice")
    return tuple(value)


def _text(data: dict, key: str, limit: int, source: str, default: str = "") -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or len(value) > limit:
        raise SpaceError(f"{source}: {key} must be text of at most {limit} characters")
    return value


def space_from_dict(data: dict, source: str = "<memory>") -> SearchSpace:
    """Validate a parsed YAML mapping value by value and build the SearchSpace."""
    _check_keys(data, _TOP_KEYS, "", source)
    for required in ("name", "operators"):
        if required not in data:
            raise SpaceError(f"{source}: missing key {required}")
    name = _text(data, "name", MAX_NAME_CHARS, source)
    if not name.strip():
        raise SpaceError(f"{source}: name must not be empty")
    operators = _names(data["operators"], "operators", "operator", sorted(OPS), source)
    leaves = _names(data.get("leaves", list(LEAVES)), "leaves", "leaf", list(LEAVES), source)
    constants = _constants(data.get("constants", {}), source)
    tree = _tree_limits(data.get("tree", {}), source)
    transforms = _conventions(data.get("transform", TRANSFORMS[0]), "transform", TRANSFORMS, source)
    generators = _conventions(
        data.get("generator", GENERATOR_MODES[0]), "generator", GENERATOR_MODES, source
    )
    seeds = data.get("seeds", [])
    if seeds is None:  # "seeds:" with nothing after it: no seeds
        seeds = []
    if not isinstance(seeds, list):
        raise SpaceError(f"{source}: seeds must be a list of formulas or built-in loss names")
    if len(seeds) > MAX_SEEDS:
        raise SpaceError(f"{source}: seeds lists {len(seeds)} formulas; at most {MAX_SEEDS}")
    parsed = []
    for entry in seeds:
        try:
            parsed.append(seed_from_yaml(entry, transforms, generators))
        except ValueError as err:
            raise SpaceError(f"{source}: seeds: {_shown(entry)}: {err}") from None
    space = SearchSpace(
        name=name,
        operators=operators,
        leaves=leaves,
        constants=constants,
        tree=tree,
        transforms=transforms,
        generators=generators,
        seeds=tuple(parsed),
        description=_text(data, "description", MAX_DESCRIPTION_CHARS, source),
        source=source,
    )
    for seed in space.seeds:
        try:
            seed.genome(space.operators, space.transforms, space.generators)
        except (FormulaError, ValueError) as err:
            raise SpaceError(f"{source}: seeds: {_shown(seed.to_yaml())}: {err}") from None
    return space


def _conventions(value, key: str, known: tuple[str, ...], source: str) -> tuple[str, ...]:
    """A transform or generator entry: one known name, or a non-empty list of distinct ones."""
    names = [value] if isinstance(value, str) else value
    example = f"{key}: {known[0]}, or {key}: [{', '.join(known)}]"
    if not isinstance(names, list) or not names:
        raise SpaceError(
            f"{source}: {key} must be one of {', '.join(known)} or a non-empty list of them "
            f"(e.g. {example}), got {_shown(value)}"
        )
    for name in names:
        if name not in known:
            raise SpaceError(
                f"{source}: {key} must be one of {', '.join(known)} (or a list of them), "
                f"got {_shown(name)}"
            )
    if len(set(names)) != len(names):
        raise SpaceError(f"{source}: {key} lists {_shown(names)} with a name twice")
    return tuple(names)


def _constants(section, source: str) -> Constants | None:
    if section is None or section is False:
        return None
    _check_keys(section, {"distribution", "low", "high", "values", "decimals"}, "constants", source)
    dist = section.get("distribution", "uniform")
    if dist not in ("uniform", "choice"):
        raise SpaceError(
            f"{source}: constants.distribution must be uniform or choice, got {_shown(dist)}"
        )
    bounds = {"minimum": -MAX_CONSTANT, "maximum": MAX_CONSTANT}
    low = _number(section.get("low", -5.0), "constants.low", source, **bounds)
    high = _number(section.get("high", 5.0), "constants.high", source, **bounds)
    if low >= high:
        raise SpaceError(f"{source}: constants.low ({low}) must be below constants.high ({high})")
    values = section.get("values", [])
    if not isinstance(values, list) or (dist == "choice" and not values):
        raise SpaceError(f"{source}: constants.values must be a non-empty list for choice")
    values = tuple(float(_number(v, "constants.values", source, **bounds)) for v in values)
    decimals = _number(
        section.get("decimals", 3),
        "constants.decimals",
        source,
        integer=True,
        minimum=0,
        maximum=MAX_DECIMALS,
    )
    return Constants(
        distribution=dist, low=float(low), high=float(high), values=values, decimals=decimals
    )


_TREE_BOUNDS = {
    "init_min_height": (0, MAX_INIT_HEIGHT),
    "init_max_height": (1, MAX_INIT_HEIGHT),
    "max_height": (1, MAX_HEIGHT),
    "max_size": (1, MAX_SIZE),
}


def _tree_limits(section, source: str) -> TreeLimits:
    _check_keys(section, set(TreeLimits.__dataclass_fields__), "tree", source)
    values = {}
    for key, default in asdict(TreeLimits()).items():
        low, high = _TREE_BOUNDS[key]
        values[key] = _number(
            section.get(key, default), f"tree.{key}", source, integer=True, minimum=low
        )
        if values[key] > high:
            raise SpaceError(
                f"{source}: tree.{key} is {values[key]}; at most {high} is supported "
                f"(larger trees exceed the formula limits or memory)"
            )
    limits = TreeLimits(**values)
    if not limits.init_min_height <= limits.init_max_height <= limits.max_height:
        raise SpaceError(
            f"{source}: tree heights must satisfy init_min_height <= init_max_height <= max_height"
        )
    return limits


def load_space(name_or_path: str = DEFAULT_SPACE) -> SearchSpace:
    """A shipped space by name (``ganetic``, ``minimal``) or a YAML file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = SPACES_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in SPACES_DIR.glob("*.yaml")))
        raise SpaceError(f"no search space file {path}; shipped spaces: {shipped or 'none'}")
    data = load_yaml(path, SpaceError)
    if not isinstance(data, dict):
        raise SpaceError(f"{path}: a search space must be a YAML mapping")
    return space_from_dict(data, source=str(path))
