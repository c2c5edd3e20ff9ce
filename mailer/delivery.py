"""The send loop: every message the ledger holds as due goes out, and each outcome is stored."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from mailer.ledger import Ledger
from mailer.message import FAILED, SENT, OutgoingMessage, SendResult
from mailer.redact import mask
from mailer.transports import Transport

log = logging.getLogger("mailer.delivery")
BATCH = 500
BOUNCED = "not sent: this address bounced before (`mailer retry` sends it anyway)"


def deliver(
    ledger: Ledger,
    transport: Transport,
    now: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> Counter:
    """Send what is due in batches; returns how many ended sent, retry or failed.

    Each outcome is stored the moment the transport reports it, so a crash
    repeats at most the one message in flight. Addresses that bounced hard
    are not written to again, whichever job decided the message.
    """
    outcome: Counter = Counter()
    total = ledger.count_due()
    if not total:
        return outcome
    with transport:
        for batch in ledger.due(getattr(transport, "batch_size", BATCH)):
            by_key = {m.key: m for m in batch}
            for result in _send(ledger, transport, batch):
                ledger.mark(result, now)
                outcome[result.state] += 1
                if result.state != SENT:
                    message = by_key[result.key]
                    log.warning(
                        "%s to %s %s: %s",
                        message.kind,
                        mask(message.to_email),
                        "failed" if result.state == FAILED else "will be retried",
                        result.reason,
                    )
                if progress:
                    progress(sum(outcome.values()), total)
    return outcome


def _send(
    ledger: Ledger, transport: Transport, batch: Sequence[OutgoingMessage]
) -> Iterator[SendResult]:
    bounced = ledger.bounced_among(m.to_email for m in batch)
    for message in batch:
        if message.to_email.casefold() in bounced:
            yield SendResult(message.key, FAILED, reason=BOUNCED)
    sendable = [m for m in batch if m.to_email.casefold() not in bounced]
    if sendable:
        yield from transport.send(sendable)
