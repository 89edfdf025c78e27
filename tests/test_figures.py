"""Report figures: each writes a PNG of the expected size, whatever holes the data has."""

from __future__ import annotations

import numpy as np
from PIL import Image

from lossevo.report.figures import interval_panels


def test_interval_panels_draws_one_panel_per_setting(tmp_path):
    row = {"values": [0.9, 0.92, float("nan"), None], "mean": 0.91, "low": 0.9, "high": 0.92}
    empty = {"values": [], "mean": None, "low": None, "high": None}
    panels = {"digit 0": {"bce": row, "a very long formula name indeed": empty},
              "digit 1": {"bce": row}, "digit 2": {"bce": row}}  # fmt: skip
    path = interval_panels(
        panels, tmp_path / "fig.png", ylabel="AUROC", references={"digit 1": {"AnoGAN": 0.99}}
    )
    image = np.asarray(Image.open(path))
    assert image.shape[1] == round(4.2 * 3 * 120)  # one 4.2-inch panel per setting, 120 dpi
    assert image.shape[0] == round(4.4 * 120)
    assert np.unique(image).size > 10  # drawn on, not blank
