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
    Subscribers, one at a time. Fields that are most often the address
    itself (the cell as typed, the address before case-folding) or blank
    (the language) are kept only where they differ.
    """

    def __init__(self, subscribers: Iterable[Subscriber] = ()):
        self.rows = array("i")
        self.emails: list[str] = []  # normalized
        self.names: list[str] = []
        self.unsubscribed = bytearray()
        self.addresses: dict[int, str] = {}  # where not the email itself
        self.raws: dict[int, str] = {}  # the cell as typed (the row's key), where not the address
        self.languages: dict[int, str] = {}  # where not blank
        for index, subscriber in enumerate(subscribers):
            self.rows.append(subscriber.row)
            self.emails.append(subscriber.email)
            self.names.append(subscriber.name)
            self.unsubscribed.append(subscriber.unsubscribed)
            if subscriber.address != subscriber.email:
                self.addresses[index] = subscriber.address
            if subscriber.key[0] != subscriber.address:
                self.raws[index] = subscriber.key[0]
            if subscriber.language:
                self.languages[index] = subscriber.language

    def __len__(self) -> int:
        return len(self.emails)

    @overload
    def __getitem__(self, index: int) -> Subscriber: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Subscriber]: ...

    def __getitem__(self, index: int | slice) -> Subscriber | Sequence[Subscriber]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return self._made(range(len(self))[index])

    def __iter__(self) -> Iterator[Subscriber]:
        if self.addresses or self.raws or self.languages:
            yield from map(self._made, range(len(self)))
            return
        # Every address as typed, every language blank: most sheets.
        for row, email, name, gone in zip(
            self.rows, self.emails, self.names, self.unsubscribed, strict=True
        ):
            yield Subscriber(row, (email,), email, email, name, bool(gone), "")

    def named_languages(self) -> set[str]:
        """Every language the rows give, blank included when a row gives none."""
        named = set(self.languages.values())
        if len(self.languages) < len(self):
            named.add("")
        return named

    def unsubscribed_rows(self) -> Iterator[Subscriber]:
        """The rows that say the reader left (unsubscribed_on filled in), and no others."""
        for index, gone in enumerate(self.unsubscribed):
            if gone:
                yield self._made(index)

    def _made(self, index: int) -> Subscriber:
        email = self.emails[index]
        address = self.addresses.get(index, email)
        return Subscriber(
            self.rows[index],
            (self.raws.get(index, address),),
            email,
            address,
            self.names[index],
            bool(self.unsubscribed[index]),
            self.languages.get(index, ""),
        )
