"""Nothing leaves the process: messages are kept in a list, for dry runs and for people to read.

Like Django's locmem backend: the send loop runs as it would, each message is
reported sent, and `sent` holds what would have gone out.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from mailer.mail.message import SENT, OutgoingMessage, SendResult
from mailer.sending.transports.base import TransportBase


class MemoryTransport(TransportBase):
    name = "memory"
    batch_size = 500

    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []

    def send(self, messages: Sequence[OutgoingMessage]) -> Iterator[SendResult]:
        for message in messages:
            self.sent.append(message)
            yield SendResult(message.key, SENT)
