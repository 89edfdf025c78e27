"""Statistics for replays: summaries, Mann-Whitney U, bootstrap CIs and the plain-words finding."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lossevo.report.stats import (
    bootstrap_mean_diff,
    comparison_rows,
    finding,
    mann_whitney,
    summarize,
)


def test_summarize_drops_non_finite_and_counts():
    s = summarize([3.0, 1.0, None, math.nan, 2.0, math.inf])
    assert (s["n"], s["best"], s["worst"], s["mean"], s["median"]) == (3, 1.0, 3.0, 2.0, 2.0)
    assert s["std"] == pytest.approx(1.0)  # sample std (ddof=1) of 1, 2, 3


def test_summarize_degenerate():
    assert summarize([5.0])["std"] == 0.0
    assert summarize([])["mean"] is None and summarize([None])["n"] == 0


def test_mann_whitney_matches_hand_computed_exact_cases():
    # a entirely below b: U_a = 0; of the C(6,3) = 20 equally likely rankings one is this
    # extreme on each side, so the two-sided exact p is 2/20.
    r = mann_whitney([1, 2, 3], [4, 5, 6])
    assert r["u"] == 0 and r["p"] == pytest.approx(0.1) and r["method"] == "exact"
    # a = {1, 3}, b = {2, 4}: one pair with a > b, so U_a = 1; over the 6 rankings U takes
    # 0, 1, 2, 2, 3, 4, so P(U <= 1) = 2/6 and the two-sided p is 4/6.
    r = mann_whitney([1, 3], [2, 4])
    assert r["u"] == 1 and r["p"] == pytest.approx(2 / 3)


def test_mann_whitney_degenerate_inputs_give_clear_results():
    equal = mann_whitney([2.0, 2.0, 2.0], [2.0, 2.0])
    assert equal["p"] == 1.0 and "equal" in equal["note"]
    single = mann_whitney([1.0], [2.0])
    assert single["p"] == pytest.approx(1.0) and single["note"]
    empty = mann_whitney([], [1.0, 2.0])
    assert empty["p"] is None and empty["u"] is None and "empty" in empty["note"]
    ties = mann_whitney([1, 1, 2, 3], [1, 2, 2, 5])
    assert ties["method"] == "asymptotic" and 0 < ties["p"] <= 1


def test_bootstrap_ci_covers_true_difference_at_about_nominal_rate():
    rng = np.random.default_rng(1)
    repeats, covered, true_diff = 200, 0, 1.0
    for i in range(repeats):
        a = rng.normal(true_diff, 1.0, 30)
        b = rng.normal(0.0, 2.0, 30)
        ci = bootstrap_mean_diff(a, b, n_resamples=2000, seed=i)
        assert ci["low"] <= ci["diff"] <= ci["high"]
        covered += ci["low"] <= true_diff <= ci["high"]
    # nominal 0.95; the percentile bootstrap runs slightly low at n = 30 (about 0.93).
    # With 200 repeats the binomial standard error is ~0.016.
    assert 0.88 <= covered / repeats <= 0.99


def test_bootstrap_is_seeded_and_uses_10000_resamples_by_default():
    a, b = [1.0, 2.0, 4.0, 3.0], [0.5, 1.5, 1.0]
    first, second = bootstrap_mean_diff(a, b), bootstrap_mean_diff(a, b)
    assert first == second and first["n_resamples"] == 10_000
    assert first["diff"] == pytest.approx(np.mean(a) - np.mean(b))


def test_bootstrap_degenerate_inputs():
    one = bootstrap_mean_diff([5.0], [3.0])
    assert one["low"] == one["high"] == one["diff"] == 2.0 and "one run" in one["note"]
    constant = bootstrap_mean_diff([2.0, 2.0], [2.0, 2.0, 2.0])
    assert constant["low"] == constant["high"] == 0.0
    empty = bootstrap_mean_diff([], [1.0])
    assert empty["diff"] is None and empty["low"] is None and "empty" in empty["note"]
    with pytest.raises(ValueError):
        bootstrap_mean_diff([1.0], [2.0], confidence=1.5)


def test_comparison_rows_count_unscored_runs_and_test_against_baseline():
    rows = comparison_rows(
        {"bce": [10.0, 12.0, 11.0], "ganetic": [5.0, None, 6.0]}, "bce", n_resamples=500
    )
    assert rows["bce"]["p"] is None and rows["bce"]["runs"] == 3
    g = rows["ganetic"]
    assert (g["runs"], g["n"]) == (3, 2)
    assert g["diff"] == pytest.approx(5.5 - 11.0) and g["high"] < 0


def test_finding_states_numbers_and_direction():
    values = {
        "bce": [10.0, 20.0, 30.0, 15.0, 25.0],
        "ganetic": [9.0, 10.0, 11.0, 10.5, 9.5],
        "hinge": [12.0, 40.0, None, 18.0, 22.0],
    }
    rows = comparison_rows(values, "bce", n_resamples=1000)
    text = " ".join(finding(rows, "bce", "ganetic"))
    assert (
        f"std across runs is {rows['ganetic']['std']:.4g} vs bce's "
        f"{rows['bce']['std']:.4g} (lower)" in text
    )
    assert "its mean is 10 vs 20 (lower" in text
    assert "holds here" in text and "hinge 1/5" in text
    # the other way round: the focus loss worse and more spread
    rows = comparison_rows(
        {"bce": [1.0, 1.1, 0.9], "ganetic": [3.0, 9.0, 5.0]}, "bce", n_resamples=500
    )
    text = " ".join(finding(rows, "bce", "ganetic"))
    assert "(higher); its mean is 5.667 vs 1 (higher" in text and "does not hold" in text
    assert "little power" in text


def test_finding_without_finished_runs_does_not_crash():
    rows = comparison_rows({"bce": [None], "ganetic": [None, None]}, "bce")
    text = " ".join(finding(rows, "bce", "ganetic"))
    assert "cannot be compared" in text and "ganetic 2/2" in text
