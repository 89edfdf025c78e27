"""The search's configuration: one dataclass, validated, with the keys a resume may change."""

from __future__ import annotations

from dataclasses import MISSING, Field, asdict, dataclass, field, fields

from lossevo.fitness import TASKS
from lossevo.util.budget import parse_budget
from lossevo.util.errors import LossevoError

#: Fitness given to rejected, diverged and failed candidates (fitness is minimised).
PENALTY = 1e6
#: A function stopped early has fitness STOPPED_FITNESS + its ratio to the reference where it
#: stopped: below every finished function (whose ratios are far below 1e3), above failures.
STOPPED_FITNESS = 1e3
#: How parents are chosen: tournament on fitness, or NSGA-II on fitness and complexity.
SELECTIONS = ("tournament", "nsga2")
#: The tasks the ``search`` command configures from its flags (any of TASKS through the API).
SEARCH_TASKS = ("gan", "probe")
#: The tasks that score a training at checkpoints and stop it early when asked.
CHECKPOINT_TASKS = ("gan",)
#: The search's format: 4 races candidates toward the target budget with early stopping at
#: checkpoints, and ends with a verdict on fresh seeds. Runs of format 3 (racing on a 200-step
#: rung) and 2 (successive halving) are shown, never continued by this version.
SEARCH_FORMAT = 4
#: What each earlier format did, for the message that refuses to continue one.
FORMATS = {2: "successive halving", 3: "racing at a 200-step rung, without early stopping"}
#: The store stages of a search: racing evaluations, and the verdict's on fresh seeds.
SEARCH_STAGE, VERDICT_STAGE = "search", "verdict"
#: Verdict seeds start here: no decision of the search ever uses a seed this high.
VERDICT_SEED_BASE = 1000
#: The setting at which losses are judged on a CPU (experiments/fidelity_ladder.py): the 8x8
#: digits, where BCE covers all ten classes at domain FID ~60 in 1,500 steps (22-25 s a
#: training on one core, measured alone). The 28x28 target is offline or full MNIST at 1,500 steps.
CPU_TARGET = {"dataset": "digits-8x8", "width": 32, "batch_size": 64, "lr": 0.002, "n_samples": 500}
CPU_TARGET_STEPS = 1500
TARGET_STEPS = CPU_TARGET_STEPS
#: Racing trains toward the target itself (format 4). The old racing rung, 200 steps, ranked the
#: six working losses of the fidelity ladder with Kendall tau 0.33 against the target: it chose
#: losses that start fast, and its winners shrank at the target. Candidates now stop early
#: instead, at checkpoints, when clearly behind the controls (``fitness.early_stop``).
#: A racing training stops at a checkpoint when its score is above exp(STOP_MARGIN) = 3.3 x the
#: references' geometric mean there. On the 8x8 target replay's stored curves (72 trainings of
#: six losses) it stopped 1 of the 36 trainings of the better half and every Wasserstein one
#: (experiments/early_stopping.py).
STOP_MARGIN = 1.2


#: The verdict's default seeds, chosen by power: at the target the sd of log FID is 0.21-0.35
#: per loss (8 fresh seeds each, issue 15), so a per-seed log ratio to BCE has sd about 0.3.
#: With 3 functions judged against BCE (one-sided 0.05, Holm), 80% power needs a ratio below
#: 0.62 on 6 seeds, 0.68 on 8 and 0.72 on 10 (``report.verdict.verdict_power``); 8 seeds can
#: detect the effect that least squares shows (0.66 x BCE), 6 cannot. Cost: 8 trainings of
#: each of the 4 functions, about 6-7 min on 2 workers.
VERDICT_SEEDS = 8


class SearchConfigError(LossevoError):
    """A search setting out of range or of the wrong type; the message names the flag."""


#: Resume rules. EXTEND: a resume may raise it (``generations`` to that many, ``budget`` by
#: that much). EQUAL: a resume may repeat it, never change it (it decides what was raced).
EXTEND, EQUAL = "extend", "equal"
#: Most fresh seeds a verdict trains per function: past this a run could never finish.
MAX_VERDICT_SEEDS = 1000

_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}
_WORDS = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false"}
BUDGET_HELP = (
    "stop starting generations once this is spent, then give the verdict: a duration "
    "(30m, 2h, 90s) or training steps (20000steps)"
)


@dataclass(frozen=True)
class Setting:
    """What one SearchConfig field means to a user: its help, whether ``lossevo search`` has a
    flag for it (and ``resume``), how a resume may change it, and the range it must lie in.

    ``low``/``high`` are inclusive bounds, exclusive with ``strict``; ``why`` is appended to
    the refusal; ``cli_choices`` narrows ``choices`` on ``search``'s command line (the API
    takes all). ``resume_help`` is the ``resume`` flag's help where it has one of its own.
    ``stored_if_changed``: a setting added after runs were made; a run's config.json holds it
    only when it differs from its default, so runs that leave it alone store what they did.
    """

    help: str
    flag: bool = True
    resume: str = EQUAL
    resume_flag: bool = False
    resume_help: str | None = None
    low: float | None = None
    high: float | None = None
    strict: bool = False
    choices: tuple[str, ...] | None = None
    cli_choices: tuple[str, ...] | None = None
    why: str = ""
    group: str | None = None
    stored_if_changed: bool = False

    def flag_name(self, name: str) -> str:
        return "--" + name.replace("_", "-")

    def check(self, name: str, value) -> None:
        """Raise SearchConfigError (one line) if ``value`` is outside this setting's range."""
        flag = self.flag_name(name)
        if self.choices is not None and value not in self.choices:
            raise SearchConfigError(f"{flag} must be one of {', '.join(self.choices)}")
        if self.low is None and self.high is None:
            return
        below = self.low is not None and (value <= self.low if self.strict else value < self.low)
        above = self.high is not None and (value >= self.high if self.strict else value > self.high)
        if below or above:
            raise SearchConfigError(f"{flag} must be {self.range_text()}{self.why}, not {value!r}")

    def range_text(self) -> str:
        if self.low is not None and self.high is not None:
            left, right = ("(", ")") if self.strict else ("[", "]")
            return f"in {left}{self.low:g}, {self.high:g}{right}"
        if self.low is not None:
            return f"above {self.low:g}" if self.strict else f"at least {self.low:g}"
        return f"below {self.high:g}" if self.strict else f"at most {self.high:g}"


def setting(default=MISSING, *, factory=MISSING, **meta) -> Field:
    """A SearchConfig field whose metadata is its :class:`Setting`."""
    if factory is not MISSING:
        return field(default_factory=factory, metadata={"setting": Setting(**meta)})
    return field(default=default, metadata={"setting": Setting(**meta)})


def settings() -> dict[str, Setting]:
    """Every SearchConfig field's Setting, in field order (the order ``--help`` lists them)."""
    return {f.name: f.metadata["setting"] for f in fields(SearchConfig)}


@dataclass
class SearchConfig:
    """Everything that defines a search; how evaluations run is an ``Execution``.

    Each field's metadata is its :class:`Setting`: the CLI's ``search`` and ``resume`` flags,
    their help, the resume checks and :meth:`validate` are all generated from it.
    """

    space: str = setting(
        "ganetic",
        help="search space name (search_spaces/*.yaml) or YAML path",
        resume_flag=True,
    )
    population: int = setting(10, help="individuals per generation", low=2, resume_flag=True)
    generations: int = setting(
        3,
        help="generations",
        low=1,
        resume=EXTEND,
        resume_help="extend the run to this many generations (never fewer than it has)",
    )
    seed: int = setting(
        0, help="seed of evolution; evaluations use seeds 0, 1, ...", resume_flag=True
    )
    selection: str = setting(
        "tournament",
        help="tournament on fitness, or NSGA-II on fitness and complexity",
        choices=SELECTIONS,
    )
    tournament_size: int = setting(
        3, help="individuals per selection tournament", flag=False, low=1
    )
    crossover_prob: float = setting(
        0.5, help="probability that a child is a crossover", flag=False, low=0, high=1
    )
    mutation_prob: float = setting(
        0.6, help="probability that a child is mutated", flag=False, low=0, high=1
    )
    transform_mutation_prob: float = setting(
        0.1,
        help="probability that a child's transform changes to another of the space's",
        flag=False,
        low=0,
        high=1,
        stored_if_changed=True,
    )
    generator_mutation_prob: float = setting(
        0.1,
        help="probability that a child's generator convention changes to another of the space's",
        flag=False,
        low=0,
        high=1,
        stored_if_changed=True,
    )
    elites: int = setting(2, help="best individuals copied unchanged to the next generation")
    hall_of_fame: int = setting(
        10, help="rows of the leaderboard kept in the run's views", flag=False, low=1
    )
    variation_attempts: int = setting(
        50, help="children drawn per new function wanted, at most", low=1
    )
    steps: int = setting(
        TARGET_STEPS,
        help="training steps of every racing evaluation: the target budget, which the "
        "fitness is scored at (trainings clearly behind stop early)",
        low=1,
        resume_flag=True,
    )
    early_stop: bool = setting(
        True, help="stop a racing training at a checkpoint when clearly behind or collapsed"
    )
    stop_margin: float = setting(
        STOP_MARGIN,
        help="a racing training stops at a checkpoint when its score is above exp(margin) x "
        "the geometric mean of the controls' and the incumbent's there, on its seed",
        low=0,
        strict=True,
    )
    race_min_seeds: int = setting(2, help="seeds every new function starts on", resume_flag=True)
    race_max_seeds: int = setting(
        4, help="seeds a function never ruled out ends on", resume_flag=True
    )
    race_alpha: float = setting(
        0.2,
        help="one-sided level of the test that drops a function",
        low=0,
        high=1,
        strict=True,
        resume_flag=True,
    )
    race_paired: bool = setting(False, help="test on shared seeds (log ratios) instead of unpaired")
    controls: tuple[str, ...] = setting(
        ("bce", "ganetic", "least_squares"),
        help="built-in losses trained on every seed; the first is the fitness reference",
    )
    verdict_top: int = setting(2, help="best functions judged on fresh seeds at the end", low=0)
    verdict_seeds: int = setting(
        VERDICT_SEEDS,
        help=f"fresh seeds of the verdict ({VERDICT_SEED_BASE}, {VERDICT_SEED_BASE + 1}, ...)",
        low=2,
        high=MAX_VERDICT_SEEDS,
        why=" (a spread needs two; each seed is a training of every judged function)",
    )
    verdict_steps: int = setting(
        TARGET_STEPS, help="training steps of the verdict (the target budget)", low=1
    )
    budget: str | None = setting(
        None,
        help=BUDGET_HELP,
        resume=EXTEND,
        resume_help="give the run this much more than it has spent (or than its budget, if "
        "it stopped early): a duration (30m, 2h, 90s) or training steps (20000steps)",
    )
    task: str = setting(
        "gan",
        help="gan: train a DCGAN and score its samples; probe: the seconds-cheap screening "
        "game, for smoke tests",
        choices=tuple(TASKS),
        cli_choices=SEARCH_TASKS,
        group="fitness task",
        resume_flag=True,
    )
    task_config: dict = setting(factory=dict, help="the task's options", flag=False)

    def __post_init__(self) -> None:
        if isinstance(self.controls, list):  # as JSON and the command line give it
            self.controls = tuple(self.controls)

    def to_stored(self) -> dict:
        """The settings as a run's config.json keeps them (see ``Setting.stored_if_changed``)."""
        defaults = SearchConfig()
        return {
            name: value
            for name, value in asdict(self).items()
            if not settings()[name].stored_if_changed or value != getattr(defaults, name)
        }

    def identity(self) -> dict:
        return {k: v for k, v in asdict(self).items() if settings()[k].resume != EXTEND}

    @classmethod
    def from_dict(cls, data: dict) -> SearchConfig:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    @property
    def reference(self) -> str:
        """The control every fitness is a ratio to (BCE by default)."""
        return self.controls[0]

    def validate(self) -> None:
        """Raise SearchConfigError (one line) for a setting of the wrong type or out of range:
        each field's type and its Setting's range, then the rules between fields."""
        for f in fields(self):
            value, kinds = getattr(self, f.name), _TYPES.get(str(f.type))
            wrong_bool = isinstance(value, bool) and bool not in kinds if kinds else False
            if kinds and (wrong_bool or not isinstance(value, kinds)):
                flag = "--" + f.name.replace("_", "-")
                raise SearchConfigError(f"{flag} must be {_WORDS[str(f.type)]}, not {value!r}")
        if not isinstance(self.task_config, dict):
            raise SearchConfigError(f"task_config must be a mapping, not {self.task_config!r}")
        if not (isinstance(self.controls, tuple) and self.controls) or not all(
            isinstance(c, str) for c in self.controls
        ):
            raise SearchConfigError(
                f"--controls must be one or more loss names, not {self.controls!r}"
            )
        for name, rule in settings().items():
            value = getattr(self, name)
            if value is not None:
                rule.check(name, value)
        checks = [
            (0 <= self.elites < self.population, "--elites must be below --population"),
            (
                1 <= self.race_min_seeds <= self.race_max_seeds <= VERDICT_SEED_BASE,
                f"--race-min-seeds must be at least 1 and at most --race-max-seeds "
                f"(at most {VERDICT_SEED_BASE})",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise SearchConfigError(message)
        from lossevo.loss.reference import reference_names  # SymPy: not for --help

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
