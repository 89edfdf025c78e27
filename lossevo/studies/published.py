"""Published results a replay can be set beside: the table, the loss the claim is about.

A protocol names one with ``published: <name>``; only then does its report focus the finding
on that loss and print the published table and formula. A protocol without the key gets a
report about its own losses only, whatever they are.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Published:
    """One published comparison: where it is from, the loss it is about, its table."""

    focus: str  # the loss the published claim is about (a built-in reference loss)
    columns: tuple[str, ...]
    table: dict[str, tuple[float, ...]]
    source: str
    caveat: str


PUBLISHED = {
    "ganetic": Published(
        focus="ganetic",
        columns=("best", "worst", "mean", "std"),
        table={  # the GANetic repository's CIFAR10 table (64-sample FID; see GANETIC.md)
            "adversarial": (9.45, 72.58, 18.52, 16.12),
            "bce": (2.06, 45.30, 8.34, 8.92),
            "hinge": (7.11, 62.47, 12.41, 10.59),
            "wasserstein": (3.04, 31.74, 12.93, 4.85),
            "least_squares": (4.60, 80.87, 17.52, 15.81),
            "ganetic": (1.52, 2.76, 2.20, 0.39),
        },
        source="The GANetic repository reports CIFAR10 FID over 25 runs",
        caveat="Those values come from 64 generated against 64 real images with mis-scaled "
        "Inception inputs, so only the relative pattern is comparable, never the values.",
    )
}
