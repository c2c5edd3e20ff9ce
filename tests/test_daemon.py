"""`mailer daemon` as a real process, and the schedule arithmetic it relies on."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import NOW, SiteDir
from mail_servers import SmtpServer, SmtpSink

from mailer.core.redact import RedactingFormatter
from mailer.rules.schedules import LastRun, check_every, is_due, next_run
from mailer.settings.config import JobSettings, load_jobs

CHICAGO = ZoneInfo("America/Chicago")


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def logged(text: str) -> list[tuple[datetime, str]]:
    """The daemon's log lines with the moment each was written (its asctime)."""
    lines = []
    for line in text.splitlines():
        try:
            lines.append((datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f"), line[24:]))
        except ValueError:
            continue  # a traceback's continuation, say
    return lines


def stopped_after(text: str, signal_name: str) -> float:
    """Seconds from the signal, or from the end of the job it let finish, to 'daemon stopped'.

    Read off the daemon's own log times, so a loaded machine's slow job or slow
    process exit does not count against it: only what the daemon did after.
    """
    lines = logged(text)
    received = next(i for i, (_, line) in enumerate(lines) if f"{signal_name} received" in line)
    stopped = next(i for i, (_, line) in enumerate(lines) if line.endswith("daemon stopped"))
    finishing = [at for at, line in lines[received + 1 : stopped] if "retention:" not in line]
    assert len(finishing) <= 1, f"jobs ran after the signal: {lines[received:stopped]}"
    return (lines[stopped][0] - max([lines[received][0], *finishing])).total_seconds()


def quick_jobs(site: SiteDir) -> None:
    """Signups every 2 seconds; reminders every second with a template that does not exist.

    The session starts in ten hours, and its seats were decided two days ago but
    not sent yet: the daemon sends the confirmations, and a 24-hour reminder is
    due (it fails, for want of its template).
    """
    jobs = site.root / "jobs"
    for path in jobs.glob("*.toml"):
        path.unlink()
    (jobs / "signups.toml").write_text('kind = "signups"\nevery = "2 seconds"\n')
    (jobs / "reminders.toml").write_text(
        'kind = "reminders"\nevery = "1 second"\n\n[options]\ntemplate = "no-such-template"\n'
    )
    events = site.rows("events")
    soon = datetime.now(CHICAGO).replace(second=0, microsecond=0) + timedelta(hours=10)
    events[0]["starts_at"] = f"{soon:%Y-%m-%d %H:%M}"
    events[0]["ends_at"] = f"{soon + timedelta(minutes=90):%Y-%m-%d %H:%M}"
    site.write_rows("events", events)
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    decided = site.mailer("run", "signups", "--no-send", now=two_days_ago)
    assert decided.exit_code == 0, decided.output


@pytest.mark.parametrize(
    "stop",
    [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)],  # Ctrl-C: test-all
    ids=["SIGTERM", "SIGINT"],
)
def test_daemon_sends_survives_a_failing_job_and_stops_on_a_signal(site, tmp_path: Path, stop):
    quick_jobs(site)
    log_path = tmp_path / "daemon.log"
    with open(log_path, "wb") as log:
        daemon = subprocess.Popen(
            site.command("daemon"),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: len(site.sent()) >= 14)
        wait_for(lambda: log_path.read_text().count("reminders: failed") >= 2)
        daemon.send_signal(stop)
        code = daemon.wait(timeout=10)
    finally:
        daemon.kill()

    text = log_path.read_text()
    assert code == 0, text
    took = stopped_after(text, stop.name)
    assert took < 1.0, f"took {took:.1f} s to stop"
    assert "signups: 0 new, 14 sent, 1 row rejected" in text
    assert "no-such-template" in text
    assert f"{stop.name} received; finishing the running job" in text
    assert text.rstrip().endswith("daemon stopped")
    assert len({line["key"] for line in site.sent()}) == len(site.sent()) == 14
    runs = site.job_runs()
    assert runs["signups"].ok is True and runs["reminders"].ok is False
    assert "@example.org" not in text.replace("sessions@example.org", "")


class SlowSink(SmtpSink):
    """An SMTP server that takes a while over each message, so a job is still running."""

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(0.15)
        return await super().handle_DATA(server, session, envelope)


def test_a_signal_in_the_middle_of_a_job_lets_it_finish_then_the_daemon_exits(site, tmp_path):
    quick_jobs(site)
    (site.root / "jobs" / "reminders.toml").unlink()
    sink = SlowSink()
    log_path = tmp_path / "daemon.log"
    with SmtpServer(sink) as server:
        site.use_transport("smtp", host="127.0.0.1", port=server.port, security="none")
        with open(log_path, "wb") as log:
            daemon = subprocess.Popen(site.command("daemon"), stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: len(sink.received) >= 1)
            daemon.send_signal(signal.SIGTERM)
            wait_for(lambda: len(sink.received) >= 14)
            code = daemon.wait(timeout=10)
        finally:
            daemon.kill()

    text = log_path.read_text()
    assert code == 0, text
    assert len(sink.received) == 14, "the running job sent everything it had decided"
    assert text.index("SIGTERM received") < text.index("signups: 0 new, 14 sent")
    assert text.rstrip().endswith("daemon stopped")
    took = stopped_after(text, "SIGTERM")
    assert took < 1.0, f"took {took:.1f} s to stop after the job finished"


def test_a_crash_is_logged_without_addresses_or_secrets():
    formatter = RedactingFormatter("%(levelname)s %(message)s", {"SMTP_PASSWORD": "hunter2-x9"})
    try:
        raise RuntimeError("maya.okafor@example.org refused; logged in with hunter2-x9")
    except RuntimeError:
        record = logging.LogRecord(
            "mailer.daemon", logging.ERROR, __file__, 1, "%s: crashed", ("signups",), sys.exc_info()
        )

    text = formatter.format(record)

    assert text.startswith("ERROR signups: crashed\nTraceback")
    assert "RuntimeError: m***@example.org refused; logged in with [secret]" in text
    assert "maya.okafor" not in text and "hunter2" not in text


def test_the_run_log_keeps_no_address_or_secret_a_failure_quoted(site, monkeypatch):
    monkeypatch.setenv("MAILER_SECRET", "s3cret-value-for-tokens")
    signups = next(j for j in load_jobs(site.settings()) if j.kind == "signups")
    failure = "maya.okafor@example.org refused, token s3cret-value-for-tokens"
    site.record_run(signups, NOW, False, failure)

    result = site.mailer("jobs", "--json", now=NOW + timedelta(minutes=2))

    summary = json.loads(result.output)[0]["last_summary"]
    assert summary == "m***@example.org refused, token [secret]"


def test_the_daemon_asks_often_enough_to_stay_on_time():
    def job(every: str) -> JobSettings:
        return JobSettings(kind="signups", every=every, name="signups")

    assert check_every(job("2 seconds")) == timedelta(seconds=1)
    assert check_every(job("5 minutes")) == timedelta(seconds=30)
    assert check_every(job("1 hour")) == timedelta(minutes=1)
    digest = JobSettings(kind="digest", at="monday 09:00", timezone="America/Chicago", name="d")
    assert check_every(digest) == timedelta(seconds=6)


def test_mailer_jobs_lists_each_job_with_its_last_and_next_run(site):
    signups = next(j for j in load_jobs(site.settings()) if j.kind == "signups")
    site.record_run(signups, NOW, True, "14 new, 14 sent, 1 row rejected")

    result = site.mailer("jobs", now=NOW + timedelta(minutes=2))

    assert result.exit_code == 0, result.output
    assert "every 5 minutes" in result.output and "at monday 09:00" in result.output
    assert "Tue Nov 24 09:00 (14 new" in result.output
    assert "Tue Nov 24 09:05 CST" in result.output, "5 minutes after the last run"


def test_mailer_jobs_json_for_scripts(site):
    signups = next(j for j in load_jobs(site.settings()) if j.kind == "signups")
    site.record_run(signups, NOW, False, "sheet unreachable")

    result = site.mailer("jobs", "--json", now=NOW + timedelta(minutes=2))

    jobs = {job["name"]: job for job in json.loads(result.output)}
    assert jobs["signups"]["last_ok"] is False
    assert jobs["signups"]["last_summary"] == "sheet unreachable"
    assert jobs["signups"]["next_run"] == (NOW + timedelta(minutes=5)).isoformat()
    assert jobs["digest"]["schedule"] == "at monday 09:00 (America/Chicago)"


def test_a_run_as_of_another_moment_is_not_recorded_as_a_run(site):
    site.mailer("run", now=NOW + timedelta(days=30))

    assert site.job_runs() == {}


def test_every_job_is_due_when_its_interval_has_passed():
    job = JobSettings(kind="signups", every="5 minutes", name="signups")
    ran = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    last = LastRun(ran, True, "")

    assert is_due(job, None, ran)
    assert not is_due(job, last, ran + timedelta(minutes=4))
    assert is_due(job, last, ran + timedelta(minutes=5))
    assert next_run(job, last, ran + timedelta(minutes=1)) == ran + timedelta(minutes=5)


def test_a_slot_job_is_due_once_per_slot_and_again_after_a_failure():
    job = JobSettings(kind="digest", at="monday 09:00", timezone="America/Chicago", name="digest")
    monday = datetime(2026, 11, 30, 9, 0, tzinfo=CHICAGO)
    done = LastRun(monday + timedelta(minutes=1), True, "")
    failed = LastRun(monday + timedelta(minutes=1), False, "sheet unreachable")

    assert is_due(job, LastRun(monday - timedelta(days=1), True, ""), monday)
    assert not is_due(job, done, monday + timedelta(days=3))
    assert is_due(job, failed, monday + timedelta(minutes=2))
    assert next_run(job, done, monday + timedelta(days=3)) == monday + timedelta(days=7)


def test_a_weekly_slot_keeps_its_wall_clock_time_across_the_clock_change():
    job = JobSettings(kind="digest", at="monday 09:00", timezone="America/Chicago", name="digest")
    before = datetime(2026, 10, 26, 9, 0, tzinfo=CHICAGO)  # CDT, UTC-5
    done = LastRun(before, True, "")

    upcoming = next_run(job, done, before + timedelta(days=1))

    assert upcoming.astimezone(CHICAGO).hour == 9
    assert upcoming.astimezone(UTC).hour == 15  # CST, UTC-6, after November 1
