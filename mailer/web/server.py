"""The HTTP server under `mailer serve`: waitress, set so slow clients cannot starve the rest.

waitress reads each request whole (headers and body) in its event loop and
hands it to a worker thread only once complete, so a client that sends
slowly, or never finishes, holds no thread: only a connection slot. Its
defaults make those slots the weak point: at 100 open connections it stops
accepting any more, and a connection is dropped only after 120 s of silence,
so 150 slow clients starve every other visitor for as long as they keep
trickling. Here the slots are many (polled, not select()ed, so past 1,024
sockets too), a silent connection goes after CHANNEL_TIMEOUT seconds, and
the process may open enough files for them. A client that trickles a byte
just often enough keeps its slot; the HTTPS proxy in front (see docs/running.md) is
where a whole request gets a deadline.
"""

from __future__ import annotations

import resource
from typing import Any

import waitress
from flask import Flask

from mailer.web.app import WEBHOOK_LIMIT

CONNECTION_LIMIT = 2000  # open connections, slow or not, before new ones wait
CHANNEL_TIMEOUT = 15  # seconds of silence before a connection is closed
THREADS = 8  # pages answer in milliseconds; the webhook writes to the ledger
SPARE_FILES = 64  # the ledger, its journal, logs, the listening socket


def create_server(app: Flask, host: str, port: int) -> Any:
    """A waitress server for `app`, listening; `.run()` serves until `.close()`."""
    _allow_open_files(CONNECTION_LIMIT + SPARE_FILES)
    return waitress.create_server(
        app,
        host=host,
        port=port,
        ident="mailer",
        threads=THREADS,
        connection_limit=CONNECTION_LIMIT,
        channel_timeout=CHANNEL_TIMEOUT,
        cleanup_interval=min(CHANNEL_TIMEOUT, 30),
        asyncore_use_poll=True,
        asyncore_loop_timeout=0.25,  # how soon `.close()` is seen: a prompt stop, few wakeups
        max_request_body_size=WEBHOOK_LIMIT,
    )


def _allow_open_files(wanted: int) -> None:
    """Raise this process's soft limit on open files toward `wanted` (never past the hard one)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < ceiling:
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
