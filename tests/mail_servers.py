"""Real servers on loopback for the transports to talk to: aiosmtpd, a SendGrid stand-in, pymap.

The first two record what arrived so tests can read it back as a recipient
would; pymap is a real IMAP server whose mailbox a test fills and inspects.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

POLL = 0.05  # seconds between shutdown checks: a test's teardown waits at most this


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, seconds: float = 10) -> None:
    """Return once something listens on `port` on this machine (a server started apart)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes
    session: int
    tls: bool

    @property
    def mime(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)


@dataclass
class SmtpSink:
    """An aiosmtpd handler that keeps every message and answers as a test scripts it.

    `refuse` maps a recipient to the RCPT reply it gets (say "550 5.1.1 no such user");
    `close_after_data` answers 421 to the DATA of these recipients, which ends the
    connection as a server at its per-connection limit would. With `quota` set, the
    server takes that many messages and then answers every DATA as Gmail does when
    the day's quota is spent, until `reset_quota()`. `on_message` is called with each
    message as it arrives, before the server answers. `hang_up_after_data` takes the
    message of these recipients and drops the line before answering, so the sender
    cannot know the message arrived.
    """

    refuse: dict[str, str] = field(default_factory=dict)
    close_after_data: set[str] = field(default_factory=set)
    hang_up_after_data: set[str] = field(default_factory=set)
    quota: int | None = None
    quota_reply: str = "550 5.4.5 Daily user sending quota exceeded. Learn more at gmail.com"
    on_message: Callable[[Received], None] | None = None
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _taken_today: int = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if set(envelope.rcpt_tos) & self.close_after_data:
            self.close_after_data -= set(envelope.rcpt_tos)
            return "421 4.7.0 too many messages on this connection, try again"
        if self.quota is not None and self._taken_today >= self.quota:
            return self.quota_reply
        received = Received(
            envelope.mail_from,
            list(envelope.rcpt_tos),
            envelope.content,
            id(session),
            server.transport.get_extra_info("ssl_object") is not None,
        )
        with self.lock:
            self.received.append(received)
            self._taken_today += 1
        if self.on_message:
            self.on_message(received)
        if set(envelope.rcpt_tos) & self.hang_up_after_data:
            self.hang_up_after_data -= set(envelope.rcpt_tos)
            server.transport.abort()
        return "250 2.0.0 queued"

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.recipients]

    def counts(self) -> Counter:
        return Counter(r for m in self.received for r in m.recipients)

    @property
    def connections(self) -> int:
        return len({m.session for m in self.received})


class SmtpServer:
    """aiosmtpd on 127.0.0.1: plain, STARTTLS or implicit TLS, optionally with a login."""

    def __init__(
        self,
        sink: SmtpSink,
        security: str = "none",
        tls: ssl.SSLContext | None = None,
        login: tuple[str, str] | None = None,
        echo_auth: bool = False,
    ):
        self.sink = sink
        self.port = free_port()
        kwargs: dict = {}
        if security == "starttls":
            kwargs.update(tls_context=tls, require_starttls=True)
        if security == "ssl":
            kwargs.update(ssl_context=tls)
        if login:
            kwargs.update(authenticator=self._check(login, echo_auth), auth_required=True)
            # Plain SMTP on loopback may log in (mailer allows it only there).
            kwargs.update(auth_require_tls=security != "none")
        self.controller = Controller(
            sink, hostname="127.0.0.1", port=self.port, server_hostname="localhost", **kwargs
        )

    @staticmethod
    def _check(login: tuple[str, str], echo_auth: bool):
        """Checks the login; with `echo_auth` a refusal repeats the AUTH PLAIN blob it got."""

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (auth_data.login.decode(), auth_data.password.decode()) == login
            if ok or not echo_auth:
                return AuthResult(success=ok, handled=False)
            blob = base64.b64encode(b"\0" + auth_data.login + b"\0" + auth_data.password)
            said = f"535 5.7.8 Authentication failed for {blob.decode()} ({mechanism})"
            return AuthResult(success=False, handled=False, message=said)

        return authenticator

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


@dataclass
class Reply:
    status: int = 202
    body: dict | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ApiRequest:
    path: str
    headers: dict[str, str]
    body: dict


class SendgridStandIn:
    """An HTTP server that answers /v3/mail/send as SendGrid does, and keeps each request.

    `script` is a list of replies used in order; once it runs out every request
    gets 202 with an X-Message-Id. `delay` makes each answer take that long.
    With `keep_bodies=False` only the number of personalizations is kept, so a
    benchmark measures the sender's memory, not the stand-in's. With
    `hang_up=True` it takes each request (it counts as accepted) and closes the
    connection without an answer, as a server killed mid-request would.
    """

    def __init__(
        self,
        script: list[Reply] | None = None,
        delay: float = 0.0,
        keep_bodies: bool = True,
        hang_up: bool = False,
    ):
        self.script = list(script or [])
        self.delay = delay
        self.keep_bodies = keep_bodies
        self.hang_up = hang_up
        self.requests: list[ApiRequest] = []
        self.lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if not stand_in.keep_bodies:
                    body = {"personalization_count": len(body.get("personalizations", []))}
                with stand_in.lock:
                    stand_in.requests.append(ApiRequest(self.path, dict(self.headers), body))
                    reply = stand_in.script.pop(0) if stand_in.script else None
                    number = len(stand_in.requests)
                if stand_in.hang_up:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if stand_in.delay:
                    time.sleep(stand_in.delay)
                reply = reply or Reply(202, None, {"X-Message-Id": f"sg-{number}"})
                # The sender may have given up waiting (its timeout) or been killed.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._answer(reply)

            def _answer(self, reply: Reply) -> None:
                data = json.dumps(reply.body).encode() if reply.body is not None else b""
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                if data:
                    self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> SendgridStandIn:
        threading.Thread(target=self.server.serve_forever, args=(POLL,), daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def personalizations(self) -> list[dict]:
        return [p for r in self.requests for p in r.body.get("personalizations", [])]

    def copies(self) -> Counter:
        """How many copies of each message (by its mailer key) were accepted."""
        return Counter(p["custom_args"]["mailer_key"] for p in self.personalizations)


class ImapServer:
    """pymap, a real IMAP server, on 127.0.0.1 with STARTTLS, in a process of its own.

    One account (`user`, `password`) held in memory; the server's certificate
    comes from the test's authority. Started and stopped by the test.
    """

    def __init__(self, cert: Path, key: Path, user: str, password: str):
        self.user, self.password = user, password
        self.port = free_port()
        self.command = [
            str(Path(sys.executable).with_name("pymap")),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--cert",
            str(cert),
            "--key",
            str(key),
            "dict",
            "--demo-user",
            user,
            "--demo-password",
            password,
        ]
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ImapServer:
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(self.port)
        return self

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            self.process.kill()  # its mailbox lives in memory: nothing to shut down cleanly
            self.process.wait(timeout=10)


class TlsFront:
    """TLS from the first byte (IMAPS) on a port of its own, in front of a plain server.

    pymap offers STARTTLS only; this lets a test reach it as Gmail is reached, on 993-style TLS.
    """

    def __init__(self, backend_port: int, tls: ssl.SSLContext):
        self.backend_port = backend_port
        self.tls = tls
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(POLL)
        self.port = self.listener.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> TlsFront:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.thread.join()
        self.listener.close()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            client.settimeout(None)
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        with (
            contextlib.suppress(OSError),
            self.tls.wrap_socket(client, server_side=True) as front,
            socket.create_connection(("127.0.0.1", self.backend_port)) as back,
        ):
            threading.Thread(target=_pump, args=(back, front), daemon=True).start()
            _pump(front, back)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)
