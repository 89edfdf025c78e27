"""The replay report is about the protocol's losses: the published table, the GANetic formula
and the published-pattern check appear only where the protocol names them (``published``)."""

from __future__ import annotations

import csv
import math

import pytest

from lossevo.loss.reference import reference_loss
from lossevo.loss.screen import fingerprint
from lossevo.runs.store import RunStore
from lossevo.search.racing_stats import power_seeds
from lossevo.studies.protocol import ProtocolError, protocol_from_dict
from lossevo.studies.replay_claims import (
    quality_claim,
    quality_seeds,
    sd_ratio_ci,
    stability_seeds,
)
from lossevo.studies.replay_report import write_report

TASK = {"dataset": "mnist-offline", "width": 8, "n_samples": 20, "device": "cpu"}


def stored_replay(path, losses: list[str], published: str | None):
    """A replay store written by hand (two runs per loss, no training), as run_replay leaves it."""
    data = {"name": "own", "losses": losses, "runs": 2, "steps": 10, "task_config": TASK}
    if published:
        data["published"] = published
    protocol = protocol_from_dict({**data, "baseline": losses[0]})
    config = {"kind": "replay", "name": "own", "digest": protocol.digest(), "steps": 10}
    store = RunStore.create(path, {**config, "protocol": protocol.to_dict()}, kind="replay")
    for i, name in enumerate(losses):
        fp = fingerprint(reference_loss(name))
        store.put_candidate(reference_loss(name), key=name, role="replay-loss", fingerprint=fp)
        for seed in range(2):
            result = {"status": "ok", "fitness": 10.0 + i + seed}
            store.put_evaluation(fp, name, seed, 10, result, stage="replay")
    return store


def test_a_protocol_without_published_gets_a_report_about_its_losses_only(tmp_path):
    with stored_replay(tmp_path / "r", ["bce", "hinge", "wasserstein"], None) as store:
        report = write_report(store).read_text()
    assert "## Results" in report and "| hinge | 2/2 |" in report
    for absent in ("published", "GANetic", "ganetic", "3.985", "CIFAR10"):
        assert absent not in report, absent
    with open(tmp_path / "r" / "table.csv") as f:
        assert [r["loss"] for r in csv.DictReader(f)] == ["bce", "hinge", "wasserstein"]


def test_published_ganetic_sets_the_report_beside_the_published_table(tmp_path):
    with stored_replay(tmp_path / "r", ["bce", "ganetic"], "ganetic") as store:
        report = write_report(store).read_text()
    assert "## The published table, for orientation only" in report
    assert "The published ganetic formula: `y_pred**3 + sqrt(3.985" in report
    assert "The published pattern (ganetic lowest in both mean and spread)" in report


@pytest.mark.parametrize(
    ("published", "losses", "match"),
    [
        ("pix2pix", ["bce", "ganetic"], "published must be one of ganetic, got 'pix2pix'"),
        ("ganetic", ["bce", "hinge"], "published ganetic is about 'ganetic'; add it to the losses"),
    ],
)
def test_bad_published_is_refused_in_one_line(published, losses, match):
    data = {"name": "x", "losses": losses, "runs": 1, "steps": 1, "task_config": {}}
    with pytest.raises(ProtocolError, match=match):
        protocol_from_dict({**data, "published": published})


# ------------------------------------------------ paired quality, stability and the claims
def paired_replay(path, fitness) -> RunStore:
    """bce and ganetic on 12 seeds, ``fitness(name, seed)`` each, classes covered 10."""
    data = {"name": "own", "losses": ["bce", "ganetic"], "runs": 12, "steps": 10}
    protocol = protocol_from_dict({**data, "task_config": TASK, "published": "ganetic"})
    config = {"kind": "replay", "name": "own", "digest": protocol.digest(), "steps": 10}
    store = RunStore.create(path, {**config, "protocol": protocol.to_dict()}, kind="replay")
    for name in ("bce", "ganetic"):
        fp = fingerprint(reference_loss(name))
        store.put_candidate(reference_loss(name), key=name, role="replay-loss", fingerprint=fp)
        for seed in range(12):
            result = {"status": "ok", "fitness": fitness(name, seed)}
            result["metrics"] = {"domain_fid": result["fitness"], "classes_covered": 10}
            store.put_evaluation(fp, name, seed, 10, result, stage="replay")
    return store


#: Per-seed noise, sd about 0.27 in log space and mean 0, the same for every loss (seeds paired).
NOISE = [0.31, -0.22, 0.05, 0.41, -0.35, 0.12, -0.08, 0.27, -0.41, 0.18, -0.15, -0.13]


def claims_of(tmp_path, fitness) -> str:
    with paired_replay(tmp_path / "r", fitness) as store:
        report = write_report(store).read_text()
    return report.split("## The published claims about ganetic", 1)[1]


def test_a_clearly_better_and_steadier_loss_confirms_both_claims(tmp_path):
    def fitness(name, seed):
        spread = 1.0 if name == "bce" else 0.3  # ganetic: a third of the spread, 0.7 x bce
        return 60.0 * (1.0 if name == "bce" else 0.7) * math.exp(spread * NOISE[seed])

    text = claims_of(tmp_path, fitness)
    assert "Quality: confirmed. ganetic is 0.70 x BCE" in text and "12 paired seeds" in text
    assert "Stability: confirmed." in text and "0.30 x BCE's" in text, text


def test_a_worse_and_wilder_loss_refutes_both_claims(tmp_path):
    def fitness(name, seed):
        spread = 1.0 if name == "bce" else 3.0
        return 60.0 * (1.0 if name == "bce" else 1.5) * math.exp(spread * NOISE[seed])

    text = claims_of(tmp_path, fitness)
    assert "Quality: refuted. ganetic is worse: 1.50 x BCE" in text, text
    assert "Stability: refuted. ganetic is less stable" in text, text


def test_an_unclear_difference_says_how_many_seeds_would_settle_it(tmp_path):
    def fitness(name, seed):  # 0.95 x bce, a spread 1.25 x bce's: neither decidable on 12
        if name == "bce":
            return 60.0 * math.exp(NOISE[seed])
        return 57.0 * math.exp(0.8 * NOISE[seed] + 0.6 * NOISE[(seed * 5) % 12])  # own noise too

    text = claims_of(tmp_path, fitness)
    quality = next(line for line in text.splitlines() if "Quality:" in line)
    assert "Quality: undetermined." in quality and "paired seeds would settle" in quality
    assert "Stability: undetermined." in text and "seeds per loss would tell" in text, text


def test_one_paired_seed_does_not_claim_the_ratio_is_1():
    rows = {"bce": {}, "ganetic": {"ratio": 1.32, "ratio_low": 1.32, "ratio_high": 1.32,
            "paired_seeds": 1, "p_better": 1.0, "p_worse": 1.0, "sd_log_ratio": None}}  # fmt: skip
    claim = quality_claim(rows, "ganetic", "bce")
    assert claim.startswith("Quality: undetermined. ganetic is 1.32 x BCE")
    assert "one paired seed" in claim and "ratio is 1" not in claim


def test_seeds_to_settle_follow_the_power_formulas():
    assert quality_seeds(0.9, 0.3) == power_seeds(0.3, effect=0.1, paired=True)
    assert quality_seeds(1 / 0.9, 0.3) == quality_seeds(0.9, 0.3)  # worse by as much: as many
    assert quality_seeds(1.0, 0.3) is None and quality_seeds(0.9, None) is None
    # (1.96 + 0.84)^2 / log(2)^2 = 16.3: 1 + 17 seeds tell a doubled sd from an equal one
    assert stability_seeds(2.0) == stability_seeds(0.5) == 18


def test_the_sd_ratio_ci_pairs_seeds_and_brackets_the_ratio():
    base = {s: 60.0 * math.exp(x) for s, x in enumerate(NOISE)}
    half = {s: 60.0 * math.exp(0.5 * x) for s, x in enumerate(NOISE)}
    ci = sd_ratio_ci(half, base)
    assert ci["n_seeds"] == 12 and ci["ratio"] == pytest.approx(0.5)
    assert ci["low"] == pytest.approx(0.5) and ci["high"] == pytest.approx(0.5)  # paired: exact
    assert sd_ratio_ci({0: 1.0, 1: 2.0}, {0: 1.0, 1: 3.0})["ratio"] is None  # too few seeds
