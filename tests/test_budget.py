"""--budget text: durations and step counts read exactly, everything else refused in one line."""

from __future__ import annotations

import pytest

from lossevo.util.budget import Budget, BudgetError, parse_budget
from lossevo.util.errors import LossevoError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30m", 1800.0),
        ("90s", 90.0),
        ("1.5h", 5400.0),
        ("2h30m", 9000.0),
        ("45min", 2700.0),
        ("1h 30m 15s", 5415.0),
        (" 2 hours ", 7200.0),
        ("0.5s", 0.5),
        ("30D", 30 * 86400.0),  # the largest accepted, case-insensitive
    ],
)
def test_durations(text, seconds):
    budget = parse_budget(text)
    assert budget == Budget(seconds=seconds)
    assert budget.steps is None


@pytest.mark.parametrize(
    ("text", "steps"),
    [("20000steps", 20000), ("20000 steps", 20000), ("20,000 steps", 20000), ("1 step", 1)],
)
def test_steps(text, steps):
    budget = parse_budget(text)
    assert budget == Budget(steps=steps) and budget.seconds is None


@pytest.mark.parametrize(
    ("budget", "said"),
    [
        (Budget(seconds=1800.0), "30 min"),
        (Budget(seconds=9000.0), "2 h 30 min"),
        (Budget(seconds=90.0), "1 min 30 s"),
        (Budget(seconds=45.0), "45 s"),
        (Budget(seconds=0.5), "0.5 s"),
        (Budget(steps=20000), "20,000 steps"),
        (Budget(steps=1), "1 step"),
    ],
)
def test_describe(budget, said):
    assert budget.describe() == said


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("abc", "must be a duration like 30m"),
        ("30", "needs a unit"),
        ("0m", "positive"),
        ("0h0m", "positive"),
        ("-5m", "positive"),
        ("+5m", "without a sign"),
        ("nanm", "finite"),
        ("inf s", "finite"),
        ("31d", "over 30 days"),
        ("721h", "over 30 days"),
        ("2m2h", "largest first"),
        ("1h1h", "largest first"),
        ("0steps", "at least 1 step"),
        ("1.5steps", "whole numbers"),
        ("2000000000 steps", "over 1,000,000,000 steps"),
        ("", "empty"),
        ("5 parsecs", "must be a duration"),
        ("30m garbage", "must be a duration"),
        ("2,00 steps", "must be a duration"),
    ],
)
def test_malformed_budgets_are_refused_in_one_line(text, problem):
    with pytest.raises(BudgetError) as err:
        parse_budget(text)
    message = str(err.value)
    assert isinstance(err.value, LossevoError)
    assert problem in message and "\n" not in message
    assert message.startswith("--budget ") and message.endswith(f"got {text!r}")
    assert "30m, 2h or 90s" in message and "20000steps" in message  # an example, every time


def test_the_message_matches_the_documented_wording():
    with pytest.raises(BudgetError) as err:
        parse_budget("abc")
    assert str(err.value) == (
        "--budget must be a duration like 30m, 2h or 90s, or training steps like 20000steps; "
        "got 'abc'"
    )


def test_long_and_hostile_text_is_shortened_and_escaped():
    with pytest.raises(BudgetError) as err:
        parse_budget("x" * 500 + "\n\x1b[31m")
    message = str(err.value)
    assert "\n" not in message and "\x1b" not in message and len(message) < 200


def test_a_budget_is_exactly_one_of_seconds_and_steps():
    with pytest.raises(ValueError):
        Budget()
    with pytest.raises(ValueError):
        Budget(seconds=1.0, steps=1)
    with pytest.raises(ValueError):
        Budget(seconds=float("nan"))
    with pytest.raises(BudgetError):
        parse_budget(30)  # type: ignore[arg-type]
