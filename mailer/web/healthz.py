"""`GET /healthz` for `mailer serve`: 200 when the ledger can be reached, 503 when not.

It says nothing else (no counts, no addresses), so a load balancer or a
container runtime may ask it without seeing anything about anyone.
"""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Blueprint, Response

from mailer.core.redact import redact
from mailer.ledger.sqlite import Ledger

log = logging.getLogger("mailer.web")


def blueprint(ledger_path: Path) -> Blueprint:
    health = Blueprint("healthz", __name__)

    @health.get("/healthz")
    def healthz() -> Response:
        try:
            with Ledger(ledger_path):
                pass  # opening it connects and checks its schema
        except Exception as err:  # whatever the backend raises, the answer is the same
            log.warning("/healthz: the ledger cannot be reached: %s", redact(str(err)))
            return Response("ledger unreachable\n", status=503, mimetype="text/plain")
        return Response("ok\n", mimetype="text/plain")

    return health
