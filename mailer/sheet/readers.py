"""The Subscribers tab held compactly: each field in one buffer, each Subscriber made when asked."""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import overload

from mailer.model import Subscriber
from mailer.rules.digest import Recipient
from mailer.sheet.tabs import SubscriberFields

# Any text a sheet gives goes in and comes out the same, a lone surrogate (from JSON) included.
UTF8, ANY = "utf-8", "surrogatepass"


class Texts:
    """Strings end to end in one UTF-8 buffer: 'reader1@example.org' takes 23 bytes, not 76."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.ends = array("I")  # where each string ends in `data` (a sheet is under 4 GiB)

    def append(self, text: str) -> None:
        self.data += text.encode(UTF8, ANY)
        self.ends.append(len(self.data))

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, index: int) -> str:
        start = self.ends[index - 1] if index > 0 else 0
        return self.data[start : self.ends[index]].decode(UTF8, ANY)

    def __iter__(self) -> Iterator[str]:
        data, start = self.data, 0
        for end in self.ends:
            yield data[start:end].decode(UTF8, ANY)
            start = end


class SubscriberRows(Sequence[Subscriber]):
    """Subscribers rows as parsed, field by field.

    A Subscriber object, its strings, its key and its row number take some
    300 bytes; a digest to 100,000 readers keeps each reader's address and
    name as UTF-8 in one buffer each instead, and walks them as Subscribers
    (or as recipients), one at a time. Fields that are most often the address
    itself (the cell as typed, the address before case-folding) or blank (the
    language) are kept only where they differ.
    """

    def __init__(self, subscribers: Iterable[Subscriber] = ()):
        self.rows = array("i")
        self.emails = Texts()  # normalized
        self.names = Texts()
        self.unsubscribed = bytearray()
        self.addresses: dict[int, str] = {}  # where not the email itself
        self.raws: dict[int, str] = {}  # the cell as typed (the row's key), where not the address
        self.languages: dict[int, str] = {}  # where not blank
        for s in subscribers:
            self.append((s.row, s.key[0], s.email, s.address, s.name, s.unsubscribed, s.language))
        self.repeated = repeated(self.emails)

    @classmethod
    def parsed(cls, rows: Iterable[SubscriberFields]) -> SubscriberRows:
        """Held from the fields of each row (tabs.subscriber_fields), never a Subscriber each."""
        held = cls()
        # append's work, in line (100,000 rows): each text goes on the end of its buffer.
        numbers, gone = held.rows, held.unsubscribed
        emails, email_ends = held.emails.data, held.emails.ends
        names, name_ends = held.names.data, held.names.ends
        addresses, raws, languages = held.addresses, held.raws, held.languages
        for index, (row, raw, email, address, name, unsubscribed, language) in enumerate(rows):
            numbers.append(row)
            emails += email.encode(UTF8, ANY)
            email_ends.append(len(emails))
            names += name.encode(UTF8, ANY)
            name_ends.append(len(names))
            gone.append(unsubscribed)
            if address != email:
                addresses[index] = address
            if raw != address:
                raws[index] = raw
            if language:
                languages[index] = language
        held.repeated = repeated(held.emails)
        return held

    def append(self, fields: SubscriberFields) -> None:
        row, raw, email, address, name, unsubscribed, language = fields
        index = len(self.rows)
        self.rows.append(row)
        self.emails.append(email)
        self.names.append(name)
        self.unsubscribed.append(unsubscribed)
        if address != email:
            self.addresses[index] = address
        if raw != address:
            self.raws[index] = raw
        if language:
            self.languages[index] = language

    def __len__(self) -> int:
        return len(self.rows)

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

    def recipients(self) -> Iterator[Recipient]:
        """The readers still subscribed, in sheet order, as the digest addresses them."""
        rows = zip(self.emails, self.names, self.unsubscribed, strict=True)
        addresses, languages = self.addresses, self.languages
        if not (addresses or languages):  # every address as typed, every language blank
            for email, name, gone in rows:
                if not gone:
                    yield Recipient(email, email, name)
            return
        for index, (email, name, gone) in enumerate(rows):
            if not gone:
                yield Recipient(email, addresses.get(index, email), name, languages.get(index, ""))

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


def repeated(texts: Texts) -> set[str]:
    """The strings that occur more than once.

    A bitmap of their hashes, 64 bits a string, finds the few that may (a
    megabyte for 100,000 addresses, where a set of them all would take ten);
    only those are compared.
    """
    size = 1024
    while size < 64 * len(texts):
        size *= 2
    mask = size - 1
    bits = bytearray(size // 8)
    maybe: set[int] = set()
    for text in texts:
        spot = hash(text) & mask
        if bits[spot >> 3] & (1 << (spot & 7)):
            maybe.add(spot)
        else:
            bits[spot >> 3] |= 1 << (spot & 7)
    del bits
    found: set[str] = set()
    seen: set[str] = set()
    if maybe:
        for text in texts:
            if hash(text) & mask in maybe:
                (found if text in seen else seen).add(text)
    return found
