"""The search's configuration: one dataclass, validated, with the keys a resume may change."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from lossevo.fitness import TASKS
from lossevo.loss.reference import reference_names
from lossevo.util.budget import parse_budget
from lossevo.util.errors import LossevoError

#: Fitness given to rejected, diverged and failed candidates (fitness is minimised).
PENALTY = 1e6
#: How parents are chosen: tournament on fitness, or NSGA-II on fitness and complexity.
SELECTIONS = ("tournament", "nsga2")
#: The tasks the ``search`` command configures from its flags (any of TASKS through the API).
SEARCH_TASKS = ("gan", "probe")
#: The search's format: 3 races candidates on shared seeds and ends with a verdict on fresh
#: seeds; runs of format 2 (successive halving) cannot be continued by this version.
SEARCH_FORMAT = 3
#: The store stages of a search: racing evaluations, and the verdict's on fresh seeds.
SEARCH_STAGE, VERDICT_STAGE = "search", "verdict"
#: Verdict seeds start here: no decision of the search ever uses a seed this high.
VERDICT_SEED_BASE = 1000
#: The setting at which losses are judged on a CPU (experiments/fidelity_ladder.py): the 8x8
#: digits, where BCE covers all ten classes at domain FID ~60 in 1,500 steps (~50 s a training
#: on one core). The GPU target is offline or full MNIST at 28x28 with the same steps.
CPU_TARGET = {"dataset": "digits-8x8", "width": 32, "batch_size": 64, "lr": 0.002, "n_samples": 500}
CPU_TARGET_STEPS = 1500
TARGET_STEPS = CPU_TARGET_STEPS
#: The racing rung: the cheapest with rank agreement >= 0.6 with the target over 8 losses x 6
#: seeds (Kendall tau 0.64 at 8 s against 62 s; experiments/results/fidelity_ladder). It tells
#: working losses from collapsing ones; among the six working losses its tau is only 0.33 (the
#: target's own split-half tau is 0.43), which is why the verdict retrains at TARGET_STEPS.
RACING_STEPS = 200


class SearchConfigError(LossevoError):
    """A search setting out of range or of the wrong type; the message names the flag."""


_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}
_WORDS = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false"}


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
    variation_attempts: int = 50  # children drawn per new function wanted, at most
    steps: int = RACING_STEPS  # training steps of every racing evaluation (the fitness rung)
    race_min_seeds: int = 2  # seeds every new function starts on
    race_max_seeds: int = 4  # seeds a function that is never ruled out ends on
    race_alpha: float = 0.2  # one-sided level of the elimination test
    race_paired: bool = False  # compare on shared seeds (log ratios) instead of unpaired
    controls: tuple[str, ...] = ("bce", "ganetic")  # trained on every racing seed; the first
    # is the reference of the fitness ratio ("0.91 x BCE")
    verdict_top: int = 2  # best functions judged at the end on fresh seeds
    verdict_seeds: int = 6  # fresh seeds VERDICT_SEED_BASE, +1, ... for each of them
    verdict_steps: int = TARGET_STEPS
    budget: str | None = None  # "30m", "2h", "20000steps": no new generation once spent
    task: str = "gan"
    task_config: dict = field(default_factory=dict)

    #: Keys that may change when a run is resumed: both extend it.
    RESUMABLE = ("generations", "budget")
    #: Keys a resume may repeat but never change: they decide which candidates get seeds.
    RACING = ("race_min_seeds", "race_max_seeds", "race_alpha", "race_paired", "controls")

    def identity(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in self.RESUMABLE}

    @classmethod
    def from_dict(cls, data: dict) -> SearchConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "controls" in known:
            if not isinstance(known["controls"], list | tuple) or not known["controls"]:
                raise SearchConfigError(
                    f"controls must be a non-empty list of loss names, not {known['controls']!r}"
                )
            known["controls"] = tuple(known["controls"])
        return cls(**known)

    @property
    def reference(self) -> str:
        """The control every fitness is a ratio to (BCE by default)."""
        return self.controls[0]

    def validate(self) -> None:
        """Raise SearchConfigError (one line) for a setting of the wrong type or out of range."""
        for f in fields(self):
            value, kinds = getattr(self, f.name), _TYPES.get(str(f.type))
            wrong_bool = isinstance(value, bool) and bool not in kinds
            if kinds and (wrong_bool or not isinstance(value, kinds)):
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
            (self.steps >= 1, "--steps must be at least 1"),
            (self.verdict_steps >= 1, "--verdict-steps must be at least 1"),
            (self.variation_attempts >= 1, "--variation-attempts must be at least 1"),
            (
                1 <= self.race_min_seeds <= self.race_max_seeds <= VERDICT_SEED_BASE,
                f"--race-min-seeds must be at least 1 and at most --race-max-seeds "
                f"(at most {VERDICT_SEED_BASE})",
            ),
            (0 < self.race_alpha < 1, "--race-alpha must be in (0, 1)"),
            (self.verdict_top >= 0, "--verdict-top must be at least 0"),
            (self.verdict_seeds >= 2, "--verdict-seeds must be at least 2 (a spread needs two)"),
        ]
        for ok, message in checks:
            if not ok:
                raise SearchConfigError(message)
        unknown = [c for c in self.controls if c not in reference_names()]
        if unknown:
            raise SearchConfigError(
                f"--controls: unknown loss {unknown[0]!r}; built-in losses: "
                f"{', '.join(reference_names())}"
            )
        if self.budget is not None:
            if not isinstance(self.budget, str):
                raise SearchConfigError(f"--budget must be text like 30m, not {self.budget!r}")
            parse_budget(self.budget)
