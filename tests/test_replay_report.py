"""The replay report is about the protocol's losses: the published table, the GANetic formula
and the published-pattern check appear only where the protocol names them (``published``)."""

from __future__ import annotations

import csv

import pytest

from lossevo.loss.reference import reference_loss
from lossevo.loss.screen import fingerprint
from lossevo.runs.store import RunStore
from lossevo.studies.protocol import ProtocolError, protocol_from_dict
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
