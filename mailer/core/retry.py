"""One bounded retry for every HTTP client: exponential backoff with jitter, or the server's wait.

A try raises Retry for what is worth repeating (429, 5xx, the network), with
the wait the server asked for when it said one (Retry-After,
X-RateLimit-Reset). Tries stop after `attempts` or `max_seconds`, whichever
comes first, and the last Retry is raised for the caller to explain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import tenacity

T = TypeVar("T")


class Retry(Exception):
    """A call worth repeating; `wait` is what the server asked for, if it said."""

    def __init__(self, reason: str, wait: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


def with_retries(
    call: Callable[[], T],
    attempts: int,
    max_seconds: float,
    longest_wait: float,
    sleep: Callable[[float], None],
) -> T:
    """`call()` until it returns, raises something other than Retry, or tries run out."""
    import tenacity  # imported at the first call: a run that calls no API needs none

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, Retry) and error.wait is not None:
            return min(max(error.wait, 0.0), longest_wait)
        return float(tenacity.wait_exponential_jitter(initial=1, max=30)(state))

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(Retry),
        wait=wait,
        stop=tenacity.stop_after_attempt(attempts) | tenacity.stop_after_delay(max_seconds),
        sleep=sleep,
        reraise=True,
    )
    return retrying(call)
