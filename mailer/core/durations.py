"""Durations as jobs/*.toml write them: '5 minutes', '24 hours'."""

from __future__ import annotations

import re

DURATION = re.compile(r"^\s*(\d+)\s*(second|minute|hour|day|week)s?\s*$", re.IGNORECASE)
SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}


def seconds(text: str) -> int:
    """'5 minutes' -> 300; raises ValueError on anything else."""
    match = DURATION.match(text)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration such as '5 minutes' or '24 hours'")
    return int(match.group(1)) * SECONDS[match.group(2).lower()]


def minutes(text: str) -> int:
    """'24 hours' -> 1440; raises ValueError on anything else or on less than a minute."""
    total = seconds(text)
    if total % 60:
        raise ValueError(f"{text!r}: use whole minutes, such as '90 minutes'")
    return total // 60
