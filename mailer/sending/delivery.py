"""The send loop: every message the ledger holds as due goes out, at most once, within limits.

Each message is committed as `sending` before the transport gets it, and its
outcome is stored in the transaction that claims the next request (or as the
loop stops), so a message costs one commit, not two: a run killed in between
leaves the message `sending`, which becomes `unknown`, as a kill during the
transport call does. A message whose
outcome never came back (a timeout after the request, a killed run) is
`unknown` and is not sent again blindly. A "not now" reply (a quota, a rate
limit) pauses sending and leaves the rest queued; the site's own daily and
per-minute limits keep mailer under the provider's quota in the first place.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby
from typing import TYPE_CHECKING

from mailer.core.errors import TransportError
from mailer.core.redact import redact, secrets_in
from mailer.ledger import Ledger
from mailer.ledger.records import BOUNCE, SKIPPED
from mailer.mail.states import FAILED, PAUSE, RETRY, SENT, UNKNOWN
from mailer.sending.pacing import DAY, Pacer, pause_in_force, pause_until
from mailer.sending.transports import Transport

if TYPE_CHECKING:  # the message model loads when something is sent, not when nothing is due
    from mailer.mail.message import OutgoingMessage, SendResult

log = logging.getLogger("mailer.delivery")
BATCH = 50  # messages filled from the ledger at once: each holds its own html and text
BOUNCED = "not sent: this address bounced before (`mailer retry` sends it anyway)"
UNSUBSCRIBED = "not sent: the reader left the digest ({reason}) before it went"
# Time-critical mail whose fate is unknown goes out again after this long unless the
# provider's webhook settled it meanwhile: a rare duplicate beats a missing join link.
UNKNOWN_GRACE = timedelta(hours=1)
WAITING = "waiting"


@dataclass
class Run:
    """What one deliver() call needs as it goes."""

    ledger: Ledger
    transport: Transport
    now: datetime
    secrets: list[str]
    pacer: Pacer
    allowance: int | None
    outcome: Counter[str] = field(default_factory=Counter)
    stopped: bool = False
    settled: list[SendResult] = field(default_factory=list)  # outcomes not stored yet

    def store_settled(self) -> None:
        """Outcomes the transport reported, stored (in the caller's transaction, if any)."""
        if self.settled:
            self.ledger.mark_all(self.settled, self.now)
            self.settled = []

    def take_allowance(self) -> None:
        self.pacer.sent(1)
        if self.allowance is not None:
            self.allowance -= 1


def deliver(
    ledger: Ledger,
    transport: Transport,
    now: datetime,
    progress: Callable[[int, int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Counter[str]:
    """Send what is due; returns how many ended sent, retry, failed, unknown, or still waiting.

    On SQLite the caller holds the run lock; on a shared ledger other processes
    may send beside it, each message going to whichever claims it first.
    `sleep` and `clock` pace a per-minute limit.
    """
    limits = transport.limits
    settle_previous_run(ledger, now)
    run = Run(ledger, transport, now, secrets_in(), Pacer(limits, ledger, now, clock, sleep), None)
    total = ledger.count_due()
    paused = pause_in_force(ledger, transport.name, now)
    if total and paused:
        log.warning("sending paused until %s: %s", paused[0].isoformat(), paused[1])
        run.outcome[WAITING] = total
        return run.outcome
    if total:  # the daily count reads every message sent that day: only when any is due
        run.allowance = limits.allowance(ledger, now)
        if run.allowance is not None:
            total = min(total, run.allowance)
    if total:
        try:
            _send_all(run, progress, total)
        except TransportError:
            ledger.release_claims()
            raise
        ledger.release_claims()
    waiting = ledger.count_due() - run.outcome[RETRY]
    if waiting > 0:
        run.outcome[WAITING] = waiting
    return run.outcome


def settle_previous_run(ledger: Ledger, now: datetime) -> None:
    """Messages a killed run left mid-send become unknown; old time-critical unknowns go again.

    Once only, so a provider that never answers in time gets at most two copies;
    and not about a session that has started: nothing is sent about those.
    """
    if ledger.interrupted():
        log.warning("the last run stopped mid-send: see `mailer status` for unknown messages")
    started = [e.event.id for e in ledger.stored_events().values() if e.event.starts_at <= now]
    ledger.requeue_unknown(
        tried_before=now - UNKNOWN_GRACE, bulk=False, except_events=started, tried_once=True
    )


def _send_all(run: Run, progress: Callable[[int, int], None] | None, total: int) -> None:
    size = run.pacer.largest(run.transport.batch_size)
    # A transport that may repeat a message harmlessly marks none as sending: one
    # request per shared body and attachments would only cut its batches short.
    by_request = not _idempotent(run.transport)
    try:
        with run.transport, run.ledger.one_connection():
            for page in run.ledger.due(max(size, BATCH)):
                going_on = _send_page(run, page, size, by_request, progress, total)
                # Its messages (each holding its filled html) go before the next page is filled.
                page.clear()
                if not going_on:
                    return
    finally:
        run.store_settled()


def _send_page(
    run: Run,
    page: list[OutgoingMessage],
    size: int,
    by_request: bool,
    progress: Callable[[int, int], None] | None,
    total: int,
) -> bool:
    """Each request of one page of the queue; False once sending should stop."""
    for chunk in requests(page, size, by_request):
        if run.allowance is not None:
            chunk = chunk[: max(run.allowance, 0)]
        if not chunk:
            return False
        _send_chunk(run, chunk)
        if progress:
            progress(min(sum(run.outcome.values()), total), total)
        if run.stopped:
            return False
    return True


def _send_chunk(run: Run, chunk: Sequence[OutgoingMessage]) -> None:
    """Store what the last request did, look up suppressions and commit `sending` at once,
    hand the rest to the transport, keep each result for the next commit."""
    from mailer.mail.message import SendResult

    if run.pacer.take(len(chunk), before_waiting=True):
        run.store_settled()  # nothing reported waits in memory while the pacer sleeps
        run.pacer.take(len(chunk))
    mark_sending = run.ledger.shared or not _idempotent(run.transport)
    with run.ledger.transaction():
        run.store_settled()
        held, mine = run.ledger.claim(chunk, run.now, mark_sending=mark_sending)
        for key, reason in held.items():
            state, why = (FAILED, BOUNCED) if reason == BOUNCE else (SKIPPED, UNSUBSCRIBED)
            run.settled.append(SendResult(key, state, reason=why.format(reason=reason)))
            run.outcome[state] += 1
        run.store_settled()
    by_key = {m.key: m for m in mine}
    if not by_key:
        return
    try:
        for result in run.transport.send(list(by_key.values())):
            if result.state == PAUSE:
                _pause(run, result)
                break
            _store(run, result, by_key[result.key])
    except TransportError:
        # A refused key or an unreachable server: nothing of this chunk left.
        run.store_settled()
        run.ledger.requeue_untried(by_key)
        raise
    if run.stopped:
        run.ledger.requeue_untried(by_key)


def _idempotent(transport: Transport) -> bool:
    """A transport that can repeat a message harmlessly (the outbox rewrites the same file)."""
    return transport.idempotent


def _store(run: Run, result: SendResult, message: OutgoingMessage) -> None:
    if result.reason:
        from mailer.mail.message import SendResult

        result = SendResult(
            result.key,
            result.state,
            result.provider_id,
            # The ledger keeps addresses (it is private); secrets never reach it.
            redact(result.reason, run.secrets, addresses=True),
            result.bounced,
        )
    run.settled.append(result)
    run.outcome[result.state] += 1
    if result.state in (SENT, UNKNOWN):
        run.take_allowance()
    if result.state != SENT:
        log.warning(
            "%s to %s %s: %s",
            message.kind,
            redact(message.to_email),
            _what_happens(result.state),
            redact(result.reason, run.secrets),
        )


def _what_happens(state: str) -> str:
    return {
        FAILED: "failed",
        RETRY: "will be retried",
        UNKNOWN: "may or may not have been delivered (not sent again: see `mailer status`)",
    }.get(state, state)


def _pause(run: Run, result: SendResult) -> None:
    run.store_settled()  # what went before the pause counts against the quota
    first = run.ledger.counted_since(run.now - DAY)[1]
    until = pause_until(result, run.now, first)
    reason = redact(result.reason, run.secrets, addresses=True)
    run.ledger.pause(run.transport.name, until, reason)
    run.stopped = True
    log.warning("the provider said not now (%s): sending paused until %s", redact(reason), until)


def requests(
    page: Sequence[OutgoingMessage], size: int, by_request: bool = True
) -> Iterator[list[OutgoingMessage]]:
    """The page cut into what one send() takes: one shared body, at most `size` messages.

    A transport sends one body (with the same attachments: an invitation names
    its own recipient) per request, so a kill mid-request leaves only that
    request's messages unknown. Without `by_request`, only `size` cuts the page.
    """
    if not by_request:
        for start in range(0, len(page), size):
            yield list(page[start : start + size])
        return
    for _, shared in groupby(page, key=lambda m: (m.body_id, m.attachments)):
        group = list(shared)
        for start in range(0, len(group), size):
            yield group[start : start + size]
