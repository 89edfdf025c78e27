"""The run lifecycle: create a run directory and search in it, or resume one from its database."""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict
from pathlib import Path

from lossevo.fitness import validate_task
from lossevo.runs.executors import make_executor
from lossevo.runs.rundir import check_new_run_dir
from lossevo.runs.store import CONFIG_NAME, DB_NAME, RunStore, StoreError
from lossevo.search.config import SEARCH_FORMAT, SearchConfig, SearchConfigError
from lossevo.search.leaderboard import (
    EXTENSIONS_KEY,
    leaderboard_text,
    search_config,
    write_views,
)
from lossevo.search.loop import Search
from lossevo.search.space import SearchSpace, load_space
from lossevo.search.spend import Spend
from lossevo.util.budget import Budget, parse_budget


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
        {
            "search": asdict(config),
            "search_format": SEARCH_FORMAT,
            "space_digest": space.digest(),
            "space": space.to_dict(),
        },
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
    """Continue a run from its database; ``overrides`` may only extend ``generations`` (to that
    many) and ``budget`` (by that much); other settings given must equal the stored ones.

    Everything is checked read-only first (the stored config, the overrides, the space, the
    executor), so a refused resume changes nothing; then the run is opened under its lock and
    the extensions are recorded, so a later plain resume keeps them.
    """
    with RunStore.open(run_dir, kind="search", readonly=True) as probe:
        stored = _stored_config(probe)
        overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
        fixed = [k for k in overrides if k not in SearchConfig.RESUMABLE]
        probe.check_config(overrides, fixed, section="search")
        digest = probe.config.get("space_digest")
        extensions = json.loads(probe.meta.get(EXTENSIONS_KEY, "{}"))
        if "generations" in overrides:
            extensions["generations"] = overrides["generations"]
        if "budget" in overrides:
            extensions["budget"] = _extended_budget(probe, stored, overrides["budget"])
    config = SearchConfig.from_dict({**asdict(stored), **extensions})
    config.validate()
    if load_space(config.space).digest() != digest:
        raise SearchConfigError(
            f"the search space {config.space!r} changed since this run started; "
            f"restore it or start a new run"
        )
    with _executor(config, workers, ray_address, gpus_per_eval, eval_timeout) as executor:
        with RunStore.open(run_dir, kind="search") as store:
            store.set_meta(EXTENSIONS_KEY, json.dumps(extensions, sort_keys=True))
            run_on(store, config, executor, echo, progress)
    return Path(run_dir)


def _extended_budget(store: RunStore, stored: SearchConfig, extra: str) -> str:
    """The run's budget extended by ``extra``; a run without one gets what it spent plus it."""
    more = parse_budget(extra)
    if stored.budget is not None:
        return parse_budget(stored.budget).plus(more).text()
    spend = Spend(store, stored)
    spent = Budget(steps=spend.steps_stored()) if more.steps else Budget(seconds=spend.seconds())
    return spent.plus(more).text() if (spent.steps or spent.seconds) else more.text()


def _stored_config(store: RunStore) -> SearchConfig:
    """The run's SearchConfig (with its extensions), refused in one line if malformed or made
    by an earlier search format (successive halving), which this version cannot continue."""
    section = store.config.get("search")
    where = store.run_dir / CONFIG_NAME
    if not isinstance(section, dict):
        raise StoreError(f"'{where}' has no 'search' settings; restore it or start a new run")
    found = store.config.get("search_format", 2)
    if found != SEARCH_FORMAT:
        raise StoreError(
            f"'{store.run_dir}' is a search of format {found} (successive halving, before "
            f"racing); this lossevo runs format {SEARCH_FORMAT} and cannot continue it: start "
            f"a new run (lossevo show still reads it)"
        )
    try:
        config = search_config(store)
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
