"""What a search has spent against its ``--budget``: wall time across sessions, training steps.

Time is the wall time of the search's sessions, kept in the run's ``meta`` after every batch,
so a killed session's work counts. Each session also records when it began; the next one
counts a killed session up to its last write to the run (a candidate, an evaluation, an
event), so even the time before its first batch is not lost. Steps are the training steps of
the stored search evaluations; the decision "spent, no new generation" reads the count
recorded with the last finished generation, so a resumed run decides exactly as an
uninterrupted one.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator

from tqdm import tqdm

from lossevo.fitness.scores import steps_trained
from lossevo.runs.store import RunStore
from lossevo.search.config import SEARCH_STAGE, SearchConfig
from lossevo.search.generation_stats import GenerationStats
from lossevo.util.budget import parse_budget

_SECONDS_KEY = "spent_seconds"
#: {"wall": time.time() at the session's start, "base": spent seconds then}, as JSON.
_SESSION_KEY = "spend_session"


class Spend:
    """The budget of one search session: how much is used, whether it is exhausted."""

    def __init__(self, store: RunStore, config: SearchConfig, *, session: bool = True):
        """``session=False`` reads what was spent without starting a session (read-only)."""
        self.store, self.config = store, config
        self.budget = parse_budget(config.budget) if config.budget else None
        self._base = _recovered_seconds(store)
        self._started = time.monotonic()
        self._bar: tqdm | None = None
        if session:
            record = {"wall": time.time(), "base": self._base}
            store.set_meta(_SESSION_KEY, json.dumps(record))
            store.set_meta(_SECONDS_KEY, f"{self._base:.3f}")

    def seconds(self) -> float:
        """Wall time of all sessions' searching so far."""
        return self._base + time.monotonic() - self._started

    def steps_stored(self) -> int:
        """Training steps of every stored search evaluation."""
        return sum(steps_trained(e) for e in self.store.evaluations(stage=SEARCH_STAGE))

    def steps_decided(self) -> int:
        """Training steps spent when the last generation finished (what decisions read)."""
        last = self.store.last_generation()
        return int(GenerationStats.from_dict(last["stats"]).spent_steps) if last else 0

    def exhausted(self) -> bool:
        """True once the budget is spent: start no new generation."""
        if self.budget is None:
            return False
        if self.budget.steps is not None:
            return self.steps_decided() >= self.budget.steps
        return self.seconds() >= self.budget.seconds

    def used(self) -> tuple[float, float | None, str]:
        """(used, total, unit) in the budget's own unit (minutes or steps)."""
        if self.budget is not None and self.budget.steps is not None:
            return float(self.steps_stored()), float(self.budget.steps), "steps"
        total = None if self.budget is None else self.budget.seconds / 60
        return self.seconds() / 60, total, "min"

    def describe(self) -> str:
        """``12.3 of 30 min used (41%)``, or ``12.3 min used`` without a budget."""
        used, total, unit = self.used()
        shown = f"{used:,.0f}" if unit == "steps" else f"{used:.1f}"
        if total is None:
            return f"{shown} {unit} used"
        whole = f"{total:,.0f}" if unit == "steps" else f"{total:g}"
        return f"{shown} of {whole} {unit} used ({used / total:.0%})"

    def update(self) -> None:
        """Persist the time spent and move the budget bar."""
        self.store.set_meta(_SECONDS_KEY, f"{self.seconds():.3f}")
        if self._bar is not None:
            used, total, _ = self.used()
            self._bar.n = min(used, total or used)
            self._bar.refresh()

    @contextlib.contextmanager
    def bar(self, enabled: bool) -> Iterator[None]:
        """A progress bar of the budget used while the generations run."""
        if not enabled or self.budget is None:
            yield
            return
        used, total, unit = self.used()
        fmt = "{desc}: {percentage:3.0f}%|{bar}| {n:,.1f}/{total:,.1f} " + unit
        with tqdm(total=total, desc="budget", bar_format=fmt, position=1) as self._bar:
            self.update()
            yield
        self._bar = None


def _recovered_seconds(store: RunStore) -> float:
    """Seconds spent by all earlier sessions: the stored count, or more if the last session
    was killed after its last update (it then counts up to its last write to the run)."""
    stored = float(store.meta.get(_SECONDS_KEY, 0.0))
    try:
        session = json.loads(store.meta.get(_SESSION_KEY, "null"))
        wall, base = float(session["wall"]), float(session["base"])
    except (TypeError, ValueError, KeyError):
        return stored
    writes = [row["created"] for row in store.evaluations(stage=SEARCH_STAGE)]
    writes += [row["created"] for row in store.candidates()]
    writes += [row["time"] for row in store.events()]
    last = max((t for t in writes if t >= wall), default=wall)
    return max(stored, base + last - wall)
