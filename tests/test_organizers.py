"""What needs an organizer reaches them: the Mailer tab, a daily note, word of a failing job."""

from __future__ import annotations

import csv
import io
import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import NOW, body_text
from mail_servers import SmtpServer, SmtpSink
from test_dates_that_cannot_be_right import move_sessions
from test_google_sheets import FORM_TAB, sheet  # noqa: F401 - the Sheets stand-in fixture

from mailer.jobs.runner import run_jobs
from mailer.settings import config

ORGANIZERS = ["ana.organizer@care.example", "ben.organizer@care.example"]
REJECTED = "chris.doe@@example.org"


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    monkeypatch.setenv("MAILER_SECRET", "test-secret-for-unsubscribe-links")


@dataclass
class Refusing(SmtpSink):
    """An SMTP relay that, while `refusing`, turns away every recipient but the organizers."""

    refusing: bool = False
    allowed: set[str] = field(default_factory=lambda: set(ORGANIZERS))

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refusing and address not in self.allowed:
            return "451 4.1.8 Sender address rejected: Domain not found"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


def with_organizers(site, server: SmtpServer, extra: str = "") -> None:
    text = site.config.read_text()
    listed = ", ".join(f'"{a}"' for a in ORGANIZERS)
    text = text.replace("[organization]\n", f"[organization]\norganizers = [{listed}]\n", 1)
    site.config.write_text(text + extra)
    site.use_transport("smtp", host="127.0.0.1", port=server.port, security="none")


def organizer_mail(sink: SmtpSink) -> list[tuple[str, str]]:
    """(subject, text) of each organizer email, once per message (it goes to both)."""
    seen = []
    for message in sink.received:
        if set(message.recipients) & set(ORGANIZERS):
            mime = message.mime
            text = body_text(mime)
            seen.append((str(mime["Subject"]), text))
    return seen[::2] if all(len(m.recipients) == 1 for m in sink.received) else seen


def mailer_tab(site) -> list[dict[str, str]]:
    text = (site.root / "lists" / "Mailer.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def fix_rejected_row(site) -> None:
    rows = site.rows()
    for row in rows:
        if row["Email Address"] == REJECTED:
            row["Email Address"] = "chris.doe@example.org"
    site.write_rows("signups", rows)


def test_the_mailer_tab_holds_the_last_runs_and_open_problems_until_fixed(site):
    site.mailer("run")

    tab = mailer_tab(site)
    runs = {row["Job or tab"]: row for row in tab if row["What"] == "last run"}
    assert set(runs) == {"signups", "reminders", "digest", "retention"}
    assert runs["signups"]["What happened, what to do"].startswith("ok: 14 new, 14 sent")
    assert runs["retention"]["What happened, what to do"] == "ok: nothing to remove"
    [problem] = [row for row in tab if row["What"] == "problem"]
    assert (problem["Job or tab"], problem["Row"], problem["Column"]) == (
        "signups",
        "10",
        "Email Address",
    )
    assert "not a valid email address" in problem["What happened, what to do"]

    fix_rejected_row(site)
    site.mailer("run", "signups", now=NOW + timedelta(minutes=5))

    assert [row for row in mailer_tab(site) if row["What"] == "problem"] == []
    assert "No open problems." in [row["What happened, what to do"] for row in mailer_tab(site)]


def test_the_organizer_note_goes_once_and_again_only_when_something_is_new(site):
    sink = SmtpSink()
    with SmtpServer(sink) as server:
        with_organizers(site, server)
        site.mailer("run", "signups")
        first = organizer_mail(sink)
        site.mailer("run", "signups", now=NOW + timedelta(minutes=5))
        site.mailer("run", "signups", now=NOW + timedelta(days=1))
        quiet = organizer_mail(sink)
        rows = site.rows()
        rows[2]["Email Address"] = "not-an-address"
        site.write_rows("signups", rows)
        site.mailer("run", "signups", now=NOW + timedelta(days=1, minutes=5))
        later = organizer_mail(sink)

    [(subject, text)] = first
    assert subject == "Community Care Network: 1 open problem in the sheet"
    assert f'signups row 10, column Email Address: "{REJECTED}"' in text
    assert "Community Support Conversation (ccs-2026-12-02)" in text
    assert "12 of 12 seats taken, 2 on the waitlist" in text
    assert len(sink.to(ORGANIZERS[0])) == len(sink.to(ORGANIZERS[1]))
    assert quiet == first, "nothing new: no second note, that day or the next"
    assert len(later) == 2 and "2 open problems" in later[1][0]


def test_a_session_moved_to_last_week_is_on_the_tab_and_mailed_once(site):
    sink = SmtpSink()
    move_sessions(site, -14)
    with SmtpServer(sink) as server:
        with_organizers(site, server)
        site.mailer("run", "signups")
        site.mailer("run", "signups", now=NOW + timedelta(days=1))

    problems = [row for row in mailer_tab(site) if row["What"] == "problem"]
    events_rows = [p for p in problems if p["Job or tab"] == "events"]
    assert [(p["Row"], p["Column"]) for p in events_rows] == [("2", "starts_at")]
    assert events_rows[0]["Value"].startswith(f"{NOW - timedelta(days=6):%Y-%m-%d}")
    [(_, text)] = organizer_mail(sink)
    assert text.count("events row 2, column starts_at") == 1
    assert all(not (set(m.recipients) - set(ORGANIZERS)) for m in sink.received)


def test_a_transport_refusing_every_message_for_an_hour_is_mailed_once_then_its_recovery(site):
    sink = Refusing(refusing=True)
    with SmtpServer(sink) as server:
        with_organizers(site, server)
        fix_rejected_row(site)  # no problem note: only the failure speaks
        outputs = [
            site.mailer("run", "signups", now=NOW + timedelta(minutes=minutes)).output
            for minutes in (0, 20, 40, 60, 80)
        ]
        failing = organizer_mail(sink)
        sink.refusing = False
        site.mailer("run", "signups", now=NOW + timedelta(minutes=100))
        site.mailer("run", "signups", now=NOW + timedelta(minutes=120))
        after = organizer_mail(sink)

    assert all("15 to retry" in output for output in outputs), outputs
    [(subject, text)] = failing
    assert subject.startswith("Community Care Network: the signups job has been failing since")
    assert "refused every message" in text
    assert [s for s, _ in after[1:]] == ["Community Care Network: the signups job works again"]
    assert len([m for m in sink.received if set(m.recipients) - set(ORGANIZERS)]) == 15


class PingStandIn:
    """A monitoring service on loopback: records the path of every GET."""

    def __init__(self):
        self.paths: list[str] = []
        paths = self.paths

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                paths.append(self.path)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"OK")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/ping/abc-123"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_each_run_pings_start_and_success_and_a_failed_run_pings_fail(site):
    with PingStandIn() as pings:
        site.config.write_text(site.config.read_text() + f'\n[monitor]\nping_url = "{pings.url}"\n')
        site.mailer("run")
        site.mailer("run", now=NOW + timedelta(minutes=5))
        (site.root / "lists" / "events.csv").write_bytes(b"\x00\x01\x02" * 50)
        failed = site.mailer("run", now=NOW + timedelta(minutes=10))

    assert failed.exit_code == 1
    assert pings.paths == ["/ping/abc-123/start", "/ping/abc-123"] * 2 + [
        "/ping/abc-123/start",
        "/ping/abc-123/fail",
    ]


def test_a_ping_that_cannot_be_delivered_never_fails_the_run(site, caplog):
    dead = "http://127.0.0.1:9/nothing-listens-here"
    site.config.write_text(site.config.read_text() + f'\n[monitor]\nping_url = "{dead}"\n')

    result = site.mailer("run", "signups")

    assert result.exit_code == 0, result.output
    assert len(site.sent()) == 14
    assert "monitor ping 'start' did not go through" in caplog.text


def test_no_full_address_in_logs_run_files_or_status(site, caplog):
    caplog.set_level(logging.DEBUG)
    sink = Refusing(refusing=True)
    with SmtpServer(sink) as server:
        with_organizers(site, server)
        for minutes in (0, 30, 61):
            site.mailer("run", now=NOW + timedelta(minutes=minutes))
        status = site.mailer("status").output
    assert organizer_mail(sink), "the organizers heard"

    files = {
        name: data.decode("utf-8", "replace")
        for name, data in site.files().items()
        if name.startswith("state/") and not name.startswith("state/mailer.db")
    }
    everyone = [*ORGANIZERS, REJECTED, *(row["Email Address"] for row in site.rows())]
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("mailer"))
    for text in [logged, status, *files.values()]:
        for address in everyone:
            assert address.lower() not in text.lower()
    assert "s***@example.org" in status or "***@example.org" in "".join(files.values())


def test_the_mailer_tab_is_added_to_a_google_sheet_and_rewritten_whole(sheet):  # noqa: F811
    site = sheet.open()
    jobs = [j for j in config.load_jobs(site.settings) if j.kind == "signups"]

    list(run_jobs(site, jobs, NOW, notify=True))

    grid = sheet.sheets.tabs["Mailer"].grid
    assert grid[0][:3] == ["What", "Job or tab", "Row"]
    assert grid[2][:4] == ["problem", FORM_TAB, "10", "Email Address"]
    writes = [c for c in sheet.sheets.api_calls("POST") if c.path.endswith("values:batchUpdate")]
    assert [d["range"] for d in writes[-1].body["data"]] == ["'Mailer'!A1"]

    tab = sheet.sheets.tabs[FORM_TAB]
    email = tab.grid[0].index("Email Address")
    tab.grid[9][email] = "chris.doe@example.org"
    list(run_jobs(sheet.open(), jobs, NOW + timedelta(minutes=5), notify=True))

    rows = [row for row in sheet.sheets.tabs["Mailer"].grid if any(row)]
    assert [row[0] for row in rows] == ["What", "last run", ""]
    assert rows[-1][5] == "No open problems."


def test_no_send_writes_the_mailer_tab_but_mails_no_organizer(site):
    sink = SmtpSink()
    with SmtpServer(sink) as server:
        with_organizers(site, server)
        site.mailer("run", "signups", "--no-send")

    assert sink.received == []
    assert [row["Row"] for row in mailer_tab(site) if row["What"] == "problem"] == ["10"]


def test_state_keeps_problems_masked_and_their_reasons_readable(site):
    site.mailer("run", "signups")

    state = (site.root / "state" / "organizers.json").read_text()

    assert '"value": "c***@example.org"' in state
    assert "The part after the @-sign contains invalid characters" in state
