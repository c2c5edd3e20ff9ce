"""The transport contract: open once per batch, send messages, say how each one fared.

`with transport:` holds a connection for a batch, as Django's mail backends
do: it opens what is not open yet and, on leaving, closes only what it opened.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol, Self

from mailer.sending.pacing import NO_LIMITS, Limits

if TYPE_CHECKING:
    from mailer.mail.message import OutgoingMessage, SendResult


class Transport(Protocol):
    name: str
    batch_size: int
    """How many due messages to hand to one send() call: each call is preceded by a
    look at the suppression list and a commit that these messages are being sent."""
    limits: Limits
    """The site's daily and per-minute limits (`[transport]`)."""
    idempotent: bool
    """True when sending a message again is harmless (the outbox rewrites the same file),
    so no message needs to be committed as sending before it goes."""

    def open(self) -> bool:
        """Get ready for a batch (a connection, a folder); True when this call opened it."""
        ...

    def close(self) -> None:
        """Release only what open() took."""

    def send(self, messages: Sequence[OutgoingMessage]) -> Iterator[SendResult]:
        """Deliver messages, yielding one result per message as soon as it is known."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


class TransportBase:
    """`with` support for a transport; subclasses override open() and close() as they need."""

    opened_here: list[bool]
    limits: Limits = NO_LIMITS
    idempotent: bool = False

    def open(self) -> bool:
        return False

    def close(self) -> None:
        return None

    def __enter__(self) -> Self:
        if not hasattr(self, "opened_here"):
            self.opened_here = []
        self.opened_here.append(self.open())
        return self

    def __exit__(self, *exc: object) -> None:
        if self.opened_here.pop():
            self.close()
