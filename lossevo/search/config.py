"""The search's configuration: one dataclass, validated, with the keys a resume may change."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from lossevo.fitness import TASKS
from lossevo.util.errors import LossevoError

#: Fitness given to rejected, diverged and failed candidates (fitness is minimised).
PENALTY = 1e6
#: How parents are chosen: tournament on fitness, or NSGA-II on fitness and complexity.
SELECTIONS = ("tournament", "nsga2")
#: The tasks the ``search`` command configures from its flags (any of TASKS through the API).
SEARCH_TASKS = ("gan", "probe")


class SearchConfigError(LossevoError):
    """A search setting out of range or of the wrong type; the message names the flag."""


_TYPES = {"int": (int,), "float": (int, float), "str": (str,)}
_WORDS = {"int": "an integer", "float": "a number", "str": "a string"}


@dataclass
class SearchConfig:
    """Everything that defines a search; execution settings live in the executor."""

    space: str = "ganetic"
    population: int = 10
    generations: int = 3
    seed: int = 0
    selection: str = "tournament"  # tournament | nsga2 (fitness and complexity)
    tournament_size: int = 3
    crossover_prob: float = 0.5
    mutation_prob: float = 0.6
    elites: int = 2
    hall_of_fame: int = 10
    short_steps: int = 40  # successive halving: every new candidate
    full_steps: int = 120  # ... the best fraction of each generation
    promote_fraction: float = 0.25
    full_seeds: int = 1
    final_top: int = 2  # elites re-evaluated on more seeds at the end
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
            if not isinstance(known["baselines"], list | tuple):
                raise SearchConfigError(
                    f"baselines must be a list of loss names, not {known['baselines']!r}"
                )
            known["baselines"] = tuple(known["baselines"])
        return cls(**known)

    def validate(self) -> None:
        """Raise SearchConfigError (one line) for a setting of the wrong type or out of range."""
        for f in fields(self):
            value, kinds = getattr(self, f.name), _TYPES.get(str(f.type))
            if kinds and (isinstance(value, bool) or not isinstance(value, kinds)):
                flag = "--" + f.name.replace("_", "-")
                raise SearchConfigError(f"{flag} must be {_WORDS[str(f.type)]}, not {value!r}")
        if not isinstance(self.task_config, dict):
            raise SearchConfigError(f"task_config must be a mapping, not {self.task_config!r}")
        checks = [
            (self.population >= 2, "--population must be at least 2"),
            (self.generations >= 1, "--generations must be at least 1"),
            (0 <= self.elites < self.population, "--elites must be below --population"),
            (self.selection in SELECTIONS, f"--selection must be one of {', '.join(SELECTIONS)}"),
            (self.task in TASKS, f"--task must be one of {', '.join(TASKS)}"),
            (
                0 < self.short_steps <= self.full_steps,
                "--short-steps must be positive and at most --full-steps",
            ),
            (0 < self.promote_fraction <= 1, "--promote-fraction must be in (0, 1]"),
            (
                self.full_seeds >= 1 and self.final_seeds >= self.full_seeds,
                "--final-seeds must be at least --full-seeds, which must be at least 1",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise SearchConfigError(message)
