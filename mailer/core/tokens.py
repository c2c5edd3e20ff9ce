"""Unsubscribe tokens: an HMAC of the address under MAILER_SECRET, so links carry no address.

The ledger keeps token -> address for the addresses it sent a digest to; a
token that is not there, or whose HMAC does not match its address, is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from mailer.core.errors import ConfigError
from mailer.core.files import private_folder

SECRET_ENV = "MAILER_SECRET"
MIN_SECRET = 16
LOCAL_SECRET = "local-secret"  # beside the ledger, for the outbox transport only


def unsubscribe_token(secret: str, email: str) -> str:
    digest = hmac.new(secret.encode(), f"unsubscribe:{email}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode("ascii")


def token_matches(secret: str, email: str, token: str) -> bool:
    return hmac.compare_digest(unsubscribe_token(secret, email), token)


def load_secret(state_folder: Path, may_generate: bool) -> str:
    """MAILER_SECRET from the environment.

    When nothing leaves the machine (the outbox transport), a secret made once
    and kept in the state folder stands in, so the sample runs with nothing set.
    """
    secret = os.environ.get(SECRET_ENV, "")
    if secret:
        if len(secret) < MIN_SECRET:
            raise ConfigError(f"{SECRET_ENV} is too short: use at least {MIN_SECRET} characters")
        return secret
    if not may_generate:
        raise ConfigError(
            f"set {SECRET_ENV} in the environment (a long random string, e.g. from "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`): it signs "
            "unsubscribe links"
        )
    path = state_folder / LOCAL_SECRET
    if not path.exists():
        private_folder(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path.read_text().strip()
