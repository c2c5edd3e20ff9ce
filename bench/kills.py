"""SIGKILL during a send: per kill, how many messages went twice, were lost, or were left unknown.

A child process runs the real send loop over a real ledger; the parent kills
it at a random moment mid-send, again and again, then lets one run finish.
The servers count what they accepted, by message: SMTP is aiosmtpd in another
process; SendGrid is the stand-in, answering each request after 0.2 s, so a
kill often lands while a request is in flight. Run through bench/send.py, or
alone: `.venv/bin/python bench/kills.py`.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from mail_servers import SendgridStandIn, free_port, wait_for_port  # noqa: E402

from mailer.ledger.sqlite import Ledger  # noqa: E402
from mailer.mail.message import Body, Draft  # noqa: E402
from mailer.sending.delivery import deliver  # noqa: E402
from mailer.sending.transports.sendgrid import SendgridTransport  # noqa: E402
from mailer.sending.transports.smtp import SmtpTransport  # noqa: E402
from mailer.settings.config import SendgridSettings, SmtpSettings  # noqa: E402

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
BODY = Body(
    subject="You're confirmed, %%mailer:first_name%%",
    html="<p>Dear %%mailer:name%%, your seat is held.</p>" + "<p>details</p>" * 200,
    text="Dear %%mailer:name%%, your seat is held.\n" + "details\n" * 200,
    sender_email="sessions@example.org",
    sender_name="Community Care Network",
)


def queue(ledger: Ledger, count: int) -> None:
    ledger.add(
        Draft(
            key=f"confirmation:bench:person{i:05d}@example.org",
            kind="confirmation",
            event_id="bench",
            to_email=f"person{i:05d}@example.org",
            to_name=f"Person {i}",
            created_at=NOW,
            body=BODY,
            person={"name": f"Person {i}", "first_name": "Person"},
        )
        for i in range(count)
    )


def child(kind: str, ledger_path: Path, target: str) -> None:
    """One run of the send loop, as `mailer run` would do it (until killed)."""
    if kind == "smtp":
        transport = SmtpTransport(SmtpSettings("127.0.0.1", int(target), security="none"))
    else:
        transport = SendgridTransport(
            SendgridSettings(host=target), environ={"SENDGRID_API_KEY": "SG.bench"}
        )
    ledger = Ledger(ledger_path)
    deliver(ledger, transport, NOW)
    ledger.close()


def serve_smtp(port: int, log: Path) -> None:
    """aiosmtpd that appends each accepted recipient to `log`, flushed before it answers."""
    from aiosmtpd.controller import Controller

    out = open(log, "a", encoding="utf-8")  # noqa: SIM115 - held for the server's life

    class Recorder:
        async def handle_DATA(self, server, session, envelope):
            out.write("".join(f"{r}\n" for r in envelope.rcpt_tos))
            out.flush()
            return "250 2.0.0 queued"

    Controller(Recorder(), hostname="127.0.0.1", port=port).start()
    while True:
        time.sleep(3600)


def run_kills(kind: str, count: int, kills: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        ledger_path = Path(tmp) / "bench.db"
        ledger = Ledger(ledger_path)
        queue(ledger, count)
        ledger.close()
        accepted, target, stop = _server(kind, Path(tmp))
        try:
            done = 0
            while done < kills:
                if _run_and_kill(kind, ledger_path, target, accepted, rng):
                    done += 1
                else:
                    break
            _run_and_kill(kind, ledger_path, target, accepted, None)
            copies = accepted()
        finally:
            stop()
        ledger = Ledger(ledger_path)
        unknown = {m.email for m in ledger.messages(("unknown",))}
        ledger.close()
    everyone = {f"person{i:05d}@example.org" for i in range(count)}
    twice = sum(1 for n in copies.values() if n > 1)
    lost = len(everyone - set(copies) - unknown)
    return {
        "kills": done,
        "twice": twice / max(done, 1),
        "lost": lost / max(done, 1),
        "unknown": len(unknown) / max(done, 1),
        "unknown_not_arrived": len(unknown - set(copies)) / max(done, 1),
    }


def _server(kind: str, folder: Path):
    """Start the counting server; returns (copies by address, target, stop)."""
    if kind == "smtp":
        port, log = free_port(), folder / "accepted.txt"
        log.touch()
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve-smtp", str(port), "--log", str(log)],
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(port)

        def accepted() -> Counter:
            return Counter(log.read_text().split())

        def stop() -> None:
            server.terminate()
            server.wait()

        return accepted, str(port), stop
    stand_in = SendgridStandIn(delay=0.2, keep_bodies=True).__enter__()

    def copies() -> Counter:
        with stand_in.lock:
            return Counter(to["email"] for p in stand_in.personalizations for to in p["to"])

    return copies, stand_in.url, lambda: stand_in.__exit__(None, None, None)


def _run_and_kill(kind, ledger_path, target, accepted, rng: random.Random | None) -> bool:
    """Start a child; kill it after a random number of new acceptances. False if it finished."""
    before = sum(accepted().values())
    command = [sys.executable, __file__, "--child", kind, "--ledger", str(ledger_path)]
    run = subprocess.Popen([*command, "--target", target], stderr=subprocess.DEVNULL)
    if rng is None:
        run.wait()
        return False
    goal = before + (rng.randint(1, 40) if kind == "smtp" else 1)
    deadline = time.monotonic() + 60
    while sum(accepted().values()) < goal and run.poll() is None:
        if time.monotonic() > deadline:
            break
        time.sleep(0.002)
    if kind == "sendgrid":
        time.sleep(rng.uniform(0, 0.15))  # somewhere inside the 0.2 s the request takes
    if run.poll() is not None:
        return False
    run.send_signal(signal.SIGKILL)
    run.wait()
    return True


def report(count: int, kills: int) -> None:
    print(f"SIGKILL mid-send, {kills} kills, then one run to the end (SMTP: {count:,} messages):")
    print(f"{'transport':<10} {'sent twice':>11} {'lost':>6} {'left unknown':>13}  per kill")
    for kind in ("smtp", "sendgrid"):
        # SendGrid takes 1,000 a request: enough requests for every kill to land in one.
        messages = count if kind == "smtp" else max(count, 1000 * (kills + 2))
        f = run_kills(kind, messages, kills, seed=7)
        print(
            f"{kind:<10} {f['twice']:>11.2f} {f['lost']:>6.2f} {f['unknown']:>13.2f}"
            f"  ({f['kills']} kills; {f['unknown_not_arrived']:.2f} of the unknown never arrived)"
        )
    print("an unknown message is not sent again until SendGrid's webhook or an organizer settles")
    print("it (time-critical ones go again after an hour); SendGrid's unknowns are whole requests")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--ledger", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    parser.add_argument("--serve-smtp", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_smtp:
        serve_smtp(args.serve_smtp, args.log)
    elif args.child:
        child(args.child, args.ledger, args.target)
    else:
        report(args.count, args.kills)


if __name__ == "__main__":
    main()
