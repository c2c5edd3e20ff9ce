"""The signup form shows what is open: the real google-auth session against a Forms stand-in."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import NOW
from fake_forms import SESSION_QUESTION, FakeForms
from fake_token_endpoint import TokenEndpoint

ACCOUNT = "mailer@care-network.iam.gserviceaccount.com"
SAMPLE = "Wednesday, December 2 · 12:00–1:30 pm Central"


@pytest.fixture
def form(site, tmp_path, monkeypatch):
    """The sample site with [form] pointing at a stand-in, signed in as a service account."""
    with TokenEndpoint() as tokens, FakeForms() as forms:
        key = tokens.key_file(tmp_path / "service-account.json", ACCOUNT)
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
        with site.config.open("a", encoding="utf-8") as handle:
            handle.write(
                f'\n[form]\nid = "https://docs.google.com/forms/d/{forms.form_id}/edit"\n'
                f'question = "{SESSION_QUESTION}"\napi_url = "{forms.url}"\n'
            )
        yield forms, tokens


def add_sessions(site, *sessions: dict[str, str]) -> None:
    rows = site.rows("events")
    for session in sessions:
        rows.append({**rows[0], "waitlist": "", **session})
    for row in rows:
        row.setdefault("waitlist", "")
    site.write_rows("events", rows)


def four_sessions(site) -> None:
    """The sample (full), one open with 2 seats, one past, one cancelled."""
    day = "2026-12-09"
    add_sessions(
        site,
        {
            "id": "open",
            "label": "Wednesday, December 9 · 12:00–1:30 pm Central",
            "starts_at": f"{day} 12:00",
            "ends_at": f"{day} 13:30",
            "capacity": "2",
        },
        {
            "id": "past",
            "label": "Past",
            "starts_at": "2026-11-18 12:00",
            "ends_at": "2026-11-18 13:30",
        },
        {
            "id": "off",
            "label": "Called off",
            "starts_at": "2026-12-16 12:00",
            "ends_at": "2026-12-16 13:30",
            "status": "cancelled",
        },
    )


def test_the_form_offers_the_upcoming_sessions_with_their_seats(site, form):
    forms, _ = form
    four_sessions(site)

    result = site.mailer("run", "signups")

    assert result.exit_code == 0, result.output
    assert forms.options == [
        f"{SAMPLE} (full: join the waitlist)",
        "Wednesday, December 9 · 12:00–1:30 pm Central (2 of 2 seats left)",
    ]
    assert forms.accepting
    writes = [c for c in forms.calls if c.path.endswith(":batchUpdate")]
    assert len(writes) == 1
    assert writes[0].body["writeControl"]["requiredRevisionId"] == "00000001"


def test_an_answer_with_the_text_the_form_showed_finds_its_session(site, form):
    forms, _ = form
    four_sessions(site)
    site.mailer("run", "signups")
    rows = site.rows()
    rows.append(
        {
            **rows[0],
            "Timestamp": "11/24/2026 10:00:00",
            "Email Address": "new@example.org",
            "Name": "New Person",
            "Which session?": forms.options[1],
            "Status": "",
            "Position": "",
            "Notified": "",
            "Note": "",
            "Session id": "",
        }
    )
    site.write_rows("signups", rows)

    site.mailer("run", "signups", now=NOW + timedelta(minutes=5))

    new = next(row for row in site.rows() if row["Name"] == "New Person")
    assert (new["Status"], new["Session id"]) == ("confirmed", "open")
    assert forms.options[1].endswith("(1 of 2 seats left)")


def test_a_second_run_makes_no_call(site, form):
    forms, _ = form
    four_sessions(site)
    site.mailer("run", "signups")
    calls = len(forms.calls)

    site.mailer("run", "signups", now=NOW + timedelta(minutes=5))

    assert len(forms.calls) == calls


def test_every_seat_taken_and_no_waitlist_closes_the_form_and_a_new_session_opens_it(site, form):
    forms, _ = form
    rows = site.rows("events")
    rows[0]["waitlist"] = "no"
    site.write_rows("events", rows)

    site.mailer("run", "signups")
    assert not forms.accepting

    add_sessions(
        site,
        {
            "id": "next",
            "label": "Next one",
            "starts_at": "2026-12-09 12:00",
            "ends_at": "2026-12-09 13:30",
            "waitlist": "no",
        },
    )
    site.mailer("run", "signups", now=NOW + timedelta(minutes=5))
    assert forms.accepting
    assert forms.options == ["Next one (12 of 12 seats left)"]


def test_an_organizers_edit_meanwhile_is_never_overwritten(site, form):
    forms, _ = form
    forms.before_write = forms.organizer_edits

    result = site.mailer("run", "signups")

    writes = [c for c in forms.calls if c.path.endswith(":batchUpdate")]
    assert [c.status for c in writes] == [400, 200]  # refused on the stale revision, then re-read
    assert forms.form["info"]["title"].endswith("(edited)")
    assert forms.options == [f"{SAMPLE} (full: join the waitlist)"]
    assert result.exit_code == 0


def test_429_and_503_are_retried(site, form):
    forms, _ = form
    forms.fail_next = [429, 503]

    result = site.mailer("run", "signups")

    assert result.exit_code == 0, result.output
    assert forms.options == [f"{SAMPLE} (full: join the waitlist)"]
    assert [c.status for c in forms.calls][:3] == [429, 503, 200]


def test_the_service_account_asks_for_the_form_scope_only(site, form):
    _, tokens = form
    site.mailer("run", "signups")
    assert tokens.grants[0]["scope"] == "https://www.googleapis.com/auth/forms.body"


def test_check_shows_the_question_its_choices_and_what_the_next_run_changes(site, form):
    four_sessions(site)

    before = site.mailer("check", "--no-workbook")
    shown = site.mailer("check")
    assert not [c for c in form[0].calls if c.method == "POST"], "check changes nothing"
    site.mailer("run", "signups")
    after = site.mailer("check")

    assert "Signup form" not in before.output
    assert "question 'Which session?', accepting responses" in shown.output
    assert "now: To be announced" in shown.output
    assert "next run: Wednesday, December 9 · 12:00–1:30 pm Central (2 of 2 seats left)" in (
        shown.output
    )
    assert "the next run changes nothing" in after.output


def test_a_site_without_waitlists_closes_the_form_when_every_seat_is_taken(site, form):
    forms, _ = form
    with site.config.open("a", encoding="utf-8") as handle:
        handle.write("waitlist = false\n")  # under [form], the last table of the file

    site.mailer("run", "signups")

    assert not forms.accepting


def test_an_organizer_editing_the_choices_meanwhile_keeps_the_edit_and_is_told(site, form):
    forms, _ = form

    def organizer_adds_a_choice() -> None:
        forms.form["items"][1]["questionItem"]["question"]["choiceQuestion"]["options"].append(
            {"value": "Organizer typed this"}
        )
        forms.revision += 1

    forms.before_write = organizer_adds_a_choice
    result = site.mailer("run", "signups")

    assert forms.options == ["To be announced", "Organizer typed this"]
    assert "were edited in the form while mailer was changing them" in result.output
