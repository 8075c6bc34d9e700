"""Durations as people write them in flags and files: ``90s``, ``10m``, ``2h``, ``1h30m``, ``14d``.

One grammar for every place that takes a length of time (``ccc simulate --duration 14d``,
scenario offsets ``at: 2h`` and ``for: 1h``, offsets in trace files), so they all accept and
reject the same strings. A bare number (``600``, ``1.5``) is seconds; YAML and CSV readers pass
numbers through as they are.
"""

from __future__ import annotations

import re

_UNIT_S = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?[dhms])+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")

#: What :func:`parse_duration` accepts, for error messages.
DURATION_HELP = "a duration such as 90s, 10m, 2h, 1h30m or 14d (or a number of seconds)"


def parse_duration(value: object) -> float:
    """Seconds in ``value``.

    Args:
        value: a non-negative number of seconds, or a string of one or more ``<number><unit>``
            parts with units ``d``, ``h``, ``m``, ``s`` (largest first is usual but not
            required: ``1h30m`` = ``90m`` = ``5400``).

    Raises:
        ValueError: anything else (negative, empty, unknown unit, a bool); the message says
            what is accepted.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected {DURATION_HELP}, got {value!r}")
    if isinstance(value, int | float):
        if value < 0 or value != value:  # NaN is not equal to itself
            raise ValueError(f"expected {DURATION_HELP}, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected {DURATION_HELP}, got {value!r}")
    text = value.strip().lower()
    if _NUMBER.fullmatch(text):
        return float(text)
    if not _WHOLE.fullmatch(text):
        raise ValueError(f"expected {DURATION_HELP}, got {value!r}")
    return sum(float(n) * _UNIT_S[unit] for n, unit in _PART.findall(text))


def format_duration(seconds: float) -> str:
    """The shortest ``1d2h3m4s`` form of ``seconds`` (fractions of a second are rounded)."""
    left = round(seconds)
    if left <= 0:
        return "0s"
    out = []
    for unit, size in _UNIT_S.items():
        n, left = divmod(left, int(size))
        if n:
            out.append(f"{n}{unit}")
    return "".join(out)
