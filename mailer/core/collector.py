"""Pausing the cyclic garbage collector where a step makes many objects and no cycles."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic collector off for the stretch; reference counting still frees everything.

    A digest to 100,000 readers holds each batch of drafts while it is
    recorded, and every 700 objects that outlive a moment set the collector
    walking them all again, and at times every object the process holds: a
    tenth of a second of CPU for nothing, since tuples, dicts and strings
    made from rows form no cycles. Whatever cycle the stretch does leave
    (a rendering's, say) is collected after it, as the collector comes back on.
    """
    if not gc.isenabled():  # paused already, further out: leave it to that one
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
