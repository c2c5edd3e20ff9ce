"""Log text with addresses masked and secrets blanked, whatever an exception happened to say."""

from __future__ import annotations

import base64
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
    chosen = secrets_in() if secrets is None else secrets
    forms = {form for secret in chosen if len(secret) >= SHORTEST_SECRET for form in echoes(secret)}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "[secret]")
    if addresses:
        return text
    return ADDRESS.sub(lambda match: mask(match.group(0)), text)


def echoes(secret: str) -> set[str]:
    """The forms in which a server or a library may echo a secret back.

    As typed; as Python shows its UTF-8 bytes (b'p\\xc3\\xa4ss'); and base64, as
    SMTP AUTH sends it: AUTH LOGIN encodes the password alone, AUTH PLAIN inside
    "\\0user\\0password", so it may start at any of the three byte offsets of a
    base64 group. For each offset, the characters that depend on the secret
    alone are one fixed string, whatever surrounds it.
    """
    raw = secret.encode("utf-8")
    found = {secret, repr(raw)[2:-1]}
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + raw).decode("ascii")
        core = encoded[(4 * offset + 2) // 3 : (offset + len(raw)) * 4 // 3]
        if len(core) >= SHORTEST_SECRET:
            found.add(core)
    return found


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
