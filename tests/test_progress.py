"""Long sends: a line every few seconds when the output is a log, not a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from mailer.cli.progress import SendProgress


def test_a_log_gets_a_line_every_five_seconds_and_one_at_the_end():
    log = io.StringIO()
    clock = iter([0.0, 1.0, 5.5, 6.0, 11.0, 11.5]).__next__
    with SendProgress(Console(file=io.StringIO()), log=log, clock=clock) as progress:
        for done in (500, 1000, 1500, 2000, 2500, 10_000):
            progress(done, 10_000)

    assert log.getvalue().splitlines() == [
        "sending: 1,500 of 10,000 (15%)",
        "sending: 2,500 of 10,000 (25%)",
        "sending: 10,000 of 10,000 (100%)",
    ]


def test_a_short_send_prints_nothing():
    log = io.StringIO()
    with SendProgress(Console(file=io.StringIO()), log=log, clock=lambda: 0.0) as progress:
        for done in range(1, 14):
            progress(done, 14)

    assert log.getvalue() == ""
