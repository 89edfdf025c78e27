"""The run lifecycle: create a run directory and search in it, or resume one from its database."""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, replace
from pathlib import Path

from lossevo.fitness import validate_task
from lossevo.runs.executors import Execution, make_executor
from lossevo.runs.rundir import check_new_run_dir
from lossevo.runs.store import CONFIG_NAME, DB_NAME, RunStore, StoreError
from lossevo.search.config import (
    EQUAL,
    FORMATS,
    SEARCH_FORMAT,
    SearchConfig,
    SearchConfigError,
    settings,
)
from lossevo.search.leaderboard import (
    EXTENSIONS_KEY,
    leaderboard_text,
    search_config,
    write_views,
)
from lossevo.search.loop import Search
from lossevo.search.space import SearchSpace, load_space, space_from_dict
from lossevo.search.spend import Spend
from lossevo.util.budget import Budget, parse_budget
from lossevo.util.errors import LossevoError


def start_search(
    run_dir,
    config: SearchConfig,
    execution: Execution | None = None,
    *,
    echo=print,
    progress: bool = True,
) -> Path:
    """Create a run directory and run the search in it; everything is checked first."""
    config.validate()
    validate_task(config.task, config.task_config)
    execution = execution or Execution()
    space = load_space(config.space)
    check_new_run_dir(Path(run_dir), DB_NAME)  # before any work; created again under lock
    with make_executor(config.task, config.task_config, execution) as executor:
        with create_run(run_dir, config, space) as store:
            run_on(store, config, executor, echo, progress, space=space)
    return Path(run_dir)


def create_run(run_dir, config: SearchConfig, space: SearchSpace | None = None) -> RunStore:
    """A new run directory whose config records the search and the space's content."""
    space = space or load_space(config.space)
    return RunStore.create(
        run_dir,
        {
            "search": config.to_stored(),
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
    execution: Execution | None = None,
    echo=print,
    progress: bool = True,
) -> Path:
    """Continue a run from its database. ``overrides`` follow each setting's resume rule
    (``config.settings()``): ``generations`` may rise to that many and ``budget`` adds that much
    to what the run has spent; any other setting given must equal the stored one.

    Everything is checked read-only first (the stored config, the overrides, the space, the
    executor), so a refused resume changes nothing; then the run is opened under its lock and
    the extensions are recorded, so a later plain resume keeps them. The run continues in the
    space its config.json keeps, even if the file that space came from has changed since.
    """
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    with RunStore.open(run_dir, kind="search", readonly=True) as probe:
        stored = _stored_config(probe)
        _check_types(stored, overrides)
        digest = probe.config.get("space_digest")
        if "space" in overrides and _same_space(overrides["space"], digest):
            overrides.pop("space")  # another spelling of the same space (a path, a name)
        rules = settings()
        fixed = [k for k in overrides if rules[k].resume == EQUAL]
        probe.check_config(overrides, fixed, section="search")
        extensions = json.loads(probe.meta.get(EXTENSIONS_KEY, "{}"))
        done = len(probe.generations())
        if "generations" in overrides:
            extensions["generations"] = _extended_generations(stored, overrides["generations"])
        if "budget" in overrides:
            extended = _extended_budget(probe, stored, overrides["budget"])  # units checked
            if done >= max(stored.generations, overrides.get("generations", 0)):
                raise SearchConfigError(
                    f"--budget adds nothing: all {stored.generations} generations of this run "
                    f"are done; add --generations N (more than {stored.generations}) to run more"
                )
            extensions["budget"] = extended
        space = stored_space(probe, stored.space)
    config = SearchConfig.from_dict({**asdict(stored), **extensions})
    config.validate()
    if space.digest() != digest:
        raise SearchConfigError(
            f"the search space {config.space!r} changed since this run started; "
            f"restore it or start a new run"
        )
    with make_executor(config.task, config.task_config, execution or Execution()) as executor:
        with RunStore.open(run_dir, kind="search") as store:
            store.set_meta(EXTENSIONS_KEY, json.dumps(extensions, sort_keys=True))
            run_on(store, config, executor, echo, progress, space=space)
    return Path(run_dir)


def stored_space(store: RunStore, name: str) -> SearchSpace:
    """The space a run searches: the one its config.json keeps (checked as a space file is),
    or for a run that kept none, the space ``name`` as it is now."""
    data = store.config.get("space")
    if not isinstance(data, dict):
        return load_space(name)
    return space_from_dict(data, source=f"{store.run_dir / CONFIG_NAME} (space)")


def _check_types(stored: SearchConfig, overrides: dict) -> None:
    """Refuse an unknown setting, or a value of the wrong type, before comparing anything."""
    known = settings()
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise SearchConfigError(
            f"unknown search setting(s) {', '.join(unknown)}; known: {', '.join(known)}"
        )
    given = dict(overrides)
    if "budget" in given:  # an extension, not a budget: its own parse checks it
        parse_budget(given.pop("budget"))
    candidate = replace(stored, **given)
    candidate.validate()


def _same_space(given: str, digest: str | None) -> bool:
    """True when ``given`` names a space whose content is the stored one's (by digest)."""
    try:
        return digest is not None and load_space(given).digest() == digest
    except LossevoError:
        return False  # not a space at all: the equality check refuses it, naming the stored one


def _extended_generations(stored: SearchConfig, generations: int) -> int:
    """``generations`` if it extends (or repeats) the run's count; fewer is refused."""
    if generations < stored.generations:
        raise SearchConfigError(
            f"--generations {generations} would shrink the run ({stored.generations} "
            f"generations); a resume may only extend it: give {stored.generations} or more"
        )
    return generations


def _extended_budget(store: RunStore, stored: SearchConfig, extra: str) -> str:
    """The budget for ``extra`` more: added to what the run has spent, or to its budget if
    it stopped before spending it all (a resume never shrinks a budget)."""
    more = parse_budget(extra)
    current = parse_budget(stored.budget) if stored.budget is not None else None
    spend = Spend(store, stored, session=False)
    if more.steps is not None:
        used = Budget(steps=spend.steps_stored()) if spend.steps_stored() else None
    else:
        used = Budget(seconds=spend.seconds()) if spend.seconds() > 0 else None
    if current is not None:
        if used is not None and (used.steps is None) == (current.steps is None):
            current = max(current, used, key=lambda b: b.steps or b.seconds)
        return current.plus(more).text()
    return used.plus(more).text() if used is not None else more.text()


def _stored_config(store: RunStore) -> SearchConfig:
    """The run's SearchConfig (with its extensions), refused in one line if malformed or made
    by an earlier search format (``FORMATS``), which this version cannot continue."""
    section = store.config.get("search")
    where = store.run_dir / CONFIG_NAME
    if not isinstance(section, dict):
        raise StoreError(f"'{where}' has no 'search' settings; restore it or start a new run")
    found = store.config.get("search_format", 2)
    if found != SEARCH_FORMAT:
        what = FORMATS.get(found, "unknown")
        raise StoreError(
            f"'{store.run_dir}' is a search of format {found} ({what}); this lossevo runs "
            f"format {SEARCH_FORMAT} (racing toward the target with early stopping) and cannot "
            f"continue it: start a new run (lossevo show still reads it)"
        )
    try:
        config = search_config(store)
        config.validate()
    except (TypeError, ValueError) as e:
        raise StoreError(
            f"'{where}' holds invalid settings ({e}); restore it or start a new run"
        ) from None
    return config


def run_on(
    store: RunStore,
    config: SearchConfig,
    executor,
    echo=print,
    progress: bool = True,
    space: SearchSpace | None = None,
) -> None:
    """Run or continue the search in ``store`` on ``executor``, in ``space`` (by default the
    one ``config`` names); write the views and leaderboard."""
    search = Search(store, config, executor, echo=echo, progress=progress, space=space)
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
