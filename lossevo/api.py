"""The Python API: what the CLI does, as functions for notebooks and scripts.

``import lossevo`` and call ``lossevo.evolve(...)``, ``lossevo.gan_loss("ganetic")``,
``lossevo.evaluate(...)``, ``lossevo.replay(...)``. Arguments are checked by the same library
code the CLI calls, so a bad one raises a :class:`LossevoError` with the one line the CLI prints.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import fields, replace
from pathlib import Path

from lossevo.fitness.evaluate import evaluate_loss
from lossevo.fitness.gan import GanConfig
from lossevo.loss.export import export_loss
from lossevo.loss.objective import GanLoss
from lossevo.loss.reference import LossSpec, resolve_loss
from lossevo.report.run_report import run_json, run_verdict
from lossevo.report.views import export_run, run_verdict_section
from lossevo.runs.executors import Execution
from lossevo.runs.store import RunStore
from lossevo.search.config import CPU_TARGET, SearchConfig
from lossevo.search.leaderboard import HOF_COLUMNS, hall_of_fame, search_config
from lossevo.search.run import resume_search, start_search
from lossevo.studies.promote import promote_report_only, run_losses, run_promotion
from lossevo.studies.replay import report_only, run_replay
from lossevo.util.errors import LossevoError
from lossevo.util.terminal import for_terminal

PathLike = str | os.PathLike
_DEFAULTS = SearchConfig()


class ApiError(LossevoError):
    """A bad argument to a Python API function."""


def _silent(*_args, **_kwargs) -> None:
    pass


def gan_loss(
    name_or_formula: str, *, transform: str | None = None, generator: str | None = None
) -> GanLoss:
    """A built-in loss (``bce``, ``ganetic``, ...) or a formula as a torch module.

    ``transform`` (sigmoid | raw) and ``generator`` (non_saturating | minimax) override the
    loss's own conventions (formulas default to sigmoid and non_saturating).
    """
    if not isinstance(name_or_formula, str):
        raise ApiError(f"gan_loss takes a loss name or a formula as text, not {name_or_formula!r}")
    return GanLoss(resolve_loss(name_or_formula, transform=transform, generator=generator))


def export(
    loss: str | GanLoss | LossSpec,
    path: PathLike,
    *,
    source: str | None = None,
    force: bool = False,
) -> Path:
    """Write ``loss`` as a standalone module that imports only torch; ``path`` is a .py file
    or a directory (``<name>.py`` inside). ``source`` is quoted as its provenance. An existing
    file is refused (nothing written) unless ``force``."""
    spec = _spec_of(loss)
    return export_loss(spec, path, provenance={"source": source or spec.name}, force=force)


def default_run_dir() -> Path:
    """``runs/search-<date>-<time>``: where a search goes when no directory is named."""
    return Path(f"runs/search-{_dt.datetime.now():%Y%m%d-%H%M%S}")


def target_task_config(task: str, given: dict | None) -> dict:
    """The gan task's options: the CPU target (8x8 digits, width 32, lr 2e-3; see
    ``search.config.CPU_TARGET``) updated by ``given``; other tasks take ``given`` as is."""
    if given is not None and not isinstance(given, dict):
        raise ApiError(f"task_config must be a dict of the task's options, not {given!r}")
    if task != "gan":
        return dict(given or {})
    return {**CPU_TARGET, **(given or {})}


def _search_config(settings: dict) -> SearchConfig:
    known = {f.name for f in fields(SearchConfig)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ApiError(
            f"unknown search setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    config = replace(_DEFAULTS, **settings)
    config.validate()
    return config


def _execution(
    execution: Execution | None,
    workers: int | None,
    ray_address: str | None,
    gpus_per_eval: float,
    eval_timeout: float | None,
) -> Execution:
    """``execution``, or the one its four keywords describe; both at once is refused."""
    given = (workers, ray_address, eval_timeout) != (None, None, None) or gpus_per_eval != 0.0
    if execution is not None:
        if given:
            raise ApiError("give execution= or workers=/ray_address=/..., not both")
        if not isinstance(execution, Execution):
            raise ApiError(f"execution must be a lossevo Execution, not {execution!r}")
        return execution
    return Execution(workers, ray_address, gpus_per_eval, eval_timeout)


def evolve(
    run_dir: PathLike | None = None,
    *,
    space: str = _DEFAULTS.space,
    population: int = _DEFAULTS.population,
    generations: int = _DEFAULTS.generations,
    seed: int = _DEFAULTS.seed,
    task: str = _DEFAULTS.task,
    task_config: dict | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
    gpus_per_eval: float = 0.0,
    eval_timeout: float | None = None,
    execution: Execution | None = None,
    progress: bool = True,
    **settings,
) -> Run:
    """Run an evolutionary search in a new run directory and return it as a :class:`Run`.

    ``settings`` are the other :class:`~lossevo.search.config.SearchConfig` fields
    (``steps``, ``race_max_seeds``, ``budget="30m"``, ``verdict_seeds``...). ``task="probe"``
    is a seconds-cheap smoke run. ``progress=False`` prints nothing. ``workers`` (default: one
    per core for a GAN task, in-process for the probe), ``ray_address``, ``gpus_per_eval`` and
    ``eval_timeout`` say how evaluations run (or pass one ``execution=``).
    """
    how = _execution(execution, workers, ray_address, gpus_per_eval, eval_timeout)
    config = _search_config(
        {
            "space": space,
            "population": population,
            "generations": generations,
            "seed": seed,
            "task": task,
            "task_config": target_task_config(task, task_config),
            **settings,
        }
    )
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir()
    start_search(run_dir, config, how, echo=print if progress else _silent, progress=progress)
    _print_verdict(run_dir, progress)
    return Run(run_dir)


def _print_verdict(run_dir: PathLike, progress: bool) -> None:
    """A search ends by printing what the user waited for: the verdict's table and sentence."""
    if progress:
        print()
        print(for_terminal(run_verdict_section(Path(run_dir))))


def resume(
    run_dir: PathLike,
    *,
    generations: int | None = None,
    budget: str | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
    gpus_per_eval: float = 0.0,
    eval_timeout: float | None = None,
    execution: Execution | None = None,
    progress: bool = True,
    **expected,
) -> Run:
    """Continue a run after a crash, extend it to ``generations``, or give it ``budget`` more
    than it has spent (``"30m"``, ``"20000steps"``).

    ``expected`` settings (``space=``, ``seed=``, the racing settings...) are checked against
    the stored run and refused if they differ; only ``generations`` and ``budget`` may change.
    """
    how = _execution(execution, workers, ray_address, gpus_per_eval, eval_timeout)
    resume_search(
        run_dir,
        overrides={"generations": generations, "budget": budget, **expected},
        execution=how,
        echo=print if progress else _silent,
        progress=progress,
    )
    _print_verdict(run_dir, progress)
    return Run(run_dir)


def open_run(run_dir: PathLike) -> Run:
    """An existing search run directory, to read its leaderboard and best losses; it may be
    running (a notebook can watch a live search) or read-only."""
    return Run(run_dir)


def _reading(run_dir: Path) -> RunStore:
    """The run opened read-only: no lock taken, nothing written (see ``RunStore.open``)."""
    return RunStore.open(run_dir, kind="search", readonly=True)


class Run:
    """A search run directory; everything is read from its database when asked for.

    Reading never locks: every method opens the store read-only, so it works while the search
    runs (and never blocks a resume), and on a read-only copy.
    """

    def __init__(self, run_dir: PathLike):
        self.run_dir = Path(run_dir)
        with _reading(self.run_dir) as store:
            self.config: SearchConfig = search_config(store)

    def __repr__(self) -> str:
        return f"Run({str(self.run_dir)!r}, space={self.config.space!r}, task={self.config.task!r})"

    @property
    def generations_done(self) -> int:
        """Generations stored so far (a resume with ``generations=`` may add more)."""
        with _reading(self.run_dir) as store:
            return len(store.generations())

    def leaderboard(self, top: int | None = None, *, as_frame: bool = False):
        """The hall of fame, best first: one dict per distinct function (rank, text, fitness as
        a ratio to the reference control, score, seeds, race, complexity, fingerprint...).

        A list of dicts; ``as_frame=True`` returns the same rows as a pandas DataFrame.
        """
        with _reading(self.run_dir) as store:
            rows = hall_of_fame(store, replace(search_config(store), hall_of_fame=0))
        rows = rows if top is None else rows[: _at_least_one("top", top)]
        if not as_frame:
            return rows
        try:
            import pandas
        except ImportError:
            raise ApiError("as_frame=True needs pandas: pip install pandas") from None
        return pandas.DataFrame(rows, columns=HOF_COLUMNS)

    def verdict(self) -> dict | None:
        """The verdict on fresh seeds (ratio to BCE with CI, corrected p, collapse rate and
        one sentence per run), or None before the run has given it."""
        with _reading(self.run_dir) as store:
            return run_verdict(store)

    def to_json(self) -> dict:
        """What ``lossevo show RUN --json`` prints: leaderboard, generations and verdict."""
        with _reading(self.run_dir) as store:
            return run_json(store)

    def best(self, k: int = 1) -> list[GanLoss]:
        """The ``k`` best losses as torch modules, best first, each with the transform and
        generator convention it was trained under (``discriminator_loss``/``generator_loss``)."""
        return [GanLoss(spec) for _, spec in run_losses(self.run_dir, _at_least_one("k", k))]

    def export(self, out_dir: PathLike, top: int = 3, *, force: bool = False) -> list[Path]:
        """Write the ``top`` best losses as standalone modules ``rank<N>.py`` in ``out_dir``.

        Existing modules are refused (nothing written) unless ``force``; a run with no ranked
        candidate yet is refused too (see :func:`lossevo.report.views.export_run`)."""
        return export_run(
            self.run_dir, top=_at_least_one("top", top), out_dir=Path(out_dir), force=force
        )


def _whole(name: str, value: int) -> int:
    """``value`` if it is a whole number of at least 1, else an ApiError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(f"{name} must be a whole number, not {value!r}")
    return _at_least_one(name, value)


def _at_least_one(name: str, value: int) -> int:
    if not isinstance(value, int) or value < 1:
        raise ApiError(f"--{name} must be at least 1, got {value!r}")
    return value


def evaluate(
    loss: str | GanLoss | LossSpec,
    *,
    seeds: int = 3,
    steps: int = 300,
    dataset: str = GanConfig.dataset,
    width: int = GanConfig.width,
    batch_size: int = GanConfig.batch_size,
    n_samples: int = GanConfig.n_samples,
    device: str = GanConfig.device,
    aggregate: str = "mean",
    out: PathLike | None = None,
    download: bool = False,
    progress: bool = True,
    screen: bool = True,
    **task_options,
) -> dict:
    """Train a DCGAN with ``loss`` on ``seeds`` seeds for ``steps`` steps and score each run.

    ``loss`` is a name, a formula or a module from :func:`gan_loss`; ``task_options`` are the other
    gan task settings (``data_root``, ``image_size``, ``metric``, ``inception_weights``...).
    Returns ``{"loss", "protocol", "steps", "summary", "runs"}``; with ``out``, also writes
    ``samples.png`` and ``evaluation.json`` there. A loss that screening rejects is refused
    unless ``screen=False``.
    """
    spec = _spec_of(loss)
    _whole("seeds", seeds)
    _whole("steps", steps)
    options = {
        "dataset": dataset,
        "width": width,
        "batch_size": batch_size,
        "n_samples": n_samples,
        "device": device,
        **task_options,
    }
    return evaluate_loss(
        spec,
        GanConfig.from_config(options),
        steps=steps,
        seeds=seeds,
        how=aggregate,
        out=out,
        download=download,
        progress=progress,
        screen=screen,
        echo=print if progress else _silent,
    )


def _spec_of(loss: str | GanLoss | LossSpec) -> LossSpec:
    if isinstance(loss, GanLoss):
        return loss.spec
    if isinstance(loss, LossSpec):
        return loss
    if isinstance(loss, str):
        return resolve_loss(loss)
    raise ApiError(
        f"a loss is a name, a formula or lossevo.gan_loss(...), not {type(loss).__name__}"
    )


def replay(
    config_path: PathLike,
    out: PathLike,
    *,
    workers: int | None = None,
    ray_address: str | None = None,
    execution: Execution | None = None,
    progress: bool = True,
) -> Path:
    """Run (or resume) the replay of a protocol YAML in ``out``; returns ``report.md``'s path.
    ``workers`` defaults to one per core (in-process for the probe task)."""
    return run_replay(
        config_path,
        out,
        _execution(execution, workers, ray_address, 0.0, None),
        progress=progress,
        echo=print if progress else _silent,
    )


def replay_report(out: PathLike) -> Path:
    """Rewrite the report of an existing replay directory from its store, training nothing."""
    return report_only(Path(out))


def promote(
    run_dir: PathLike,
    stages: PathLike,
    out: PathLike,
    *,
    top: int = 3,
    workers: int | None = None,
    ray_address: str | None = None,
    execution: Execution | None = None,
    progress: bool = True,
) -> Path:
    """Take a run's ``top`` best losses and the baselines through the stages YAML in ``out``;
    returns the report's path. ``workers`` defaults to one per core."""
    return run_promotion(
        run_dir,
        stages,
        out,
        _execution(execution, workers, ray_address, 0.0, None),
        top=top,
        progress=progress,
        echo=print if progress else _silent,
    )


def promote_report(out: PathLike) -> Path:
    """Rewrite the report of an existing promotion directory, training nothing."""
    return promote_report_only(Path(out))
