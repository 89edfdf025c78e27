"""Search spaces: what trees may contain, from a shipped space (``lossevo/search/spaces/``) or a
YAML path, validated.

Every key is checked: an unknown key or a bad value is a SpaceError that names the key and the
file. Seeds are formulas or built-in loss names placed in the first population.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from lossevo.loss.formula import FormulaError, parse_formula, tree_to_text
from lossevo.loss.ops import LEAVES, OPS
from lossevo.loss.reference import GENERATOR_MODES, reference_loss, reference_names
from lossevo.loss.transform import TRANSFORMS
from lossevo.util.errors import LossevoError

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
    transform: str = "sigmoid"
    generator: str = "non_saturating"
    seeds: tuple[str, ...] = ()
    description: str = ""
    source: str = "<memory>"

    def seed_trees(self) -> list:
        """The seeds parsed as trees, restricted to this space's operators."""
        return [_seed_tree(seed, set(self.operators)) for seed in self.seeds]

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("source")
        return data

    def digest(self) -> str:
        """Short hash of the space's content: runs store it to refuse a changed space on resume."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _seed_tree(seed: str, allowed: set[str]):
    formula = reference_loss(seed).expr.formula if seed.lower() in reference_names() else seed
    return parse_formula(formula, allowed)


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


def _check_keys(section: dict, allowed: set[str], where: str, source: str) -> None:
    if not isinstance(section, dict):
        raise SpaceError(f"{source}: {where or 'the file'} must be a mapping")
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise SpaceError(
            f"{source}: unknown key {where + '.' if where else ''}{unknown[0]}; "
            f"allowed keys: {', '.join(sorted(allowed))}"
        )


def _number(value, key: str, source: str, *, integer: bool = False, minimum=None):
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok or (minimum is not None and value < minimum):
        kind = "an integer" if integer else "a number"
        bound = f" >= {minimum}" if minimum is not None else ""
        raise SpaceError(f"{source}: {key} must be {kind}{bound}, got {value!r}")
    return value


def space_from_dict(data: dict, source: str = "<memory>") -> SearchSpace:
    """Validate a parsed YAML mapping and build the SearchSpace."""
    _check_keys(data, _TOP_KEYS, "", source)
    for required in ("name", "operators"):
        if required not in data:
            raise SpaceError(f"{source}: missing key {required}")
    operators = data["operators"]
    if not isinstance(operators, list) or not operators:
        raise SpaceError(f"{source}: operators must be a non-empty list of names")
    for op in operators:
        if op not in OPS:
            raise SpaceError(
                f"{source}: operators: unknown operator {op!r}; known: {', '.join(sorted(OPS))}"
            )
    leaves = data.get("leaves", list(LEAVES))
    if not isinstance(leaves, list) or set(leaves) - set(LEAVES) or not leaves:
        raise SpaceError(f"{source}: leaves must be a list drawn from y_real, y_pred")
    constants = _constants(data.get("constants", {}), source)
    tree = _tree_limits(data.get("tree", {}), source)
    for key, valid in (("transform", TRANSFORMS), ("generator", GENERATOR_MODES)):
        if key in data and data[key] not in valid:
            raise SpaceError(
                f"{source}: {key} must be one of {', '.join(valid)}, got {data[key]!r}"
            )
    seeds = data.get("seeds", [])
    if not isinstance(seeds, list) or not all(isinstance(s, str) for s in seeds):
        raise SpaceError(f"{source}: seeds must be a list of formulas or built-in loss names")
    space = SearchSpace(
        name=str(data["name"]),
        operators=tuple(operators),
        leaves=tuple(leaves),
        constants=constants,
        tree=tree,
        transform=data.get("transform", "sigmoid"),
        generator=data.get("generator", "non_saturating"),
        seeds=tuple(seeds),
        description=str(data.get("description", "")),
        source=source,
    )
    for seed in seeds:
        try:
            _seed_tree(seed, set(space.operators))
        except FormulaError as err:
            raise SpaceError(f"{source}: seeds: {seed!r}: {err}") from None
    return space


def _constants(section, source: str) -> Constants | None:
    if section is None or section is False:
        return None
    _check_keys(section, {"distribution", "low", "high", "values", "decimals"}, "constants", source)
    dist = section.get("distribution", "uniform")
    if dist not in ("uniform", "choice"):
        raise SpaceError(
            f"{source}: constants.distribution must be uniform or choice, got {dist!r}"
        )
    low = _number(section.get("low", -5.0), "constants.low", source)
    high = _number(section.get("high", 5.0), "constants.high", source)
    if low >= high:
        raise SpaceError(f"{source}: constants.low ({low}) must be below constants.high ({high})")
    values = section.get("values", [])
    if dist == "choice" and (not isinstance(values, list) or not values):
        raise SpaceError(f"{source}: constants.values must be a non-empty list for choice")
    values = tuple(float(_number(v, "constants.values", source)) for v in values)
    decimals = _number(
        section.get("decimals", 3), "constants.decimals", source, integer=True, minimum=0
    )
    return Constants(
        distribution=dist, low=float(low), high=float(high), values=values, decimals=decimals
    )


def _tree_limits(section, source: str) -> TreeLimits:
    _check_keys(section, set(TreeLimits.__dataclass_fields__), "tree", source)
    values = {
        key: _number(
            section.get(key, default),
            f"tree.{key}",
            source,
            integer=True,
            minimum=0 if key == "init_min_height" else 1,
        )
        for key, default in asdict(TreeLimits()).items()
    }
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
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpaceError(
            f"{path}: malformed YAML{where}: {getattr(err, 'problem', None) or err}"
        ) from None
    if not isinstance(data, dict):
        raise SpaceError(f"{path}: a search space must be a YAML mapping")
    return space_from_dict(data, source=str(path))


def seed_formulas(space: SearchSpace) -> list[str]:
    """The seeds written back as formulas (for display and the store)."""
    return [tree_to_text(t) for t in space.seed_trees()]
