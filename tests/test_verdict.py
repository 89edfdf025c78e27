"""The fresh-seed verdict: ratio to BCE with a bootstrap CI, sign-flip p, Holm, one sentence."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from lossevo.report.stats import bootstrap_mean_ci, holm
from lossevo.report.verdict import verdict, verdict_text

SEEDS = list(range(100, 108))  # 8 fresh seeds


def seeded(level: float, sd: float, seed: int) -> dict[int, float]:
    rng = np.random.default_rng(seed)
    return {s: float(level * math.exp(sd * rng.standard_normal())) for s in SEEDS}


@pytest.fixture
def bce() -> dict[int, float]:
    return seeded(30.0, 0.3, seed=0)  # seed luck: FID between ~20 and ~45


def scaled(control: dict[int, float], factor: float, sd: float, seed: int) -> dict[int, float]:
    rng = np.random.default_rng(seed)
    return {s: v * factor * math.exp(sd * rng.standard_normal()) for s, v in control.items()}


def test_a_candidate_20_percent_better_beats_bce(bce):
    good = scaled(bce, 0.8, 0.03, seed=1)
    v = verdict({"good": good}, bce)
    row = v["candidates"]["good"]
    assert row["ratio"] == pytest.approx(0.8, abs=0.03)
    assert row["low"] < row["ratio"] < row["high"] < 1
    # every log ratio is negative: exactly one of 2**8 sign patterns is as extreme
    assert row["p"] == pytest.approx(2**-8) and row["p_corrected"] == pytest.approx(2**-8)
    assert row["beats"] and v["winners"] == ["good"] and v["best"] == "good"
    assert v["sentence"].startswith("good beats BCE: 0.")
    assert "corrected p = 0.0039, 8 fresh seeds)." in v["sentence"]


def test_an_identical_candidate_does_not_beat_bce(bce):
    v = verdict({"same": dict(bce)}, bce)
    row = v["candidates"]["same"]
    assert row["ratio"] == pytest.approx(1.0) and row["low"] == row["high"] == pytest.approx(1.0)
    assert row["p"] == 1.0 and not row["beats"] and v["winners"] == []
    assert v["sentence"] == (
        "On 8 fresh seeds no candidate beats BCE: the best, same, is 1.00 x BCE "
        "(95% CI 1.00-1.00, corrected p = 1.00)."
    )


def test_noise_alone_does_not_beat_bce(bce):
    v = verdict({f"noise{i}": scaled(bce, 1.0, 0.1, seed=10 + i) for i in range(5)}, bce)
    assert v["winners"] == []
    assert v["sentence"].startswith("On 8 fresh seeds no candidate beats BCE: the best, noise")
    best = v["candidates"][v["best"]]
    assert best["ratio"] == min(r["ratio"] for r in v["candidates"].values())


def test_the_ratio_is_the_geometric_mean_of_per_seed_ratios():
    control = {1: 10.0, 2: 20.0, 3: 40.0}
    candidate = {1: 5.0, 2: 20.0, 3: 80.0, 4: 1.0}  # seed 4 is not shared
    row = verdict({"c": candidate}, control, n_boot=200)["candidates"]["c"]
    assert row["ratio"] == pytest.approx((0.5 * 1.0 * 2.0) ** (1 / 3))
    assert row["n_seeds"] == 3 and row["seeds"] == [1, 2, 3]


def test_the_bootstrap_ci_contains_the_point_estimate_and_is_reproducible(bce):
    for i in range(10):
        cand = scaled(bce, 0.95, 0.15, seed=20 + i)
        a = verdict({"c": cand}, bce, n_boot=2000, seed=i)["candidates"]["c"]
        b = verdict({"c": cand}, bce, n_boot=2000, seed=i)["candidates"]["c"]
        assert a == b
        assert a["low"] <= a["ratio"] <= a["high"]
    ci = bootstrap_mean_ci([1.0, 2.0, 3.0, 10.0], n_resamples=5000)
    assert ci["low"] < ci["mean"] == 4.0 < ci["high"]
    assert bootstrap_mean_ci([], n_resamples=10)["mean"] is None
    assert bootstrap_mean_ci([2.0], n_resamples=10)["low"] == 2.0


def test_holm_by_hand_and_monotone():
    raw = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005*4, 0.01*3, 0.03*2, 0.04*1 -> 0.02, 0.03, 0.06, max(0.06, 0.04)
    assert holm(raw) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adjusted = holm(raw)
    order = np.argsort(raw)
    assert all(np.diff(np.asarray(adjusted)[order]) >= 0)  # same order as the raw p-values
    assert all(a >= p for a, p in zip(adjusted, raw, strict=True))  # never below the raw p
    assert holm([0.5, 0.9]) == [1.0, 1.0]  # capped at 1
    assert holm([0.01, None]) == [0.02, None]  # an untested comparison still counts
    assert holm([]) == []


def test_more_candidates_make_the_correction_stricter(bce):
    good = scaled(bce, 0.8, 0.03, seed=1)
    alone = verdict({"good": good}, bce)["candidates"]["good"]["p_corrected"]
    noise = {f"n{i}": scaled(bce, 1.0, 0.1, seed=30 + i) for i in range(3)}
    crowded = verdict({"good": good, **noise}, bce)["candidates"]["good"]["p_corrected"]
    assert crowded == pytest.approx(4 * alone)


def test_a_diverged_seed_counts_as_the_worst_outcome(bce):
    cand = dict(bce)
    cand[103] = None  # diverged where BCE trained fine
    row = verdict({"c": cand}, bce)["candidates"]["c"]
    worst = max(bce.values())
    expected = math.exp(math.log(worst / bce[103]) / len(SEEDS))
    assert row["failed_seeds"] == 1 and row["n_seeds"] == 8
    assert row["ratio"] == pytest.approx(expected) and row["ratio"] > 1
    # both failing on a seed is a tie there
    control = dict(bce)
    control[103] = math.nan
    tie = verdict({"c": cand}, control)
    assert tie["candidates"]["c"]["ratio"] == pytest.approx(1.0)
    assert tie["control"]["failed_seeds"] == 1
    # all failed: no comparison possible, said in the sentence
    dead = verdict({"dead": dict.fromkeys(SEEDS)}, dict.fromkeys(SEEDS))
    assert dead["candidates"]["dead"]["ratio"] is None
    assert dead["candidates"]["dead"]["failed_seeds"] == 8
    assert dead["sentence"].startswith("No candidate can be compared with BCE")


def test_collapse_rates_of_candidates_and_the_control(bce):
    collapsed = {
        "bce": {s: s == 100 for s in SEEDS},
        "c": {s: s in (100, 101, 102, 103) for s in SEEDS},
    }
    v = verdict({"c": dict(bce), "d": dict(bce)}, bce, collapsed=collapsed)
    assert v["control"]["collapse_rate"] == pytest.approx(1 / 8)
    assert v["candidates"]["c"]["collapse_rate"] == pytest.approx(0.5)
    assert v["candidates"]["d"]["collapse_rate"] is None  # no flags: unknown, not zero


def test_several_winners_are_named_in_one_sentence(bce):
    v = verdict(
        {
            "a": scaled(bce, 0.8, 0.02, seed=1),
            "b": scaled(bce, 0.7, 0.02, seed=2),
            "c": scaled(bce, 0.85, 0.02, seed=3),
        },
        bce,
    )
    assert v["winners"] == ["b", "a", "c"]
    assert v["sentence"].startswith("b beats BCE: 0.7")
    assert v["sentence"].endswith("8 fresh seeds); so do a, c.")
    assert ". " not in v["sentence"]  # one sentence


def test_above_16_seeds_the_p_value_is_seeded_monte_carlo():
    seeds = range(20)
    control = {s: 30.0 + s for s in seeds}
    cand = {s: v * 0.8 for s, v in control.items()}
    row = verdict({"c": cand}, control, n_perm=999, n_boot=100)["candidates"]["c"]
    assert row["p"] == pytest.approx(1 / 1000)  # (1 + 0 hits) / (1 + 999), never 0
    assert row["beats"] and row["n_seeds"] == 20


def test_the_verdict_is_plain_json_and_its_text_is_a_table(bce):
    v = verdict(
        {"good": scaled(bce, 0.8, 0.03, seed=1), "same": dict(bce)},
        bce,
        collapsed={"bce": dict.fromkeys(SEEDS, False)},
    )
    assert json.loads(json.dumps(v, allow_nan=False)) == v
    text = verdict_text(v)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["loss", "x", "BCE"]
    assert lines[1].split()[0] == "bce" and "0%" in lines[1]
    good = lines[2].split()
    assert good[0] == "good" and float(good[1]) == round(v["candidates"]["good"]["ratio"], 2)
    assert "*" in lines[2] and "*" not in lines[3]  # the winner is marked
    assert len({len(line) for line in lines[:4]}) == 1  # fixed width
    assert lines[-1] == v["sentence"]


def test_hostile_names_are_escaped_in_the_table(bce):
    text = verdict_text(verdict({"x\x1b[2J": dict(bce)}, bce, n_boot=100))
    assert "\x1b" not in text


def test_the_control_cannot_be_a_candidate(bce):
    with pytest.raises(ValueError, match="control"):
        verdict({"bce": bce}, bce)
    with pytest.raises(ValueError, match="0 or more"):  # a 0 is judged (test_hostile_readers)
        verdict({"c": {100: -1.0}}, {100: 1.0})


def test_a_small_consistent_gain_is_not_printed_as_a_tie():
    control = {s: 60.0 + s for s in range(8)}
    result = verdict({"tiny": {s: v * 0.998 for s, v in control.items()}}, control)
    assert result["winners"] == ["tiny"]  # every seed agrees: significant, however small
    assert "tiny beats BCE: 0.998 x BCE (95% CI 0.998-0.998" in result["sentence"]
