"""The run lifecycle: create a run directory and search in it, or resume one from its database."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from lossevo.runs.executors import make_executor
from lossevo.runs.store import RunStore
from lossevo.search.config import SearchConfig
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
    space = load_space(config.space)
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
    """Continue a run from its database; ``overrides`` may only extend ``generations``."""
    with RunStore.open(run_dir, kind="search") as probe:
        stored = SearchConfig.from_dict(probe.config["search"])
        overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
        probe.check_config(overrides, [k for k in overrides if k not in SearchConfig.RESUMABLE])
        digest = probe.config.get("space_digest")
    config = SearchConfig.from_dict({**asdict(stored), **overrides})
    config.validate()
    if load_space(config.space).digest() != digest:
        raise ValueError(
            f"the search space {config.space!r} changed since this run started; "
            f"restore it or start a new run"
        )
    with _executor(config, workers, ray_address, gpus_per_eval, eval_timeout) as executor:
        with RunStore.open(run_dir, kind="search") as store:
            run_on(store, config, executor, echo, progress)
    return Path(run_dir)


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
    finally:
        write_views(store)
    echo("")
    echo(leaderboard_text(store))
