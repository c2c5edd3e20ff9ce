"""`mailer serve` as a person starts it: the command itself, on the sample site.

One `mailer serve` answers the visits of the module (each start costs 0.7 s of CPU);
the test of how a service manager stops it starts one of its own.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest
from conftest import SiteDir
from mail_servers import free_port, wait_for_port

SLOW_CLIENTS = 150


@dataclass
class Serving:
    """A running `mailer serve`: its port, and what it printed before its first answer."""

    port: int
    said: str


@pytest.fixture(scope="module")
def serving(sample_site: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serving]:
    """A real `mailer serve` process on a copy of the sample site and a loopback port."""
    root = tmp_path_factory.mktemp("served") / "site"
    shutil.copytree(sample_site, root)
    port = free_port()
    server = subprocess.Popen(
        SiteDir(root).command("serve", "--host", "127.0.0.1", "--port", str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert server.stdout is not None
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).close()
                break
            except OSError:
                assert server.poll() is None, server.stdout.read().decode()
                assert time.monotonic() < deadline, "mailer serve did not answer"
                time.sleep(0.1)
        yield Serving(port, printed(server.stdout))
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stdout.close()


def printed(pipe: IO[bytes]) -> str:
    """What a running process has written to its pipe so far, without waiting for more."""
    os.set_blocking(pipe.fileno(), False)
    return (pipe.read() or b"").decode()


def get(port: int, path: str, timeout: float) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def slow_client(port: int, number: int) -> socket.socket:
    """A visitor that starts a request and never finishes it: headers or a body cut short."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=5)
    if number % 2:
        connection.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    else:
        connection.sendall(
            b"POST /unsubscribe/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 9000\r\n\r\nx="
        )
    return connection


def test_mailer_serve_starts_and_answers(serving):
    status, page = get(serving.port, "/", timeout=5)

    assert status == 200 and "Community Care Network" in page


def test_mailer_serve_names_every_page_it_serves(serving):
    said = serving.said

    assert f"Serving on http://127.0.0.1:{serving.port}/ (Ctrl-C stops):" in said
    for route in ("GET        /", "GET, POST  /unsubscribe/<token>", "POST       /sendgrid/events"):
        assert f"\n  {route}\n" in said
    assert "/seat/<token>" in said


def test_pages_answer_within_a_second_while_150_slow_clients_hang(serving):
    port = serving.port
    with ExitStack() as hanging:
        for number in range(SLOW_CLIENTS):
            hanging.callback(slow_client(port, number).close)
        wait_for_port(port)

        home = get(port, "/", timeout=1)
        made_up = get(port, "/seat/" + "A" * 32, timeout=1)
        unsubscribe = get(port, "/unsubscribe/" + "B" * 32, timeout=1)

    assert home[0] == 200
    assert made_up[0] == 404 and "This link is not valid" in made_up[1]
    assert unsubscribe[0] == 404


def test_sigterm_stops_serve_at_once_as_a_service_manager_asks(site):
    """`podman stop` and `systemctl stop` send SIGTERM: serve ends cleanly, not by its default."""
    port = free_port()
    server = subprocess.Popen(
        site.command("serve", "--host", "127.0.0.1", "--port", str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, seconds=20)
        assert get(port, "/healthz", timeout=5)[0] == 200
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=5)
    finally:
        server.kill()
    said = server.stdout.read().decode() if server.stdout else ""

    assert code == 0, said
    assert said.rstrip().endswith("Stopped."), said
    assert "Traceback" not in said
