"""The ledger's plain reads, written once for the store and for SQLite's sqlite3 path.

Each read is one query with `:named` parameters, which every backend's
connection takes, so `SqlLedger` (mailer.ledger.store) and `SqliteReads`
(mailer.ledger.sqlite_reads) answer them from the same text by giving
`select`. Nothing here imports SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mailer.ledger.records import (
    FAILED,
    PENDING,
    RETRY,
    SENDING,
    SENT,
    UNKNOWN,
    BounceRow,
    MessageRow,
    SeatRow,
    stored_event,
)
from mailer.sessions import StoredEvent

if TYPE_CHECKING:
    from mailer.rules.schedules import LastRun


def named_marks(prefix: str, values: Sequence[object]) -> tuple[str, dict[str, object]]:
    """`:p0, :p1, ...` for an IN (...) list, and the values by name."""
    names = [f"{prefix}{i}" for i in range(len(values))]
    return ", ".join(f":{n}" for n in names), dict(zip(names, values, strict=True))


class PlainReads:
    """Reads that are one query each, over whatever answers `select`."""

    def select(self, query: str, **params: object) -> list[Any]:
        """The rows of a read-only query written for every backend, its parameters `:named`."""
        raise NotImplementedError

    def fingerprint(self, job: str) -> tuple[str, str] | None:
        """What the last run of `job` that changed nothing decided from (digested), and reported."""
        rows = self.select("SELECT digest, report FROM fingerprints WHERE job = :j", j=job)
        return None if not rows else (rows[0][0], rows[0][1])

    def seats(self) -> list[SeatRow]:
        rows = self.select(
            "SELECT event_id, email, status, position, row, address, name, written, language"
            " FROM seats ORDER BY event_id, place"
        )
        return [SeatRow(*r) for r in rows]

    def stored_events(self) -> dict[str, StoredEvent]:
        rows = self.select(
            "SELECT id, title, label, starts_at, ends_at, timezone, capacity, join_url,"
            " signup_url, status, sequence, missing, titles FROM events ORDER BY starts_at, id"
        )
        return dict(stored_event(row) for row in rows)

    def messages(
        self, states: Sequence[str] = (SENT, PENDING, RETRY, FAILED, UNKNOWN)
    ) -> list[MessageRow]:
        marks, values = named_marks("s", states)
        rows = self.select(
            "SELECT key, kind, event_id, email, state, reason, attempts, created_at, sent_at,"
            f" provider_id FROM messages WHERE state IN ({marks}) ORDER BY created_at, key",
            **values,
        )
        return [MessageRow(*r) for r in rows]

    def count_due(self) -> int:
        query = "SELECT count(*) FROM messages WHERE state IN (:p, :r)"
        return int(self.select(query, p=PENDING, r=RETRY)[0][0])

    def waiting(self) -> list[tuple[int, int]]:
        """(priority, how many) of the messages queued to send, most urgent first."""
        rows = self.select(
            "SELECT priority, count(*) FROM messages WHERE state IN (:p, :r)"
            " GROUP BY priority ORDER BY priority",
            p=PENDING,
            r=RETRY,
        )
        return [(int(p), int(n)) for p, n in rows]

    def counted_since(self, since: datetime) -> tuple[int, str | None]:
        """Messages handed to the provider after `since` (sent or unknown), and the first's time.

        An unknown message may have been delivered, so it counts against a quota.
        """
        count, first = self.select(
            "SELECT count(*), MIN(COALESCE(sent_at, tried_at)) FROM messages"
            " WHERE state IN (:s, :u, :c) AND COALESCE(sent_at, tried_at) > :since",
            s=SENT,
            u=UNKNOWN,
            c=SENDING,
            since=since.astimezone(UTC).isoformat(),
        )[0]
        return int(count), first

    def sent_at(self, kinds: Sequence[str]) -> dict[tuple[str, str, str], str]:
        """(kind, event, email) -> when the latest message of that kind was decided."""
        marks, values = named_marks("k", kinds)
        rows = self.select(
            f"SELECT kind, event_id, email, MAX(created_at) FROM messages WHERE kind IN ({marks})"
            " GROUP BY kind, event_id, email",
            **values,
        )
        return {(kind, event_id, email): at for kind, event_id, email, at in rows}

    def paused(self, transport: str) -> tuple[datetime, str] | None:
        """(until, why) of the latest pause of `transport`, if any was recorded."""
        rows = self.select("SELECT until, reason FROM pauses WHERE transport = :t", t=transport)
        return (datetime.fromisoformat(rows[0][0]), rows[0][1]) if rows else None

    def bounces(self) -> list[BounceRow]:
        """Every bounce and complaint read from the mailbox, newest first."""
        rows = self.select(
            "SELECT email, kind, status, diagnostic, message_key, at FROM bounces"
            " ORDER BY at DESC, email"
        )
        return [BounceRow(*row) for row in rows]

    def job_runs(self) -> dict[str, LastRun]:
        """When each job last ran and how it went (what the daemons' schedules go by)."""
        from mailer.rules.schedules import LastRun  # `mailer status` never asks

        rows = self.select("SELECT job, started, ok, summary FROM job_runs")
        return {
            job: LastRun(datetime.fromisoformat(started), bool(ok), summary)
            for job, started, ok, summary in rows
        }
