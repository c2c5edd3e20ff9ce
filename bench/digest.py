"""The digest at scale: 10,000 and 100,000 subscribers.

Prints, per size: time to decide the slot (read the workbook, render the one
body, stream every recipient into the ledger), time per message to send,
peak memory, and the HTTP requests made when the digest goes through the
real SendGrid SDK to a local stand-in. Run with `.venv/bin/python bench/digest.py`
(`--transport outbox` to write .eml files instead).
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from mail_servers import SendgridStandIn  # noqa: E402

from mailer.jobs.runner import run_job  # noqa: E402
from mailer.ledger.sqlite import Ledger  # noqa: E402
from mailer.sending.delivery import deliver  # noqa: E402
from mailer.sending.transports.sendgrid import SendgridTransport  # noqa: E402
from mailer.settings import config  # noqa: E402
from mailer.site import Site  # noqa: E402
from mailer.tools.sample import write_sample  # noqa: E402

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def build_site(root: Path, subscribers: int) -> Path:
    shutil.copy(REPO / "mailer.toml", root / "mailer.toml")
    shutil.copytree(REPO / "templates", root / "templates")
    shutil.copytree(REPO / "jobs", root / "jobs")
    write_sample(config.load(root / "mailer.toml"), NOW)
    with open(root / "lists" / "subscribers.csv", "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["email", "name", "subscribed_on", "unsubscribed_on"])
        for i in range(subscribers):
            out.writerow([f"reader{i}@example.org", f"Reader {i}", "2026-01-01", ""])
    return root / "mailer.toml"


def measure(subscribers: int, transport: str) -> dict[str, float]:
    """One size, in this process: times untraced, then the process's peak RSS."""
    with tempfile.TemporaryDirectory() as tmp, SendgridStandIn(keep_bodies=False) as stand_in:
        settings = config.load(build_site(Path(tmp), subscribers))
        site = Site.from_settings(settings)
        if transport == "sendgrid":
            site.transport = SendgridTransport(
                config.SendgridSettings(host=stand_in.url), environ={"SENDGRID_API_KEY": "SG.x"}
            )
        job = next(j for j in config.load_jobs(settings) if j.kind == "digest")
        ledger = Ledger(settings.ledger.path)
        start = time.perf_counter()
        report = run_job(site, ledger, job, NOW, send=False)
        decide = time.perf_counter() - start
        decide_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start = time.perf_counter()
        sent = deliver(ledger, site.transport, NOW)
        send = time.perf_counter() - start
        ledger.close()
        return {
            "recipients": report.recipients,
            "sent": sent["sent"],
            "decide_s": decide,
            "send_ms_per_message": 1000 * send / max(sent["sent"], 1),
            "decide_rss_mib": decide_rss,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "requests": len(stand_in.requests),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--transport", choices=("sendgrid", "outbox"), default="sendgrid")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.transport)))
        return
    print(
        f"digest through {args.transport}; each size in a fresh process (peak RSS includes Python)"
    )
    heads = ("subscribers", "decide", "RSS after decide", "send/msg", "peak RSS", "requests")
    widths = (12, 8, 17, 9, 9, 9)
    print(" ".join(f"{h:>{w}}" for h, w in zip(heads, widths, strict=True)))
    for size in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(size), "--transport", args.transport],
            capture_output=True,
            text=True,
            check=True,
        )
        m = json.loads(out.stdout)
        print(
            f"{m['recipients']:>12,} {m['decide_s']:>7.2f}s {m['decide_rss_mib']:>13.0f} MiB"
            f" {m['send_ms_per_message']:>7.2f}ms {m['peak_rss_mib']:>5.0f} MiB"
            f" {m['requests'] if args.transport == 'sendgrid' else '':>9}"
            + (f" (ceil(n/1,000) = {-(-m['recipients'] // 1000)})" if m["requests"] else "")
        )
    print("decide: read the workbook, render the one body (MJML compiled once), stream every")
    print("recipient into the ledger; send/msg: fill in the person and deliver, per message")


if __name__ == "__main__":
    main()
