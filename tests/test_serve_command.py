"""`mailer serve` as a person starts it: the command itself, on the sample site."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from mail_servers import free_port, wait_for_port

SLOW_CLIENTS = 150


@contextmanager
def mailer_serve(site, said: list[str] | None = None) -> Iterator[int]:
    """A real `mailer serve` process on a loopback port; stopped on the way out.

    What it printed is added to `said`, when given, once it has stopped.
    """
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
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).close()
                break
            except OSError:
                assert server.poll() is None, server.stdout and server.stdout.read().decode()
                assert time.monotonic() < deadline, "mailer serve did not answer"
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)
        if said is not None and server.stdout is not None:
            said.append(server.stdout.read().decode())


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


def test_mailer_serve_starts_and_answers(site):
    with mailer_serve(site) as port:
        status, page = get(port, "/", timeout=5)

    assert status == 200 and "Community Care Network" in page


def test_mailer_serve_names_every_page_it_serves(site):
    said: list[str] = []
    with mailer_serve(site, said) as port:
        pass

    assert f"Serving on http://127.0.0.1:{port}/ (Ctrl-C stops):" in said[0]
    for route in ("GET        /", "GET, POST  /unsubscribe/<token>", "POST       /sendgrid/events"):
        assert f"\n  {route}\n" in said[0]
    assert "/seat/<token>" in said[0]


def test_pages_answer_within_a_second_while_150_slow_clients_hang(site):
    with mailer_serve(site) as port, ExitStack() as hanging:
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
