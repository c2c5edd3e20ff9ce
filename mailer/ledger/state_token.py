"""What `Ledger.state_token` reads, and how it digests it: one definition for every backend.

Each table is read whole where it stays small or is the roster, and in sums
where it grows with every message, digest and token sent. Any backend that
answers these queries with the same values gives the same token.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

STATE_QUERIES = (
    "SELECT id, title, label, starts_at, ends_at, timezone, capacity, join_url, signup_url,"
    " status, sequence, missing, titles FROM events ORDER BY id",
    "SELECT event_id, email, status, position, row, address, name, written, language FROM seats"
    " ORDER BY event_id, email",
    "SELECT stamp, email, event_id FROM bindings ORDER BY stamp, email",
    "SELECT name, event_id FROM event_names ORDER BY name",
    "SELECT sheet_id, event_id FROM aliases ORDER BY sheet_id",
    "SELECT form, options, accepting FROM forms ORDER BY form",
    "SELECT count(*), max(added_at) FROM series_events",
    "SELECT token, event_id, email, kind, at, source, applied_at FROM requests ORDER BY token",
    "SELECT transport, until, reason FROM pauses ORDER BY transport",
    "SELECT state, count(*), max(key), max(created_at), max(sent_at), max(tried_at),"
    " sum(attempts), sum(length(reason)), sum(length(provider_id)) FROM messages"
    " GROUP BY state ORDER BY state",
    "SELECT reason, count(*), max(created_at), sum(length(email)) FROM suppressions"
    " GROUP BY reason ORDER BY reason",
    "SELECT count(*), max(lookup) FROM seat_tokens",
    "SELECT count(*), max(token) FROM unsubscribe_tokens",
    "SELECT count(*), max(decided_at) FROM digests",
)


def state_digest(answers: Iterable[Iterable[Sequence[object]]]) -> str:
    """The token of the rows each of STATE_QUERIES answered, in order."""
    import hashlib  # an unchanged run digests; `mailer status` does not

    digest = hashlib.sha256()
    for rows in answers:
        for row in rows:
            digest.update(repr(tuple(row)).encode("utf-8"))
    return digest.hexdigest()
