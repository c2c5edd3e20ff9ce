"""Unsubscribe tokens: the address sealed under MAILER_SECRET, so links carry no address.

A token is the address encrypted with AES-SIV under a key drawn from the
secret: whoever holds the secret reads the address back out of it, and a
token altered by one bit, or made without the secret, opens to nothing.
`mailer serve` needs nothing else to answer it, so a link keeps working when
the ledger is lost and rebuilt from the sheet. The encryption is
deterministic (one address, one token), and addresses are padded to a
multiple of 16 bytes, so a token tells nothing of the address but roughly
its length.

Links issued before this format (an HMAC of the address, 32 characters) are
checked against token -> address pairs in the ledger, which the digest job
derives again for everyone on the Subscribers tab and every signer-up who
opted in (once, into a ledger that holds none: a new or rebuilt one), so those
also survive a rebuild while their address is on the sheet.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mailer.core.env_secrets import MAILER_SECRET, read_secret
from mailer.core.errors import ConfigError
from mailer.core.files import private_folder

if TYPE_CHECKING:  # cryptography is imported when a token is made or read, not by every command
    from cryptography.hazmat.primitives.ciphers.aead import AESSIV

SECRET_ENV = MAILER_SECRET
MIN_SECRET = 16
LOCAL_SECRET = "local-secret"  # beside the ledger, for the outbox transport only
SEALED = "u2."  # what starts a sealed token; an HMAC token never holds a dot
PAD = 16
PURPOSE = b"unsubscribe"  # bound into every sealed token: it opens for nothing else


def unsubscribe_token(secret: str, email: str) -> str:
    """The link's token for this (normalized) address: the address, sealed."""
    return unsubscribe_sealer(secret)(email)


def unsubscribe_sealer(secret: str) -> Callable[[str], str]:
    """unsubscribe_token for one secret, its cipher looked up once (a digest makes 100,000)."""
    encrypt = _cipher(secret).encrypt
    purpose = [PURPOSE]
    zeros = [b"\0" * (-n % PAD) for n in range(PAD)]  # the padding, by length mod 16

    def seal(email: str) -> str:
        data = email.encode()
        sealed = encrypt(data + zeros[len(data) % PAD], purpose)
        return SEALED + _urlsafe(sealed).rstrip("=")

    return seal


def address_in(secret: str, token: str) -> str | None:
    """The address a sealed token holds, or None if it is not one this secret made."""
    if not token.startswith(SEALED):
        return None
    from cryptography.exceptions import InvalidTag

    text = token.removeprefix(SEALED)
    try:
        sealed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        padded = _cipher(secret).decrypt(sealed, [PURPOSE])
    except (binascii.Error, ValueError, InvalidTag):
        return None
    if base64.urlsafe_b64encode(sealed).decode("ascii").rstrip("=") != text:
        return None  # the same bytes spelled another way: only mailer's spelling counts
    try:
        return padded.rstrip(b"\0").decode()
    except UnicodeDecodeError:
        return None


def hmac_token(secret: str, email: str) -> str:
    """The token of links issued before sealed tokens: an HMAC of the address."""
    digest = hmac.digest(secret.encode(), f"unsubscribe:{email}".encode(), "sha256")
    return _urlsafe(digest[:24])


URLSAFE = bytes.maketrans(b"+/", b"-_")


def _urlsafe(data: bytes) -> str:
    """base64.urlsafe_b64encode as text, in one call each (a digest makes 100,000 tokens)."""
    return binascii.b2a_base64(data, newline=False).translate(URLSAFE).decode("ascii")


def token_matches(secret: str, email: str, token: str) -> bool:
    """An HMAC token is genuine for this address."""
    return hmac.compare_digest(hmac_token(secret, email), token)


@functools.lru_cache(maxsize=4)
def _cipher(secret: str) -> AESSIV:
    from cryptography.hazmat.primitives.ciphers.aead import AESSIV

    key = hmac.new(secret.encode(), b"mailer unsubscribe links", hashlib.sha512).digest()
    return AESSIV(key)  # 64 bytes: AES-256-SIV


def load_secret(state_folder: Path, may_generate: bool) -> str:
    """MAILER_SECRET from the environment (or the file MAILER_SECRET_FILE names).

    When nothing leaves the machine (the outbox transport), a secret made once
    and kept in the state folder stands in, so the sample runs with nothing set.
    """
    secret = read_secret(SECRET_ENV)
    if secret:
        if len(secret) < MIN_SECRET:
            raise ConfigError(f"{SECRET_ENV} is too short: use at least {MIN_SECRET} characters")
        return secret
    if not may_generate:
        raise ConfigError(
            f"set {SECRET_ENV} (or {SECRET_ENV}_FILE) in the environment (a long random "
            "string, e.g. from "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`): it signs "
            "unsubscribe links"
        )
    path = state_folder / LOCAL_SECRET
    if not path.exists():
        import secrets  # with `random`, loaded the one time a secret is made

        private_folder(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path.read_text().strip()
