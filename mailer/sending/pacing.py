"""How much may go now: the site's daily and per-minute limits, and the provider's pauses.

Limits are counted from the ledger over a rolling 24 hours (and minute), so a
run started by cron, the daemon or by hand all see the same allowance.
Messages whose outcome is unknown count too: the provider may have taken them.
Limits is a NamedTuple, cheaper to define than a frozen dataclass: `mailer
status` defines it at each start for its forecast.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from mailer.ledger import Ledger
    from mailer.mail.message import SendResult

DAY = timedelta(hours=24)
MINUTE = timedelta(minutes=1)
# A relay's "too fast" (421 4.7.0, 450 4.7.1) names no moment; try again after this.
THROTTLE_PAUSE = timedelta(minutes=15)
# The longest pause a provider can ask for: after it, the next run asks the provider again.
LONGEST_PAUSE = DAY


class Limits(NamedTuple):
    """`[transport] daily_limit` and `per_minute`; 0 means no limit."""

    daily: int = 0
    per_minute: int = 0

    def allowance(self, ledger: Ledger, now: datetime) -> int | None:
        """How many more may go as of `now`, or None without a daily limit."""
        if not self.daily:
            return None
        count, _ = ledger.counted_since(now - DAY)
        return max(self.daily - count, 0)


NO_LIMITS = Limits()


class Pacer:
    """At most `per_minute` messages in any 60 seconds; waits when a run gets ahead.

    It measures elapsed time with `clock` (pacing is the one thing that must),
    and starts from what the ledger says went out in the minute before `now`.
    """

    def __init__(
        self,
        limits: Limits,
        ledger: Ledger,
        now: datetime,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ):
        self.per_minute = limits.per_minute
        self.clock = clock
        self.sleep = sleep
        self.times: deque[float] = deque()
        if self.per_minute:
            recent = ledger.counted_since(now - MINUTE)[0]
            self.times.extend([clock()] * min(recent, self.per_minute))

    def largest(self, size: int) -> int:
        """The biggest batch that fits in one minute."""
        return min(size, self.per_minute) if self.per_minute else size

    def take(self, count: int, before_waiting: bool = False) -> bool:
        """Wait until `count` more messages fit in the last 60 seconds.

        With `before_waiting`, returns at once whether it would have to wait.
        """
        if not self.per_minute:
            return False
        count = min(count, self.per_minute)
        while True:
            now = self.clock()
            while self.times and now - self.times[0] >= 60:
                self.times.popleft()
            if len(self.times) + count <= self.per_minute:
                return False
            if before_waiting:
                return True
            self.sleep(60 - (now - self.times[0]))

    def sent(self, count: int) -> None:
        if self.per_minute:
            self.times.extend([self.clock()] * count)


def pause_until(result: SendResult, now: datetime, first_in_day: str | None) -> datetime:
    """When to try again after a "not now" reply.

    The provider's own reset when it gave one (SendGrid's X-RateLimit-Reset);
    for a spent daily quota (Gmail's 5.4.5), 24 hours after the first message of
    the rolling day, or a day from now when the ledger holds none; otherwise a
    short throttling pause. Never more than LONGEST_PAUSE from `now`: a reset
    years away (a provider's bug, a hostile header) is asked again tomorrow.
    """
    if result.resume_at is not None:
        until = max(result.resume_at, now)
    elif result.quota:
        start = datetime.fromisoformat(first_in_day) if first_in_day else now
        until = max(start + DAY, now + THROTTLE_PAUSE)
    else:
        until = now + THROTTLE_PAUSE
    return min(until, now + LONGEST_PAUSE)


def pause_in_force(ledger: Ledger, transport: str, now: datetime) -> tuple[datetime, str] | None:
    """(until, why) of the transport's pause as of `now`, while it lasts.

    A pause that ends more than LONGEST_PAUSE after `now` was never asked for in
    those terms (a ledger from before the cap, a run forced to another moment):
    it is not honoured, and the next send asks the provider again.
    """
    pause = ledger.paused(transport)
    if pause is None or not now < pause[0] <= now + LONGEST_PAUSE:
        return None
    return pause


def forecast(
    ledger: Ledger, limits: Limits, transport: str, now: datetime
) -> list[tuple[datetime, int]]:
    """(from when, how many) for the messages waiting to go, as the limits will let them."""
    waiting = sum(count for _, count in ledger.waiting())
    if not waiting:
        return []
    start = now
    paused = pause_in_force(ledger, transport, now)
    if paused:
        start = paused[0]
    if not limits.daily:
        return [(start, waiting)]
    count, first = ledger.counted_since(start - DAY)
    waves = []
    now_free = min(max(limits.daily - count, 0), waiting)
    if now_free:
        waves.append((start, now_free))
        waiting -= now_free
    next_day = max(datetime.fromisoformat(first) + DAY, start) if first else start + DAY
    while waiting:
        batch = min(limits.daily, waiting)
        waves.append((next_day, batch))
        waiting -= batch
        next_day += DAY
    return waves
