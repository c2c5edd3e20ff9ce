"""`mailer serve` as a person starts it: the command itself, on the sample site."""

from __future__ import annotations

import subprocess
import time
import urllib.request

from mail_servers import free_port


def test_mailer_serve_starts_and_answers(site):
    port = free_port()
    server = subprocess.Popen(
        site.command("serve", "--host", "127.0.0.1", "--port", str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as answer:
                    page = answer.read().decode()
                break
            except OSError:
                assert server.poll() is None, server.stdout.read().decode()
                assert time.monotonic() < deadline, "mailer serve did not answer"
                time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert "Community Care Network" in page
    said = server.stdout.read().decode()
    assert f"Serving on http://127.0.0.1:{port}/ (Ctrl-C stops):" in said
    for route in ("GET        /", "GET, POST  /unsubscribe/<token>", "POST       /sendgrid/events"):
        assert f"\n  {route}\n" in said
    assert "/seat/<token>" in said
