"""Durations as jobs/*.toml write them: '5 minutes', '24 hours'."""

from __future__ import annotations

import re

# At most 12 digits: a count beyond that is no duration anyone means, and stays far from overflow.
DURATION = re.compile(r"^\s*([0-9]{1,12})\s*(second|minute|hour|day|week)s?\s*$", re.IGNORECASE)
MINUTE = 60
DAY = 86400
WEEK = 7 * DAY
SECONDS = {"second": 1, "minute": MINUTE, "hour": 3600, "day": DAY, "week": WEEK}


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
