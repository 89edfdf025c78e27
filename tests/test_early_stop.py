"""Early stopping: the rule (plain data in a job), a real training that stops itself at a
checkpoint, how a stopped training is stored and ranked, and the race that promotes each
function on its own (ASHA-like) with the same outcomes in any order of completion."""

from __future__ import annotations

import math
import random

import pytest

from lossevo.fitness.early_stop import (
    BEHIND,
    COLLAPSED,
    StopRule,
    checkpoints_for,
    collapse_step,
    stop_rule,
)
from lossevo.fitness.gan import GanTask
from lossevo.fitness.scores import Race, checkpoint_curve, score, steps_trained, stopped
from lossevo.loss.reference import reference_loss
from lossevo.runs.store import RunStore
from lossevo.search.config import PENALTY, STOPPED_FITNESS, SearchConfig
from lossevo.search.leaderboard import search_config
from lossevo.search.racing import RaceSettings, in_rounds, race
from lossevo.search.run import start_search
from lossevo.search.standing import standing


# ------------------------------------------------------------------------------- the rule
def test_checkpoints_are_fractions_of_the_budget():
    assert checkpoints_for(1500) == [400, 700, 1000, 1250]
    assert collapse_step(1500) == 1000
    assert checkpoints_for(3) == [1, 2] and all(0 < s < 3 for s in checkpoints_for(3))


def test_the_limit_is_a_margin_over_the_references_geometric_mean_on_the_seed():
    refs = [{400: 100.0, 700: 50.0}, {400: 400.0, 700: math.inf}, {700: 200.0}]
    rule = stop_rule(refs, [400, 700, 1000], margin=1.0, collapse_from=700)
    assert rule.above[400] == pytest.approx(math.e * 200.0)  # sqrt(100 * 400) = 200
    assert rule.above[700] == pytest.approx(math.e * 100.0)  # inf is no reference score
    assert 1000 not in rule.above  # no reference scored there: no limit
    assert StopRule.from_job({"stop": rule.to_dict()}) == rule  # a job carries it as JSON
    assert StopRule.from_job({}) is None


def test_a_training_stops_when_behind_nan_or_collapsed_late():
    rule = StopRule({400: 300.0, 700: 150.0}, collapse_from=700)
    assert rule.reason(400, 299.0, {"classes_covered": 2}) is None  # early: no collapse test
    assert rule.reason(400, 301.0, {}) == BEHIND
    assert rule.reason(400, math.nan, {}) == BEHIND
    assert rule.reason(700, 100.0, {"classes_covered": 5}) == COLLAPSED
    assert rule.reason(700, 100.0, {"classes_covered": 6}) is None
    assert rule.reason(1000, 1e9, {}) is None  # no limit there


# ----------------------------------------------------------------- a real training stops
@pytest.fixture(scope="module")
def task():
    return GanTask.from_config(
        {"dataset": "digits-8x8", "width": 8, "n_samples": 200, "device": "cpu"}
    )


@pytest.mark.usefixtures("one_torch_thread")
def test_a_real_training_stops_itself_where_its_rule_says_and_is_stored_as_stopped(task):
    job = {"loss": reference_loss("bce").to_dict(), "seed": 1, "steps": 30}
    full = task.evaluate({**job, "checkpoints": [10, 20]})
    at_20 = full["checkpoints"]["20"]["fitness"]
    rule = StopRule({10: math.inf, 20: at_20 * 0.999})  # passes 10, is just behind at 20
    out = task.evaluate({**job, "checkpoints": [10, 20], "stop": rule.to_dict()})
    assert out["status"] == "ok" and out["fitness"] is None and out["steps"] == 20
    assert out["metrics"] == {"stopped_at": 20, "stop_reason": BEHIND}
    assert out["checkpoints"] == full["checkpoints"]  # the same training up to the stop
    row = {**out, "budget": 30}
    assert stopped(row) and steps_trained(row) == 20 and score(row) == math.inf
    assert checkpoint_curve(row) == {10: full["checkpoints"]["10"]["fitness"], 20: at_20}
    passes = StopRule({20: at_20})  # at the limit is not behind: it trains to the end
    assert task.evaluate({**job, "checkpoints": [10, 20], "stop": passes.to_dict()}) | {
        "seconds": 0, "train_seconds": 0
    } == full | {"seconds": 0, "train_seconds": 0}  # fmt: skip
    assert not stopped({**full, "budget": 30})


# --------------------------------------------------------------------------------- racing
def _planted(seed: int):
    rng = random.Random(seed)
    quality = {f"c{i}": rng.uniform(0.5, 2.0) for i in range(8)} | {"incumbent": 1.0}
    noise = {(n, s): rng.gauss(0, 0.1) for n in quality for s in range(5)}
    halted = {("c3", 1), ("c5", 0)}  # trainings that stopped early
    trained: set = set()

    def score(name, s):
        if (name, s) not in trained:
            return None
        return math.inf if (name, s) in halted else quality[name] * math.exp(noise[(name, s)])

    return trained, score, lambda name, s: (name, s) in halted


@pytest.mark.parametrize("seed", range(3))
def test_a_race_decides_the_same_in_any_order_of_completion(seed):
    """Each entrant advances on its own scores: whatever order trainings finish in (here a
    shuffled queue that admits what each result unlocks at once), the outcomes are the same."""
    settings = RaceSettings(2, 4, 0.2)
    names = [f"c{i}" for i in range(8)]
    trained, score, halted = _planted(seed)
    by_rounds = race(names, "incumbent", settings, request=in_rounds(trained.update),
                     score=score, stopped=halted)  # fmt: skip
    trained2, score2, halted2 = _planted(seed)
    order = random.Random(seed + 10)
    unlocked_early = []

    def streaming(pairs, then):
        queue = list(pairs)
        while queue:
            pair = queue.pop(order.randrange(len(queue)))
            trained2.add(pair)
            more = [p for p in then(pair[0]) if p not in trained2 and p not in queue]
            if more and queue:
                unlocked_early.append(pair[0])  # promoted while others still train
            queue.extend(more)

    streamed = race(names, "incumbent", settings, request=streaming, score=score2,
                    stopped=halted2)  # fmt: skip
    assert streamed == by_rounds and trained2 == trained
    assert unlocked_early
    assert by_rounds["c3"].status == by_rounds["c5"].status == Race.STOPPED


# ------------------------------------------------------------------------- in a search
GAN_SEARCH = dict(
    space="minimal", population=4, generations=2, seed=1, steps=30, race_min_seeds=2,
    race_max_seeds=2, verdict_top=1, verdict_seeds=2, verdict_steps=30, task="gan",
    task_config={"dataset": "digits-8x8", "width": 8, "n_samples": 200, "device": "cpu"},
    variation_attempts=20, stop_margin=0.05,
)  # fmt: skip


@pytest.mark.usefixtures("one_torch_thread")
def test_a_search_stops_trainings_early_and_ranks_them_below_every_finished_one(tmp_path):
    run = start_search(tmp_path / "run", SearchConfig(**GAN_SEARCH), progress=False,
                       echo=lambda s: None)  # fmt: skip
    with RunStore.open(run, kind="search", readonly=True) as store:
        config = search_config(store)
        rows = standing(store, config, every=True)
        racing = store.evaluations(stage="search")
        controls = {c["fingerprint"] for c in store.candidates() if c["role"] == "baseline"}
        stats = [g["stats"]["race"] for g in store.generations()]
    halted = [e for e in racing if stopped(e)]
    assert halted and all(e["fingerprint"] not in controls for e in halted)
    assert all(e["steps"] in checkpoints_for(30) for e in halted)
    assert all(e["checkpoints"] for e in racing)  # every racing training has its curve
    places = [r["race"] for r in rows]
    assert Race.STOPPED in places and sum(s.get(Race.STOPPED, 0) for s in stats) >= 1
    finished = [r["fitness"] for r in rows if r["race"] in (Race.SURVIVED, Race.ELIMINATED)]
    halted_fitness = [r["fitness"] for r in rows if r["race"] == Race.STOPPED]
    assert all(STOPPED_FITNESS < f < PENALTY for f in halted_fitness)
    assert max(finished, default=0) < STOPPED_FITNESS
