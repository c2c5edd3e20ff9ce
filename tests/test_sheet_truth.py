"""The sheet is the organizers' truth: the edits people make to spreadsheets are safe."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import timedelta

import pytest
from conftest import NOW
from mail_servers import SmtpServer, SmtpSink

SESSION_START = NOW + timedelta(days=8, hours=3)  # the sample session: Wednesday 12:00 Chicago
DAY_BEFORE = SESSION_START - timedelta(hours=23)


def person(rows: list[dict[str, str]], name: str) -> dict[str, str]:
    return next(row for row in rows if row["Name"] == name)


def edit(site, tab: str, change) -> None:
    """Change the rows of a tab as an organizer would, in a spreadsheet program."""
    rows = site.rows(tab)
    change(rows)
    site.write_rows(tab, rows)


def kinds(site) -> Counter:
    return Counter(line["kind"] for line in site.sent())


def confirmed_count(site) -> int:
    return sum(1 for row in site.rows() if row["Status"] == "confirmed")


def test_canceled_in_us_spelling_frees_the_seat_once(site):
    site.mailer("run")
    edit(site, "signups", lambda rows: person(rows, "Daniel Reyes").update(Status="canceled"))

    site.mailer("run", now=NOW + timedelta(hours=1))
    site.mailer("run", now=NOW + timedelta(hours=2))

    assert kinds(site)["promotion"] == 1
    assert person(site.rows(), "Daniel Reyes")["Status"] == "cancelled"
    assert person(site.rows(), "Ben Whitaker")["Status"] == "confirmed"


def test_other_spellings_of_cancel_are_understood(site):
    site.mailer("run")
    spellings = {"Daniel Reyes": "Cancel", "Samira Haddad": "WITHDRAWN "}
    edit(
        site,
        "signups",
        lambda rows: [person(rows, n).update(Status=s) for n, s in spellings.items()],
    )

    site.mailer("run", now=NOW + timedelta(hours=1))

    assert kinds(site)["promotion"] == 2
    assert {person(site.rows(), n)["Status"] for n in spellings} == {"cancelled"}


def test_a_word_mailer_does_not_know_stays_as_typed_and_changes_nothing(site):
    site.mailer("run")
    edit(site, "signups", lambda rows: person(rows, "Daniel Reyes").update(Status="no-show"))

    result = site.mailer("run", now=NOW + timedelta(hours=1))

    assert person(site.rows(), "Daniel Reyes")["Status"] == "no-show"
    assert kinds(site) == {"confirmation": 12, "waitlist": 2}
    assert confirmed_count(site) == 11  # Daniel's seat is still his, though the cell says no-show
    assert "signups row 3, column 'Status': 'no-show' is not a status mailer knows" in (
        result.output
    )


def test_a_reworded_label_keeps_every_signup_bound_to_its_session(site):
    site.mailer("run")
    old = site.rows("events")[0]["label"]
    edit(site, "events", lambda rows: rows[0].update(label="Wednesday · noon Central"))
    site.mailer("run", now=NOW + timedelta(hours=1))
    newcomer = {**site.rows()[0]}
    newcomer.update(
        {
            "Timestamp": "11/24/2026 10:30:00",
            "Email Address": "new.person@example.org",
            "Name": "New Person",
            "Which session?": "Wednesday · noon Central",
            "Status": "",
            "Position": "",
            "Notified": "",
            "Note": "",
            "Session id": "",
        }
    )
    edit(site, "signups", lambda rows: rows.append(newcomer))
    site.mailer("run", now=NOW + timedelta(hours=2))
    edit(site, "events", lambda rows: rows[0].update(label=old))

    site.mailer("run", now=NOW + timedelta(hours=3))

    assert kinds(site) == {"confirmation": 12, "waitlist": 3}
    statuses = Counter(row["Status"] for row in site.rows())
    assert statuses == {"confirmed": 12, "waitlisted": 3, "duplicate": 1, "invalid": 1}
    assert person(site.rows(), "New Person")["Position"] == "3"


def test_a_renamed_event_id_sends_nothing_twice(site):
    site.mailer("run")
    edit(site, "events", lambda rows: rows[0].update(id="ccs-december"))

    result = site.mailer("run", now=NOW + timedelta(hours=1))
    site.mailer("run", "reminders", now=DAY_BEFORE)
    site.mailer("run", "reminders", now=DAY_BEFORE + timedelta(minutes=15))

    assert "is session 'ccs-2026-12-02' renamed" in result.output
    assert kinds(site) == {"confirmation": 12, "waitlist": 2, "reminder": 12}
    assert {row["Session id"] for row in site.rows() if row["Status"] == "confirmed"} == {
        "ccs-december"
    }


def test_a_deleted_event_row_is_a_missing_session_not_a_cancellation(site):
    site.mailer("run")
    before = site.rows()
    (site.root / "lists" / "events.csv").write_text(
        "id,title,label,starts_at,ends_at,timezone,capacity,join_url,signup_url,status\n"
    )

    result = site.mailer("run", now=DAY_BEFORE)

    assert "'ccs-2026-12-02'" in result.output and "is not on the events tab" in result.output
    assert kinds(site) == {"confirmation": 12, "waitlist": 2}
    assert [row["Status"] for row in site.rows()] == [row["Status"] for row in before]


def test_a_stray_quote_that_joins_two_rows_frees_no_seat(site):
    site.mailer("run")
    path = site.root / "lists" / "signups.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[3] = lines[3].replace('Central",No,', 'Central","No,', 1)  # row 4 swallows row 5
    path.write_text("".join(lines), encoding="utf-8")

    result = site.mailer("run", now=NOW + timedelta(hours=1))

    assert "signups row 4" in result.output and "stray" in result.output
    assert kinds(site) == {"confirmation": 12, "waitlist": 2}
    assert "".join(lines[3:]) in path.read_text(encoding="utf-8")  # the rows left as they are
    lines[3] = lines[3].replace('Central","No,', 'Central",No,', 1)
    path.write_text("".join(lines), encoding="utf-8")
    site.mailer("run", now=NOW + timedelta(hours=2))
    assert kinds(site) == {"confirmation": 12, "waitlist": 2}
    assert confirmed_count(site) == 12


def add_second_session(site, capacity: str) -> None:
    def add(rows):
        second = {**rows[0], "id": "ccs-second", "label": "The second one", "capacity": capacity}
        rows.append(second)

    edit(site, "events", add)


def test_a_huge_capacity_is_a_problem_of_its_row_only(site):
    add_second_session(site, str(10**20))

    result = site.mailer("run")
    reminders = site.mailer("run", "reminders", now=DAY_BEFORE)

    assert result.exit_code == 0, result.output
    assert "events row 3, column 'capacity'" in result.output
    assert kinds(site) == {"confirmation": 12, "waitlist": 2, "reminder": 12}
    assert "Digest (digest)" in result.output and reminders.exit_code == 0


def test_a_far_date_and_a_giant_cell_are_problems_of_their_row(site):
    add_second_session(site, "12")
    edit(site, "events", lambda rows: rows[1].update(starts_at="9999-12-31 23:59"))
    edit(site, "signups", lambda rows: rows[2].update(Pronouns="x" * 200_000))

    result = site.mailer("run")

    assert result.exit_code == 0, result.output
    assert "events row 3, column 'starts_at': year 9999" in result.output
    assert "signups row 4" in result.output
    assert kinds(site)["confirmation"] == 12


def test_a_javascript_join_link_is_refused_at_run_time_and_by_check(site):
    edit(site, "events", lambda rows: rows[0].update(join_url="javascript:alert(1)"))

    result = site.mailer("run")
    check = site.mailer("check")

    assert "events row 2, column 'join_url'" in result.output
    assert not site.sent()
    assert check.exit_code == 1
    assert "events row 2, column 'join_url'" in check.output


def test_a_lost_ledger_is_rebuilt_from_the_sheet_without_sending_again(site):
    site.mailer("run")
    digests = len(site.sent(digests=True))
    shutil.rmtree(site.root / "state")

    result = site.mailer("run", now=NOW + timedelta(hours=1))

    assert kinds(site) == {"confirmation": 12, "waitlist": 2}
    assert len(site.sent(digests=True)) == digests
    assert "rebuilt" in result.output.lower()
    reminders = site.mailer("run", "reminders", now=DAY_BEFORE)
    assert reminders.exit_code == 0 and kinds(site)["reminder"] == 12


def test_a_form_opt_in_who_left_stays_out_after_the_ledger_is_lost(site):
    site.mailer("run")
    subscribers = {row["email"] for row in site.rows("subscribers")}
    address = next(
        row["Email Address"]
        for row in site.rows()
        if row["Send me the resource digest"] == "Yes" and row["Email Address"] not in subscribers
    )
    site.mailer("unsubscribe", address)
    site.mailer("run", "signups", now=NOW + timedelta(minutes=5))
    assert any(row["email"] == address for row in site.rows("subscribers"))
    shutil.rmtree(site.root / "state")

    def new_resource(rows):
        new = {"title": "New", "url": "https://example.org/new", "added_on": "2026-11-30"}
        rows.append({**rows[0], **new, "Sent in digest": ""})

    edit(site, "resources", new_resource)
    site.mailer("run", now=NOW + timedelta(days=7))

    digests = [line["to"] for line in site.sent(digests=True)]
    assert len({line["subject"] for line in site.sent(digests=True)}) == 2  # a second digest went
    assert digests.count(address) == 1  # the first one, before they left


def test_an_older_ledger_restored_sends_nothing_the_sheet_shows_went_out(site):
    site.mailer("run")
    shutil.copytree(site.root / "state", site.root / "backup")
    edit(site, "signups", lambda rows: person(rows, "Daniel Reyes").update(Status="cancelled"))
    site.mailer("run", now=NOW + timedelta(hours=1))
    site.mailer("run", "reminders", now=DAY_BEFORE)
    sent_before_restore = kinds(site)
    shutil.rmtree(site.root / "state")
    shutil.copytree(site.root / "backup", site.root / "state")

    site.mailer("run", now=DAY_BEFORE + timedelta(minutes=30))
    site.mailer("run", now=DAY_BEFORE + timedelta(hours=1))

    assert sent_before_restore == {
        "confirmation": 12,
        "waitlist": 2,
        "promotion": 1,
        "released": 1,  # the acknowledgement of the organizer's cancel
        "reminder": 12,
    }
    assert kinds(site) == sent_before_restore
    assert person(site.rows(), "Ben Whitaker")["Status"] == "confirmed"
    assert confirmed_count(site) == 12


def test_over_smtp_a_lost_ledger_means_not_one_message_more(site, monkeypatch):
    monkeypatch.setenv("MAILER_SECRET", "test-secret-for-unsubscribe-links")
    sink = SmtpSink()
    with SmtpServer(sink) as server:
        site.use_transport("smtp", host="127.0.0.1", port=server.port, security="none")
        site.mailer("run")
        arrived = len(sink.received)
        shutil.rmtree(site.root / "state")
        site.mailer("run", now=NOW + timedelta(hours=1))

    assert arrived == 21  # 12 confirmations, 2 waitlist notices, 7 digests
    assert len(sink.received) == arrived


def test_a_stray_quote_within_one_line_is_reported_and_changes_nothing(site):
    site.mailer("run")
    path = site.root / "lists" / "signups.csv"
    text = path.read_text(encoding="utf-8")
    broken = text.replace(",Priya Raman,", ',"Priya Raman,', 1)
    path.write_text(broken, encoding="utf-8")

    result = site.mailer("run", now=NOW + timedelta(hours=1))

    assert "signups row 4: has a stray quote" in result.output
    assert path.read_text(encoding="utf-8") == broken
    assert kinds(site) == {"confirmation": 12, "waitlist": 2}


def test_a_corrected_address_keeps_the_place_and_gets_the_email(site):
    site.mailer("run")
    edit(
        site,
        "signups",
        lambda rows: person(rows, "Daniel Reyes").update(
            {"Email Address": "dan.reyes@example.org"}
        ),
    )

    site.mailer("run", now=NOW + timedelta(hours=1))

    assert person(site.rows(), "Daniel Reyes")["Status"] == "confirmed"
    to_daniel = [line["kind"] for line in site.sent() if line["to"] == "dan.reyes@example.org"]
    assert to_daniel == ["confirmation"]
    assert confirmed_count(site) == 12 and kinds(site)["promotion"] == 0


def test_an_unsubscribe_by_hand_reaches_the_sheet_at_once(site):
    site.mailer("run")
    subscribers = {row["email"] for row in site.rows("subscribers")}
    opted_in = next(
        row["Email Address"]
        for row in site.rows()
        if row["Send me the resource digest"] == "Yes" and row["Email Address"] not in subscribers
    )

    site.mailer("unsubscribe", opted_in)

    assert {row["email"]: row["unsubscribed_on"] for row in site.rows("subscribers")}[
        opted_in
    ] == "2026-11-24"


def test_a_no_show_survives_a_lost_ledger(site):
    site.mailer("run")
    edit(site, "signups", lambda rows: person(rows, "Priya Raman").update(Status="no-show"))
    site.mailer("run", now=NOW + timedelta(hours=1))
    shutil.rmtree(site.root / "state")

    site.mailer("run", now=NOW + timedelta(hours=2))

    assert kinds(site) == {"confirmation": 12, "waitlist": 2}
    assert person(site.rows(), "Priya Raman")["Status"] == "no-show"


@pytest.mark.parametrize("address", ["=cmd@example.org", "+cmd@example.org", "-cmd@example.org"])
def test_a_formula_like_address_that_left_is_listed_once_and_stays_out(site, address):
    """mailer writes such an address as '=cmd@... so no spreadsheet runs it; it reads it back so."""

    def signs_up(rows):
        first = rows[0]
        when = {"Timestamp": "11/23/2026 10:00:00", "Name": "Cam Dee"}
        rows.append(
            {**first, **when, "Email Address": address, "Send me the resource digest": "Yes"}
        )

    def new_resource(rows):
        new = {"title": "New", "url": "https://example.org/new", "added_on": "2026-11-30"}
        rows.append({**rows[0], **new, "Sent in digest": ""})

    edit(site, "signups", signs_up)
    site.mailer("run")
    site.mailer("unsubscribe", "--now", NOW.isoformat(), "--", address, now=None)
    for minutes in (5, 10, 15):
        site.mailer("run", "signups", now=NOW + timedelta(minutes=minutes))
    listed = [(row["email"], row["unsubscribed_on"]) for row in site.rows("subscribers")]
    shutil.rmtree(site.root / "state")
    edit(site, "resources", new_resource)
    site.mailer("run", now=NOW + timedelta(days=7))

    assert [row for row in listed if address in row[0]] == [(f"'{address}", "2026-11-24")]
    assert len({line["subject"] for line in site.sent(digests=True)}) == 2  # a second digest went
    digests = [line["to"] for line in site.sent(digests=True)]
    assert digests.count(address) == 1, "the first digest, before they left; none after"
