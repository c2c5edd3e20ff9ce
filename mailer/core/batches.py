"""Items taken a batch at a time: a long stream of rows is never held whole."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

T = TypeVar("T")


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """`items` in lists of `size` (the last may be shorter), taken as they come."""
    remaining = iter(items)
    while batch := list(islice(remaining, size)):
        yield batch
