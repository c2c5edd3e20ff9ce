"""Log text with addresses masked and secrets blanked, whatever an exception happened to say."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping

from mailer.core.env_secrets import secret_values

ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[^\s@<>()\[\]\"',;:]+\.[^\s@<>()\[\]\"',;:]+")
SHORTEST_SECRET = 4  # blanking a shorter value would mangle ordinary words


def mask(email: str) -> str:
    """An address as logs may show it: a***@example.org."""
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}***@{domain}" if local else "***"


def redact(text: str, secrets: Iterable[str] | None = None, addresses: bool = False) -> str:
    """`text` with each secret value blanked and each address masked (a***@example.org).

    `secrets` defaults to the secret variables set in the environment;
    `addresses=True` keeps addresses whole (`mailer status --addresses`).
    """
    for secret in sorted(secrets_in() if secrets is None else secrets, key=len, reverse=True):
        if len(secret) >= SHORTEST_SECRET:
            text = text.replace(secret, "[secret]")
    if addresses:
        return text
    return ADDRESS.sub(lambda match: mask(match.group(0)), text)


def secrets_in(environ: Mapping[str, str] | None = None) -> list[str]:
    """The values of the secret variables that are set (or whose *_FILE is)."""
    return secret_values(environ)


class RedactingFormatter(logging.Formatter):
    """Formats as usual, tracebacks included, then redacts the whole line."""

    def __init__(self, fmt: str, environ: Mapping[str, str] | None = None):
        super().__init__(fmt)
        self.secrets = secrets_in(environ)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)
