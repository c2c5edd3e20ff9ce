"""Health checks a container runtime asks: the daemon's heartbeat, and `mailer serve` /healthz."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from conftest import NOW
from mail_servers import free_port

from mailer.jobs.heartbeat import Beat, read_beat, verdict, write_beat

MINUTE = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("beat", "healthy", "line"),
    [
        (None, False, "unhealthy: no heartbeat: the daemon has not started (mailer daemon)"),
        (
            Beat(NOW - timedelta(seconds=8), 7),
            True,
            "ok: the daemon is waiting for its next job (heartbeat 8 s ago)",
        ),
        (
            Beat(NOW - 5 * MINUTE, 7),
            False,
            "unhealthy: the last heartbeat was 5 min ago, more than 2 min: "
            "the daemon is stuck or gone",
        ),
        (
            Beat(NOW - 20 * MINUTE, 7, job="digest"),
            True,
            "ok: the daemon is running digest (for 20 min)",
        ),
        (
            Beat(NOW - 3 * timedelta(hours=1), 7, job="digest"),
            False,
            "unhealthy: digest has run for 3 h, more than 60 min",
        ),
        (Beat(NOW - MINUTE, 7, stopped=True), False, "unhealthy: the daemon stopped 60 s ago"),
    ],
    ids=["none", "idle", "stale", "long-job", "stuck-job", "stopped"],
)
def test_what_a_heartbeat_says(beat, healthy, line):
    assert verdict(beat, NOW) == (healthy, line)


def test_a_beat_reads_back_as_written(tmp_path):
    beat = Beat(NOW, 4242, job="signups")
    write_beat(tmp_path, beat)

    assert read_beat(tmp_path) == beat
    assert read_beat(tmp_path / "elsewhere") is None


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_mailer_health_follows_a_running_daemon(site):
    before = site.mailer("health", now=None)
    daemon = subprocess.Popen(
        site.command("daemon"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        state = site.root / "state"
        wait_for(lambda: (b := read_beat(state)) is not None and not b.job)
        alive = site.mailer("health", now=None)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0
    finally:
        daemon.kill()
    after = site.mailer("health", now=None)

    assert before.exit_code == 1
    assert before.output == "unhealthy: no heartbeat: the daemon has not started (mailer daemon)\n"
    assert alive.exit_code == 0, alive.output
    assert alive.output.startswith("ok: the daemon is waiting for its next job (heartbeat ")
    assert after.exit_code == 1
    assert after.output.startswith("unhealthy: the daemon stopped ")
    beat = read_beat(state)
    assert beat is not None and beat.at <= datetime.now(UTC)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_healthz_answers_from_the_ledger_and_says_nothing_else(site):
    assert site.mailer("run", "signups").exit_code == 0  # a ledger with people in it
    port = free_port()
    url = f"http://127.0.0.1:{port}/healthz"
    server = subprocess.Popen(
        site.command("serve", "--host", "127.0.0.1", "--port", str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                reachable = get(url)
                break
            except OSError:
                assert server.poll() is None, server.stdout and server.stdout.read().decode()
                assert time.monotonic() < deadline, "mailer serve did not answer"
                time.sleep(0.1)
        checked = site.mailer("health", "--url", url, now=None)
        # The ledger goes away: a folder where its file was cannot be opened.
        ledger = site.root / "state" / "mailer.db"
        ledger.unlink()
        ledger.mkdir()
        lost = get(url)
        unchecked = site.mailer("health", "--url", url, now=None)
        shutil.rmtree(ledger)
    finally:
        server.terminate()
        server.wait(timeout=10)

    assert reachable == (200, "ok\n")
    assert lost == (503, "ledger unreachable\n")
    assert (checked.exit_code, checked.output) == (0, f"ok: {url} answered 200\n")
    assert unchecked.exit_code == 1
    assert unchecked.output == f"unhealthy: {url} answered 503: ledger unreachable\n"
