"""What a seat link costs `mailer serve` with 50,000 seats in the ledger.

Builds a ledger of 100 sessions with 500 seats each, serves it with the same
server and settings as `mailer serve` on a loopback port, and times made-up
tokens (what an attacker sends), a genuine one, and an ordinary page while
16 clients send made-up tokens at once. The baseline is the lookup this
replaced, in the same run: signing every seat until one matches. Run with
`.venv/bin/python bench/seat_links.py [--seats N]`.
"""

from __future__ import annotations

import argparse
import base64
import hmac
import http.client
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mailer.ledger import Ledger, open_ledger  # noqa: E402
from mailer.ledger.records import Decisions, SeatRow  # noqa: E402
from mailer.model import Event, StoredEvent  # noqa: E402
from mailer.rules.self_service import ACTIONS, RELEASE, seat_token  # noqa: E402
from mailer.web.app import create_app  # noqa: E402
from mailer.web.server import create_server  # noqa: E402

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
SECRET = "bench-secret-for-seat-links-0123456789"
GOAL_MS = 10.0
PARALLEL = 16


def build_ledger(path: Path, seats: int, per_event: int = 500) -> tuple[str, str]:
    """A ledger with `seats` seats; returns one seat's (event id, email)."""
    events = []
    rows = []
    for number in range(max(1, seats // per_event)):
        start = NOW + timedelta(days=7 + number)
        event = Event(
            f"e{number}", "Conversation", start, start + timedelta(minutes=90), "UTC", per_event
        )
        events.append(StoredEvent(event))
        rows += [
            SeatRow(event.id, f"person{number}.{i}@example.org", "confirmed", None, i + 2)
            for i in range(min(per_event, seats - len(rows)))
        ]
    with open_ledger(path) as ledger:
        ledger.record(Decisions(events=events, seats=rows))
    return rows[-1].event_id, rows[-1].email


def scan(ledger: Ledger, token: str) -> bool:
    """The lookup before the index: sign every seat and action until one matches."""
    for seat in ledger.seats():
        for action in ACTIONS:
            if hmac.compare_digest(seat_token(SECRET, action, seat.event_id, seat.email), token):
                return True
    return False


def made_up() -> str:
    return base64.urlsafe_b64encode(os.urandom(24)).decode()


def timed_get(port: int, path: str) -> tuple[float, int]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    started = time.perf_counter()
    connection.request("GET", path)
    answer = connection.getresponse()
    answer.read()
    connection.close()
    return (time.perf_counter() - started) * 1000, answer.status


def ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"median {statistics.median(ordered):6.2f} ms, p95 {p95:6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seats", type=int, default=50_000)
    parser.add_argument("--tries", type=int, default=200)
    args = parser.parse_args()
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # the flood queues on purpose
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mailer.db"
        event_id, email = build_ledger(path, args.seats)
        started = time.perf_counter()
        app = create_app(path, SECRET, "Bench", clock=lambda: NOW)
        indexed = time.perf_counter() - started
        server = create_server(app, "127.0.0.1", 0)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        port = server.effective_port
        try:
            report(port, path, event_id, email, args, indexed)
        finally:
            server.close()
            thread.join(timeout=5)


def report(port: int, path: Path, event_id: str, email: str, args, indexed: float) -> None:
    genuine = f"/seat/{seat_token(SECRET, RELEASE, event_id, email)}"
    made = [timed_get(port, f"/seat/{made_up()}") for _ in range(args.tries)]
    real = [timed_get(port, genuine) for _ in range(args.tries // 4)]
    assert {status for _, status in made} == {404} and {s for _, s in real} == {200}
    with open_ledger(path) as ledger:
        baseline = []
        for _ in range(3):
            started = time.perf_counter()
            assert not scan(ledger, made_up())
            baseline.append((time.perf_counter() - started) * 1000)
    with ThreadPoolExecutor(PARALLEL + 1) as pool:
        flood = [pool.submit(timed_get, port, f"/seat/{made_up()}") for _ in range(PARALLEL * 8)]
        ordinary = [timed_get(port, "/")[0] for _ in range(20)]
        [future.result() for future in flood]
    made_ms = [m for m, _ in made]
    print(f"{args.seats:,} seats in the ledger; index built at start in {indexed:.2f} s")
    print(f"made-up token, over HTTP:  {ms(made_ms)}   (goal: under {GOAL_MS:.0f} ms)")
    print(f"genuine token, over HTTP:  {ms([m for m, _ in real])}")
    print(f"baseline, signing every seat per lookup: median {statistics.median(baseline):.0f} ms")
    print(
        f"ordinary page while {PARALLEL} clients send made-up tokens: {ms(ordinary)}"
        " (goal: under 1 s)"
    )
    verdict = "meets" if statistics.median(made_ms) < GOAL_MS else "MISSES"
    print(f"made-up tokens {verdict} the goal")


if __name__ == "__main__":
    main()
