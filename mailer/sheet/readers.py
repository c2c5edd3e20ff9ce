"""The Subscribers tab held compactly: each field in one list, each Subscriber made when asked."""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import overload

from mailer.model import Subscriber


class SubscriberRows(Sequence[Subscriber]):
    """Subscribers rows as parsed, field by field.

    A Subscriber object, its key and its row number take some 180 bytes
    besides the strings they share with this; a digest to 100,000 readers
    holds each reader's fields in a few lists instead, and walks them as
    Subscribers, one at a time.
    """

    def __init__(self, subscribers: Iterable[Subscriber] = ()):
        self.rows = array("l")
        self.raws: list[str] = []  # the cell as typed: the row's key
        self.emails: list[str] = []  # normalized
        self.addresses: list[str] = []
        self.names: list[str] = []
        self.unsubscribed = bytearray()
        self.languages: list[str] = []
        for subscriber in subscribers:
            self.rows.append(subscriber.row)
            self.raws.append(subscriber.key[0])
            self.emails.append(subscriber.email)
            self.addresses.append(subscriber.address)
            self.names.append(subscriber.name)
            self.unsubscribed.append(subscriber.unsubscribed)
            self.languages.append(subscriber.language)

    def __len__(self) -> int:
        return len(self.emails)

    @overload
    def __getitem__(self, index: int) -> Subscriber: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Subscriber]: ...

    def __getitem__(self, index: int | slice) -> Subscriber | Sequence[Subscriber]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return Subscriber(
            self.rows[index],
            (self.raws[index],),
            self.emails[index],
            self.addresses[index],
            self.names[index],
            bool(self.unsubscribed[index]),
            self.languages[index],
        )

    def __iter__(self) -> Iterator[Subscriber]:
        fields = zip(
            self.rows,
            self.raws,
            self.emails,
            self.addresses,
            self.names,
            self.unsubscribed,
            self.languages,
            strict=True,
        )
        for row, raw, email, address, name, unsubscribed, language in fields:
            yield Subscriber(row, (raw,), email, address, name, bool(unsubscribed), language)

    def unsubscribed_rows(self) -> Iterator[Subscriber]:
        """The rows that say the reader left (unsubscribed_on filled in), and no others."""
        for index, gone in enumerate(self.unsubscribed):
            if gone:
                yield self[index]
