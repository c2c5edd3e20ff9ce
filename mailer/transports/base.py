"""The transport contract: open once per batch, send messages, say how each one fared."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from mailer.message import OutgoingMessage, SendResult
from mailer.pacing import Limits


class Transport(Protocol):
    name: str
    batch_size: int
    """How many due messages to hand to one send() call: each call is preceded by a
    look at the suppression list and a commit that these messages are being sent."""
    limits: Limits
    """The site's daily and per-minute limits (`[transport]`)."""

    def open(self) -> None:
        """Get ready for a batch (a connection, a folder); idempotent."""

    def close(self) -> None:
        """Release only what open() took."""

    def send(self, messages: Sequence[OutgoingMessage]) -> Iterator[SendResult]:
        """Deliver messages, yielding one result per message as soon as it is known."""
