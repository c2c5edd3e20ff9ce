"""Sending 10,000 messages: outbox, SMTP (with a fresh-connection baseline), SendGrid.

Every message is the sample confirmation (HTML, plain text, .ics invitation)
with its own recipient, queued in a real ledger and sent by the real send
loop, which stores each outcome as it comes. Each transport runs in a fresh
process so peak memory is its own. SMTP goes to aiosmtpd's Sink in another
process on loopback; SendGrid goes through the SDK to a local stand-in that
answers each request after 50 ms. Then bench/kills.py: per SIGKILL during an
SMTP and a SendGrid send, how many messages went twice, were lost, or were
left unknown. Run with `.venv/bin/python bench/send.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import smtplib
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import kills  # noqa: E402
from mail_servers import SendgridStandIn, free_port, wait_for_port  # noqa: E402

from mailer.jobs.runner import run_job  # noqa: E402
from mailer.ledger.sqlite import Ledger  # noqa: E402
from mailer.mail.message import SENT, Body, Draft, OutgoingMessage, SendResult  # noqa: E402
from mailer.mail.mime import mime_bytes  # noqa: E402
from mailer.sending.delivery import deliver  # noqa: E402
from mailer.sending.transports.outbox import OutboxTransport  # noqa: E402
from mailer.sending.transports.sendgrid import SendgridTransport  # noqa: E402
from mailer.sending.transports.smtp import SmtpTransport  # noqa: E402
from mailer.settings import config  # noqa: E402
from mailer.settings.config import SendgridSettings, SmtpSettings  # noqa: E402
from mailer.site import Site  # noqa: E402
from mailer.tools.sample import write_sample  # noqa: E402

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
TRANSPORTS = ("outbox", "smtp", "smtp-baseline", "smtp-tls", "smtp-tls-baseline", "sendgrid")
LOGIN = ("bench", "bench-password")


class FreshConnectionSmtp:
    """The baseline: what a naive sender does, one smtplib connection per message."""

    name = "smtp-baseline"
    batch_size = 500

    def __init__(self, settings: SmtpSettings):
        self.settings = settings

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> FreshConnectionSmtp:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def send(self, messages: Sequence[OutgoingMessage]) -> Iterator[SendResult]:
        s = self.settings
        for message in messages:
            with smtplib.SMTP(s.host, s.port, timeout=30) as smtp:
                if s.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context(cafile=str(s.ca_file)))
                    smtp.login(*LOGIN)
                data = mime_bytes(message)
                smtp.sendmail(message.sender_email, [message.to_email], data)
            yield SendResult(message.key, SENT)


def serve_smtp(port: int, folder: Path) -> None:
    """aiosmtpd with STARTTLS and a login, discarding what it gets; runs until killed."""
    import trustme
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink
    from aiosmtpd.smtp import AuthResult

    authority = trustme.CA()
    authority.cert_pem.write_to_path(str(folder / "ca.pem"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(context)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (auth_data.login.decode(), auth_data.password.decode()) == LOGIN
        return AuthResult(success=ok, handled=False)

    controller = Controller(
        Sink(),
        hostname="127.0.0.1",
        port=port,
        server_hostname="localhost",
        tls_context=context,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    controller.start()
    (folder / "ready").touch()
    while True:
        time.sleep(3600)


def confirmation_body(root: Path) -> Body:
    """The sample site's member confirmation, as the signups job stores it."""
    shutil.copy(REPO / "mailer.toml", root / "mailer.toml")
    shutil.copytree(REPO / "templates", root / "templates")
    settings = config.load(root / "mailer.toml")
    write_sample(settings, NOW)
    with Ledger(settings.ledger.path) as ledger:
        run_job(Site.from_settings(settings), ledger, config.SIGNUPS_JOB, NOW, send=False)
        (text,) = ledger.db.execute(
            "SELECT b.body FROM bodies b JOIN messages m ON m.body_id = b.id"
            " WHERE m.kind = 'confirmation' LIMIT 1"
        ).fetchone()
    return Body.from_json(text)


def queue(ledger: Ledger, body: Body, count: int) -> None:
    ledger.add(
        Draft(
            key=f"confirmation:bench:person{i}@example.org",
            kind="confirmation",
            event_id="bench",
            to_email=f"person{i}@example.org",
            to_name=f"Person {i}",
            created_at=NOW,
            body=body,
            person={"name": f"Person {i}", "first_name": "Person", "email": f"person{i}@..."},
        )
        for i in range(count)
    )


def measure(kind: str, count: int, ports: dict[str, int], folder: Path) -> dict[str, float]:
    plain = SmtpSettings("127.0.0.1", ports["plain"], security="none")
    tls = SmtpSettings("localhost", ports["tls"], "bench", "starttls", ca_file=folder / "ca.pem")
    with tempfile.TemporaryDirectory() as tmp:
        body = confirmation_body(Path(tmp))
        ledger = Ledger(Path(tmp) / "bench.db")
        queue(ledger, body, count)
        stand_in = None
        if kind == "outbox":
            transport = OutboxTransport(Path(tmp) / "outbox")
        elif kind == "smtp":
            transport = SmtpTransport(plain)
        elif kind == "smtp-baseline":
            transport = FreshConnectionSmtp(plain)
        elif kind == "smtp-tls":
            transport = SmtpTransport(tls, environ={"SMTP_PASSWORD": LOGIN[1]})
        elif kind == "smtp-tls-baseline":
            transport = FreshConnectionSmtp(tls)
        else:
            stand_in = SendgridStandIn(delay=0.05, keep_bodies=False).__enter__()
            transport = SendgridTransport(
                SendgridSettings(host=stand_in.url), environ={"SENDGRID_API_KEY": "SG.bench"}
            )
        start, cpu = time.perf_counter(), time.process_time()
        outcome = deliver(ledger, transport, NOW)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
        ledger.close()
        if stand_in:
            stand_in.__exit__(None, None, None)
        return {
            "sent": outcome[SENT],
            "per_second": outcome[SENT] / elapsed,
            # The sender's own work: steadier than msg/s on a machine others share.
            "cpu_ms": cpu * 1000 / max(outcome[SENT], 1),
            "seconds": elapsed,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "requests": len(stand_in.requests) if stand_in else 0,
            "message_kb": len(mime_bytes(next(iter(ledger_sample(body))))) / 1024,
        }


def ledger_sample(body: Body) -> Iterator[OutgoingMessage]:
    yield Draft("k", "confirmation", "bench", "p@example.org", "P", NOW, body).message()


def start_servers(folder: Path) -> tuple[dict[str, int], list[subprocess.Popen]]:
    ports = {"plain": free_port(), "tls": free_port()}
    quiet = {**os.environ, "PYTHONWARNINGS": "ignore"}
    servers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                f"127.0.0.1:{ports['plain']}",
                "-c",
                "aiosmtpd.handlers.Sink",
            ],
            env=quiet,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [sys.executable, __file__, "--serve-smtp", str(ports["tls"]), "--folder", str(folder)],
            env=quiet,
            stderr=subprocess.DEVNULL,
        ),
    ]
    wait_for_port(ports["plain"])
    deadline = time.monotonic() + 20
    while not (folder / "ready").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return ports, servers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--kills", type=int, default=10, help="kills per transport (0: none)")
    parser.add_argument("--transports", nargs="+", choices=TRANSPORTS, default=TRANSPORTS)
    parser.add_argument("--one", choices=TRANSPORTS, help=argparse.SUPPRESS)
    parser.add_argument("--ports", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--serve-smtp", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_smtp:
        serve_smtp(args.serve_smtp, args.folder)
        return
    if args.one:
        print(json.dumps(measure(args.one, args.count, json.loads(args.ports), args.folder)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        ports, servers = start_servers(Path(tmp))
        try:
            report(args, ports, Path(tmp))
        finally:
            for server in servers:
                server.terminate()
                server.wait()
    if args.kills:
        print()
        kills.report(2000, args.kills)


def report(args: argparse.Namespace, ports: dict[str, int], folder: Path) -> None:
    print(f"{args.count:,} confirmations each, sent by the real send loop into a real ledger;")
    print("one fresh process per transport; SMTP to aiosmtpd on loopback in another process")
    print(
        f"{'transport':<18} {'msg/s':>8} {'time':>8} {'CPU/msg':>8} {'peak RSS':>9}"
        f" {'HTTP requests':>14}"
    )
    rates = {}
    for kind in args.transports:
        command = [
            sys.executable,
            __file__,
            "--one",
            kind,
            "--count",
            str(args.count),
            "--ports",
            json.dumps(ports),
            "--folder",
            str(folder),
        ]
        m = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
        assert m["sent"] == args.count, m
        rates[kind] = m["per_second"]
        requests = f"{m['requests']:>14,}" if kind == "sendgrid" else ""
        print(
            f"{kind:<18} {m['per_second']:>8,.0f} {m['seconds']:>7.1f}s {m['cpu_ms']:>6.2f}ms"
            f" {m['peak_rss_mib']:>5.0f} MiB{requests}"
        )
    print(f"each message {m['message_kb']:.1f} KB (HTML, plain text, .ics)")
    for fast, slow in (("smtp", "smtp-baseline"), ("smtp-tls", "smtp-tls-baseline")):
        if fast in rates and slow in rates:
            print(f"{fast}: one connection per batch is {rates[fast] / rates[slow]:.1f}x {slow}")
    if "sendgrid" in rates:
        print(
            "SendGrid: each confirmation's invitation names its own recipient and SendGrid"
            f" fills nothing in attachments, so {args.count:,} requests are expected; messages"
            " without one (the digest) go 1,000 to a request (bench/digest.py)"
        )


if __name__ == "__main__":
    main()
