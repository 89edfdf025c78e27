"""The run lifecycle: create a run directory and search in it, or resume one from its database."""

from __future__ import annotations

import contextlib
from dataclasses import asdict
from pathlib import Path

from lossevo.fitness import validate_task
from lossevo.runs.executors import make_executor
from lossevo.runs.rundir import check_new_run_dir
from lossevo.runs.store import CONFIG_NAME, DB_NAME, RunStore, StoreError
from lossevo.search.config import SearchConfig, SearchConfigError
from lossevo.search.leaderboard import leaderboard_text, write_views
from lossevo.search.loop import Search
from lossevo.search.space import SearchSpace, load_space


def start_search(
    run_dir,
    config: SearchConfig,
    *,
    workers: int = 1,
    ray_address: str | None = None,
    gpus_per_eval: float = 0.0,
    eval_timeout: float | None = None,
    echo=print,
    progress: bool = True,
) -> Path:
    """Create a run directory and run the search in it."""
    config.validate()
    validate_task(config.task, config.task_config)
    space = load_space(config.space)
    check_new_run_dir(Path(run_dir), DB_NAME)  # before any work; created again under lock
    with _executor(config, workers, ray_address, gpus_per_eval, eval_timeout) as executor:
        with create_run(run_dir, config, space) as store:
            run_on(store, config, executor, echo, progress)
    return Path(run_dir)


def create_run(run_dir, config: SearchConfig, space: SearchSpace | None = None) -> RunStore:
    """A new run directory whose config records the search and the space's content."""
    space = space or load_space(config.space)
    return RunStore.create(
        run_dir,
        {"search": asdict(config), "space_digest": space.digest(), "space": space.to_dict()},
        kind="search",
    )


def resume_search(
    run_dir,
    *,
    overrides: dict | None = None,
    workers: int = 1,
    ray_address: str | None = None,
    gpus_per_eval: float = 0.0,
    eval_timeout: float | None = None,
    echo=print,
    progress: bool = True,
) -> Path:
    """Continue a run from its database; ``overrides`` may only extend ``generations``.

    Everything is checked read-only first (the stored config, the overrides, the space, the
    executor), so a refused resume changes nothing; then the run is opened under its lock.
    """
    with RunStore.open(run_dir, kind="search", readonly=True) as probe:
        stored = _stored_config(probe)
        overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
        fixed = [k for k in overrides if k not in SearchConfig.RESUMABLE]
        probe.check_config(overrides, fixed, section="search")
        digest = probe.config.get("space_digest")
    config = SearchConfig.from_dict({**asdict(stored), **overrides})
    config.validate()
    if load_space(config.space).digest() != digest:
        raise SearchConfigError(
            f"the search space {config.space!r} changed since this run started; "
            f"restore it or start a new run"
        )
    with _executor(config, workers, ray_address, gpus_per_eval, eval_timeout) as executor:
        with RunStore.open(run_dir, kind="search") as store:
            run_on(store, config, executor, echo, progress)
    return Path(run_dir)


def _stored_config(store: RunStore) -> SearchConfig:
    """The run's SearchConfig from config.json, refused in one line if malformed."""
    section = store.config.get("search")
    where = store.run_dir / CONFIG_NAME
    if not isinstance(section, dict):
        raise StoreError(f"'{where}' has no 'search' settings; restore it or start a new run")
    try:
        config = SearchConfig.from_dict(section)
        config.validate()
    except (TypeError, ValueError) as e:
        raise StoreError(
            f"'{where}' holds invalid settings ({e}); restore it or start a new run"
        ) from None
    return config


def _executor(config, workers, ray_address, gpus_per_eval, eval_timeout):
    """The executor, made before the store is touched: a bad address leaves a run unchanged."""
    return make_executor(
        config.task,
        config.task_config,
        workers=workers,
        address=ray_address,
        gpus_per_eval=gpus_per_eval,
        timeout_s=eval_timeout,
    )


def run_on(
    store: RunStore, config: SearchConfig, executor, echo=print, progress: bool = True
) -> None:
    """Run or continue the search in ``store`` on ``executor``; write the views and leaderboard."""
    search = Search(store, config, executor, echo=echo, progress=progress)
    try:
        search.run()
    except BaseException:
        # Views are a convenience: a failure writing them must not hide why the search stopped
        # (a read-only or full disk would otherwise report the view, not the database).
        with contextlib.suppress(Exception):
            write_views(store)
        raise
    write_views(store)
    echo("")
    echo(leaderboard_text(store))
