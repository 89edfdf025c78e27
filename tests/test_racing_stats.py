"""Racing statistics on log fitness: ratio to a control, elimination tests, seeds needed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lossevo.search.racing_stats import (
    eliminate,
    log_ratios,
    paired_t_p,
    power_seeds,
    ratio_to_control,
    sign_flip_p,
    welch_p,
)

SEEDS = range(8)


def noisy(level: float, sd: float, seed: int, n: int = 8) -> dict[int, float]:
    """``n`` seeds of a fitness around ``level`` with log-normal noise of sd ``sd``."""
    rng = np.random.default_rng(seed)
    return {s: float(level * math.exp(sd * rng.standard_normal())) for s in range(n)}


def test_ratio_is_the_geometric_mean_over_shared_seeds():
    values = {0: 10.0, 1: 40.0, 2: 99.0, 7: 5.0}
    control = {0: 20.0, 1: 20.0, 3: 1.0, 7: None}
    # shared finite seeds 0 and 1: ratios 0.5 and 2 -> geometric mean 1
    assert ratio_to_control(values, control) == pytest.approx(1.0)
    assert ratio_to_control({0: 9.0, 1: 8.0}, {0: 10.0, 1: 10.0}) == pytest.approx(
        math.sqrt(0.9 * 0.8)
    )
    assert log_ratios(values, control) == pytest.approx({0: math.log(0.5), 1: math.log(2)})


def test_ratio_refuses_no_shared_seed_and_non_positive_fitness():
    with pytest.raises(ValueError, match="no seed"):
        ratio_to_control({0: 1.0}, {1: 1.0})
    with pytest.raises(ValueError, match="positive"):
        ratio_to_control({0: 0.0}, {0: 1.0})


def test_paired_t_matches_a_hand_computation():
    logs = [0.1, 0.3, 0.2]  # mean 0.2, sd 0.1, se 0.1/sqrt(3), t = 2*sqrt(3) = 3.464 on 2 df
    # Student t with 2 df: P(T > t) = 1/2 - t / (2 sqrt(t^2 + 2))
    t = 2 * math.sqrt(3)
    assert paired_t_p(logs) == pytest.approx(0.5 - t / (2 * math.sqrt(t * t + 2)))


def test_welch_matches_a_hand_computation():
    a, b = [1.0, 2.0, 3.0], [0.0, 0.5, 1.0, 1.5, 2.0]
    va, vb = 1.0 / 3, 0.625 / 5
    t = (2.0 - 1.0) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 4)
    from scipy.stats import t as student_t

    assert welch_p(a, b) == pytest.approx(student_t.sf(t, df))
    assert welch_p(b, a) == pytest.approx(1 - student_t.sf(t, df))


@pytest.mark.parametrize("paired", [True, False])
def test_a_clearly_worse_candidate_is_eliminated_and_an_equal_one_is_not(paired):
    incumbent = noisy(20.0, 0.05, seed=1)
    worse = {s: v * 1.3 * math.exp(0.02 * (-1) ** s) for s, v in incumbent.items()}
    if not paired:
        worse = noisy(26.0, 0.05, seed=2)
    assert eliminate(worse, incumbent, alpha=0.05, paired=paired)
    # one-sided: a better candidate is never "worse with confidence"
    assert not eliminate(incumbent, worse, alpha=0.05, paired=paired)
    assert not eliminate(dict(incumbent), incumbent, alpha=0.05, paired=paired)
    same_level = noisy(20.0, 0.05, seed=3)
    assert not eliminate(same_level, incumbent, alpha=0.001, paired=paired)


@pytest.mark.parametrize("paired", [True, False])
def test_no_elimination_on_fewer_than_two_seeds(paired):
    assert not eliminate({0: 100.0}, {0: 1.0, 1: 1.0}, alpha=0.5, paired=paired)
    assert not eliminate({0: 100.0, 1: 100.0}, {0: 1.0}, alpha=0.5, paired=paired)
    # paired needs two *shared* seeds
    assert eliminate({0: 100.0, 1: 101.0}, {2: 1.0, 3: 1.1}, alpha=0.05, paired=False)
    assert not eliminate({0: 100.0, 1: 101.0}, {2: 1.0, 3: 1.1}, alpha=0.05, paired=True)
    # diverged seeds (None) are not seeds
    assert not eliminate({0: 100.0, 1: None}, {0: 1.0, 1: 1.0}, alpha=0.5, paired=paired)


def test_pairing_helps_when_seeds_share_their_luck():
    # Seed luck dominates (factor up to 3 between seeds), the candidate is 10% worse on each.
    rng = np.random.default_rng(0)
    luck = {s: float(math.exp(0.5 * rng.standard_normal())) for s in range(6)}
    incumbent = {s: 20.0 * luck[s] for s in luck}
    candidate = {s: 22.0 * luck[s] * math.exp(0.01 * rng.standard_normal()) for s in luck}
    assert eliminate(candidate, incumbent, alpha=0.05, paired=True)
    assert not eliminate(candidate, incumbent, alpha=0.05, paired=False)


def test_sign_flip_is_exact_on_small_samples():
    # all 4 negative: only the observed pattern is as extreme -> 1/16
    assert sign_flip_p([-1.0, -2.0, -3.0, -4.0]) == pytest.approx(1 / 16)
    # no effect at all: every pattern ties with the observed one
    assert sign_flip_p([0.0, 0.0]) == 1.0
    # the four sums of +-1 +-2 are -3, -1, 1, 3; observed 1 - 2 = -1 -> 2 of 4 at most -1
    assert sign_flip_p([1.0, -2.0]) == pytest.approx(0.5)
    assert sign_flip_p([]) is None


def test_sign_flip_monte_carlo_is_seeded_and_close_to_exact():
    logs = list(np.random.default_rng(4).normal(-0.05, 0.1, size=14))
    exact = sign_flip_p(logs)
    random = sign_flip_p(logs, exact_up_to=10, n_random=20_000, seed=1)
    assert random == sign_flip_p(logs, exact_up_to=10, n_random=20_000, seed=1)
    assert random == pytest.approx(exact, abs=0.01)
    # never exactly 0 under Monte Carlo
    assert sign_flip_p([-1.0] * 30, n_random=100) == pytest.approx(1 / 101)


def test_power_seeds_matches_a_hand_computation():
    # z_0.975 + z_0.8 = 1.959964 + 0.841621; delta = log(1/0.9) = 0.1053605
    z, delta = 1.959964 + 0.841621, 0.1053605
    assert power_seeds(0.2) == math.ceil(2 * (z * 0.2 / delta) ** 2) == 57
    assert power_seeds(0.2, paired=True) == math.ceil((z * 0.2 / delta) ** 2) == 29
    assert power_seeds(0.1, effect=0.2, alpha=0.01, power=0.9) == math.ceil(
        2 * ((2.575829 + 1.281552) * 0.1 / math.log(1 / 0.8)) ** 2
    )


def test_power_seeds_grows_with_noise_and_shrinks_with_the_effect():
    by_sd = [power_seeds(sd) for sd in (0.05, 0.1, 0.2, 0.4)]
    assert by_sd == sorted(by_sd) and by_sd[0] < by_sd[-1]
    by_effect = [power_seeds(0.2, effect=e) for e in (0.05, 0.1, 0.2, 0.4)]
    assert by_effect == sorted(by_effect, reverse=True) and by_effect[0] > by_effect[-1]
    assert power_seeds(0.001) == 2  # never fewer than two seeds
    with pytest.raises(ValueError):
        power_seeds(0.0)
    with pytest.raises(ValueError):
        power_seeds(0.2, effect=1.0)
