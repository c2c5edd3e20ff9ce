"""How a job's `at` names its slot: what the settings check and the digest's slots read."""

from __future__ import annotations

import re

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
AT = re.compile(  # a slot as `at` gives it: "monday 09:00", "day 09:00" or "09:00"
    r"^\s*(?:(monday|tuesday|wednesday|thursday|friday|saturday|sunday|day)\s+)?"
    r"([01]?\d|2[0-3]):([0-5]\d)\s*$",
    re.IGNORECASE,
)
