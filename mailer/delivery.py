"""The send loop: every message the ledger holds as due goes out, and each outcome is stored."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from mailer.ledger import Ledger
from mailer.message import FAILED, SENT
from mailer.mime import mask
from mailer.transports import Transport

log = logging.getLogger("mailer.delivery")
BATCH = 500


def deliver(
    ledger: Ledger,
    transport: Transport,
    now: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> Counter:
    """Send what is due in batches; returns how many ended sent, retry or failed."""
    outcome: Counter = Counter()
    total = ledger.count_due()
    if not total:
        return outcome
    transport.open()
    try:
        for batch in ledger.due(BATCH):
            by_key = {m.key: m for m in batch}
            for result in transport.send(batch):
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
    finally:
        transport.close()
    return outcome
