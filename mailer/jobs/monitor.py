"""`[monitor] ping_url`: tell an outside check that runs happen (the healthchecks.io convention).

`<url>/start` as a run starts, `<url>` when it went through, `<url>/fail`
when a job failed. A service that expects the ping notices a stopped cron or
a dead daemon, which no log line can report. A ping is one HTTP(S) GET with
a bounded timeout; a ping that fails is logged and never fails the run.
"""

from __future__ import annotations

import logging

log = logging.getLogger("mailer.monitor")
START, SUCCESS, FAIL = "start", "", "fail"


class Pinger:
    def __init__(self, url: str, timeout: float = 10):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def ping(self, signal: str) -> bool:
        """GET `<url>/<signal>` (`<url>` for success); says whether the check answered 2xx."""
        if not self.url:
            return False
        import urllib.error
        import urllib.request  # with http.client and ssl: only for a site that pings a monitor

        target = f"{self.url}/{signal}" if signal else self.url
        request = urllib.request.Request(target, headers={"User-Agent": "mailer"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                status: int = answer.status
                return 200 <= status < 300
        except (urllib.error.URLError, OSError, ValueError) as err:
            # The URL is the check's secret: say what went wrong, not where.
            log.warning("monitor ping %r did not go through: %s", signal or "success", _why(err))
            return False


def _why(err: Exception) -> str:
    import urllib.error

    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code}"
    if isinstance(err, urllib.error.URLError):
        return str(err.reason)
    return type(err).__name__
