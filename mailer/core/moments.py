"""The moment a command runs as of (`--now`): which moments mailer can reckon with, and how
far one may be from the clock before a run needs `--force`.

Pure: the command line reads the clock, at the edge, and hands it in.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

YEARS = range(1970, 2200)  # beyond these a date is a typo, and date arithmetic would overflow
FAR = timedelta(days=1)  # a run further than this from the clock sends only when forced


def parse_moment(text: str, zone: ZoneInfo) -> datetime:
    """An ISO date-time; without an offset, a wall-clock time in `zone`. ValueError says why not."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO date-time such as 2026-12-01T09:00") from None
    if moment.year not in YEARS:
        raise ValueError(
            f"{text!r} is outside the years mailer reckons with ({YEARS.start} to {YEARS.stop - 1})"
        )
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def far_from_clock(moment: datetime, clock: datetime) -> timedelta | None:
    """How far `moment` is from the clock, when that is more than FAR; else None."""
    gap = abs(moment - clock)
    return gap if gap > FAR else None


def describe_gap(gap: timedelta) -> str:
    """'30 hours', '8 days', '126 years': a distance in time as people say it, rounded down."""
    if gap >= timedelta(days=730):
        return f"{gap.days // 365} years"
    if gap >= timedelta(days=2):
        return f"{gap.days} days"
    return f"{int(gap.total_seconds() // 3600)} hours"
