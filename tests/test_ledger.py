"""The ledger's contract, on SQLite and on a real PostgreSQL alike (the `ledger_url` fixture)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import NOW
from test_sendgrid import queue, shared_body

from mailer.core.errors import LockedError
from mailer.ledger import Ledger, open_ledger
from mailer.ledger.copy import copy_ledger
from mailer.ledger.migrations import SCHEMA_VERSION
from mailer.ledger.records import SENDING, Decisions, SeatRow
from mailer.ledger.store import INSERT_BATCH
from mailer.mail.message import SENT, UNKNOWN, Draft, SendResult
from mailer.model import Event, StoredEvent
from mailer.rules.self_service import RELEASE, SeatRef

CHICAGO = ZoneInfo("America/Chicago")


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    with open_ledger(ledger_url) as opened:
        yield opened


def session(capacity: int = 2) -> StoredEvent:
    starts = (NOW + timedelta(days=8)).astimezone(CHICAGO)
    event = Event(
        id="ccs-1",
        title="Community support conversation",
        starts_at=starts,
        ends_at=starts + timedelta(minutes=90),
        timezone="America/Chicago",
        capacity=capacity,
        join_url="https://zoom.example/j/1",
        label="Wed Dec 2",
    )
    return StoredEvent(event, sequence=1)


def confirmation(email: str) -> Draft:
    return Draft(
        key=f"confirmation:ccs-1:{email}",
        kind="confirmation",
        event_id="ccs-1",
        to_email=email,
        to_name=email.split("@")[0].title(),
        created_at=NOW,
        body=shared_body(),
    )


def decide(ledger: Ledger) -> int:
    seats = [
        SeatRow("ccs-1", "zoe@example.org", "confirmed", None, 2, "Zoe@example.org", "Zoe"),
        SeatRow("ccs-1", "ann@example.org", "confirmed", None, 3, "ann@example.org", "Ann"),
        SeatRow("ccs-1", "bob@example.org", "waitlisted", 1, 4, "bob@example.org", "Bob"),
    ]
    return ledger.record(
        Decisions(
            events=[session()],
            seats=seats,
            drafts=[confirmation("zoe@example.org"), confirmation("ann@example.org")],
            bindings=[("2026-11-20 10:00", "zoe@example.org", "ccs-1")],
            names=[("Wed Dec 2", "ccs-1")],
        )
    )


def sent_keys(ledger: Ledger) -> list[str]:
    return sorted(m.key for m in ledger.messages((SENT,)))


def test_a_run_s_decisions_come_back_as_they_were_recorded(ledger: Ledger):
    assert decide(ledger) == 2
    assert decide(ledger) == 0, "the same messages are not new the second time"

    assert [s.email for s in ledger.seats()] == [
        "zoe@example.org",
        "ann@example.org",
        "bob@example.org",
    ], "seats keep the order the run decided them in"
    previous = ledger.previous("ccs-1")
    assert previous.statuses["bob@example.org"] == "waitlisted"
    assert ("confirmation", "ann@example.org") in previous.notified
    memory = ledger.memory()
    assert memory.bindings == {("2026-11-20 10:00", "zoe@example.org"): "ccs-1"}
    assert memory.names == {"Wed Dec 2": "ccs-1"} and memory.known == {"ccs-1"}
    stored = ledger.stored_events()["ccs-1"]
    assert stored.event.starts_at == session().event.starts_at and stored.sequence == 1


def test_the_queue_sends_time_critical_mail_first_and_each_message_once(ledger: Ledger):
    queue(ledger, 3)
    decide(ledger)

    due = [m for batch in ledger.due() for m in batch]
    assert [m.kind for m in due] == ["confirmation"] * 2 + ["digest"] * 3
    held, mine = ledger.claim(due, NOW)
    assert held == {} and len(mine) == 5
    assert ledger.claim(due, NOW) == ({}, []), "a claimed message is nobody else's"
    for message in mine:
        ledger.mark(SendResult(message.key, SENT, provider_id="p"), NOW)

    assert ledger.count_due() == 0 and len(sent_keys(ledger)) == 5
    assert ledger.counted_since(NOW - timedelta(hours=1))[0] == 5
    assert ledger.last_sent()[("ccs-1", "ann@example.org")] == NOW.isoformat()


def test_a_suppressed_reader_is_held_back_and_lifted_on_request(ledger: Ledger):
    queue(ledger, 2)
    ledger.suppress("Person0@Example.org", "unsubscribe", NOW)
    ledger.suppress("person0@example.org", "unsubscribe", NOW)

    held, mine = ledger.claim([m for b in ledger.due() for m in b], NOW)

    assert list(held.values()) == ["unsubscribe"] and len(mine) == 1
    assert ledger.suppressed() == {"person0@example.org": NOW.isoformat()}
    assert ledger.unsuppress("person0@example.org") == ["unsubscribe"]
    assert ledger.suppressions_among(["person0@example.org"]) == {}


def test_a_person_s_answer_is_kept_once_until_a_run_acts_on_it(ledger: Ledger):
    decide(ledger)
    seat = SeatRef(RELEASE, "ccs-1", "ann@example.org")

    assert ledger.add_request("t" * 32, seat, NOW, "web") is True
    assert ledger.add_request("t" * 32, seat, NOW, "email") is False
    assert [r.token for r in ledger.open_requests()] == ["t" * 32]
    ledger.record(Decisions(applied=[("t" * 32, NOW)]))

    assert ledger.open_requests() == [] and not ledger.has_open_request("t" * 32)
    assert ledger.released() == {("ccs-1", "ann@example.org"): NOW}


def test_pauses_digests_tokens_and_job_runs_are_remembered(ledger: Ledger):
    ledger.pause("smtp", NOW + timedelta(hours=1), "quota")
    assert ledger.paused("smtp") == (NOW + timedelta(hours=1), "quota")
    assert [t for t, _, _ in ledger.resume()] == ["smtp"] and ledger.paused("smtp") is None

    drafts = [confirmation("ann@example.org")]
    assert ledger.record_digest("digest", "2026-11-30", ["r1"], drafts, NOW) == 1
    assert not ledger.has_tokens()
    ledger.remember_tokens([("tok", "a@x")])
    assert ledger.digest_history("digest") == [("2026-11-30", ["r1"])]
    assert ledger.email_for_token("tok") == "a@x" and ledger.email_for_token("no") is None

    ledger.record_job_run("signups", NOW, True, "3 sent")
    ledger.record_job_run("signups", NOW + timedelta(minutes=5), False, "sheet unreachable")
    last = ledger.job_runs()["signups"]
    assert (last.started, last.ok) == (NOW + timedelta(minutes=5), False)


def test_a_large_digest_counts_each_new_message_once_across_batches(ledger: Ledger):
    readers = [f"reader{n}@example.org" for n in range(INSERT_BATCH * 2 + 7)]
    ledger.add([confirmation(readers[3]), confirmation(readers[-1])])
    drafts = [confirmation(email) for email in readers + readers[:5]]  # five met twice

    recorded = ledger.record_digest("digest", "2026-11-30", ["r1"], drafts, NOW)

    assert recorded == len(readers) - 2, "the two already queued and the five repeats are not new"
    assert ledger.count_due() == len(readers)
    assert ledger.email_for_token("no") is None
    ledger.remember_tokens((f"token-{n % 3}", f"{n % 3}@x") for n in range(INSERT_BATCH + 1))
    assert [ledger.email_for_token(f"token-{n}") for n in range(3)] == ["0@x", "1@x", "2@x"]


@pytest.mark.parametrize(
    "name",
    ["Ann Lee", 'Ann "Al" Lee', "Ann\\Lee", "Ann\tLee", "Ann\x7fLee", "Ann\x1fLee", "Zoë Ann",
     "Ann\u00a0Lee", "Ann\u2028Lee", "\U0001f600"],
)  # fmt: skip
def test_each_envelope_is_as_json_writes_it_whatever_the_names_hold(ledger: Ledger, name: str):
    readers = [f"reader{n}@example.org" for n in range(3)]
    person = {"name": name, "first_name": name.split(" ")[0], "unsubscribe_url": "mailto:a@x?s=u"}
    drafts = [confirmation(email)._replace(to_name=name, person=person) for email in readers]

    ledger.record_digest("digest", "2026-11-30", ["r1"], drafts, NOW)

    envelopes = dict(ledger.select("SELECT email, envelope FROM messages"))
    assert envelopes == {
        d.to_email: json.dumps(
            {"to": d.to_email, "name": name, "person": person}, ensure_ascii=False
        )
        for d in drafts
    }


def test_one_run_at_a_time_holds_the_run_lock(ledger_url: str):
    with open_ledger(ledger_url) as first, open_ledger(ledger_url) as second:
        with (
            first.run_lock(1),
            pytest.raises(LockedError, match="still running"),
            second.run_lock(0.2),
        ):
            pass
        with second.run_lock(0.2):
            pass


def test_processes_claiming_at_once_divide_the_queue_and_none_is_sent_twice(ledger_url: str):
    with open_ledger(ledger_url) as setup:
        queue(setup, 600)
    claimed: Counter[str] = Counter()
    failures: list[BaseException] = []
    lock = threading.Lock()

    def sender() -> None:
        try:
            with open_ledger(ledger_url) as mine:
                for batch in mine.due(50):
                    _, taken = mine.claim(batch, NOW)
                    with lock:
                        claimed.update(m.key for m in taken)
        except BaseException as err:
            failures.append(err)

    threads = [threading.Thread(target=sender) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert len(claimed) == 600 and set(claimed.values()) == {1}


def test_a_claim_whose_holder_is_gone_becomes_unknown_never_pending(ledger_url: str):
    with open_ledger(ledger_url, lease=5) as gone:
        gone.clock = lambda: 1e12 - 100  # type: ignore[attr-defined]
        queue(gone, 2)
        gone.claim([m for b in gone.due() for m in b], NOW)
    clock = [0.0]
    with open_ledger(ledger_url) as later:
        later.clock = lambda: clock[0]  # type: ignore[attr-defined]
        if later.shared:
            clock[0] = 1e12 - 99  # before the lease ends: the holder may still be sending
            assert later.interrupted() == 0
            assert {m.state for m in later.messages((SENDING,))} == {SENDING}
        clock[0] = 1e12  # after it (on SQLite at once: only a killed run leaves one)
        assert later.interrupted() == 2
        assert {m.state for m in later.messages((UNKNOWN,))} == {UNKNOWN}
        assert later.count_due() == 0


def test_messages_claimed_and_never_handed_over_go_back_in_the_queue(ledger_url: str):
    with open_ledger(ledger_url) as sender:
        queue(sender, 3)
        page = next(sender.due())
        _, mine = sender.claim(page[:1], NOW)
        sender.mark(SendResult(mine[0].key, SENT), NOW)
        sender.release_claims()

        assert sender.count_due() == 2 and len(sender.messages((SENT,))) == 1


def test_a_ledger_copied_into_an_empty_one_keeps_every_row(ledger_url: str, tmp_path):
    with open_ledger(ledger_url) as source:
        decide(source)
        queue(source, 3)
        source.suppress("gone@example.org", "bounce", NOW)
        with open_ledger(tmp_path / "copy.db") as target:
            copied = copy_ledger(source, target)
            assert copied["messages"] == 5 and copied["seats"] == 3
            assert target.seats() == source.seats()
            assert target.messages() == source.messages()
            assert target.suppressed() == source.suppressed()


def test_processes_starting_at_once_on_a_new_ledger_migrate_it_once(ledger_url: str):
    opened: list[int] = []
    failures: list[BaseException] = []

    def start() -> None:
        try:
            with open_ledger(ledger_url) as ledger:
                opened.append(ledger.schema_version())
        except BaseException as err:
            failures.append(err)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == [] and opened == [SCHEMA_VERSION] * 4
