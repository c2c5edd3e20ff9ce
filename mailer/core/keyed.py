"""Keyed hashes: what mailer keeps of an address once it may no longer keep the address.

An HMAC under a key drawn from MAILER_SECRET, so the same address always
gives the same hash (a run can still recognise it) while whoever reads the
ledger without the secret cannot test a guessed address against it.
"""

from __future__ import annotations

import functools

# hashlib and hmac are imported where a hash is made: every ledger reads MARK (an index of
# its messages names it, mailer.ledger.tables), and most runs make no hash.
MARK = "h:"  # what starts every keyed hash: no address or idempotency key starts so


def keyed(secret: str, purpose: str, text: str) -> str:
    """The keyed hash of `text` for one purpose ('email', 'binding', 'message')."""
    import hashlib
    import hmac

    digest = hmac.new(_key(secret), f"{purpose}\0{text}".encode(), hashlib.sha256)
    return MARK + digest.hexdigest()[:40]


@functools.lru_cache(maxsize=4)
def _key(secret: str) -> bytes:
    import hashlib
    import hmac

    return hmac.new(secret.encode(), b"mailer keyed hashes", hashlib.sha256).digest()
