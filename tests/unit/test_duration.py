"""One duration grammar for flags, scenario offsets and trace offsets."""

from __future__ import annotations

import pytest

from ccc.api.duration import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("10m", 600),
        ("2h", 7200),
        ("1h30m", 5400),
        ("30m1h", 5400),
        ("14d", 14 * 86400),
        ("1.5h", 5400),
        (" 2H ", 7200),
        ("600", 600),
        ("0", 0),
        (240, 240),
        (1.5, 1.5),
    ],
)
def test_durations_parse_to_seconds(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "bad", ["", "h", "2 h", "-5m", "2w", "1h-", -1, True, None, [1], float("nan")]
)
def test_anything_else_is_refused_with_what_is_accepted(bad: object) -> None:
    with pytest.raises(ValueError, match="a duration such as 90s"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (59.6, "1m"), (5400, "1h30m"), (14 * 86400 + 1, "14d1s")]
)
def test_durations_format_in_their_shortest_form(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == round(seconds)
