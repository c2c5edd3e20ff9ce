"""Secrets from the environment: NAME itself, or the file that NAME_FILE names.

`NAME_FILE` is how container platforms hand over secrets (compose and Kubernetes
mount them as files under /run/secrets), so a secret never sits in the
environment of every process or in `podman inspect`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

from mailer.core.errors import ConfigError

SENDGRID_API_KEY = "SENDGRID_API_KEY"
SMTP_PASSWORD = "SMTP_PASSWORD"
MAILER_SECRET = "MAILER_SECRET"
# The PostgreSQL ledger's password, kept out of `[ledger] url` / MAILER_LEDGER_URL.
LEDGER_PASSWORD = "MAILER_LEDGER_PASSWORD"
LEDGER_URL = "MAILER_LEDGER_URL"
IMAP_PASSWORD = "IMAP_PASSWORD"  # [bounces]: the sending mailbox; SMTP_PASSWORD when unset
SECRET_VARIABLES = (SENDGRID_API_KEY, SMTP_PASSWORD, MAILER_SECRET, LEDGER_PASSWORD, IMAP_PASSWORD)
FILE_SUFFIX = "_FILE"


def read_secret(name: str, environ: Mapping[str, str] | None = None) -> str:
    """The secret `name`: its variable, or the content of the file `name`_FILE names.

    "" when neither is set. The file's trailing newline is dropped; setting both,
    or naming a file that cannot be read or is empty, is a ConfigError that names
    the variable and the file, never the value.
    """
    environ = os.environ if environ is None else environ
    direct = environ.get(name, "")
    file_variable = name + FILE_SUFFIX
    path = environ.get(file_variable, "")
    if not path:
        return direct
    if direct:
        raise ConfigError(f"both {name} and {file_variable} are set: keep one of them")
    try:
        value = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as err:
        raise ConfigError(
            f"{file_variable} names {path}, which cannot be read ({err.strerror})"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{file_variable} names {path}, which is not UTF-8 text") from None
    if not value:
        raise ConfigError(f"{file_variable} names {path}, which is empty")
    return value


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Every secret value that is set (directly or through a file), for redaction.

    A file that cannot be read is passed over here; the command that needs the
    secret reports it. The password inside a MAILER_LEDGER_URL counts too.
    """
    environ = os.environ if environ is None else environ
    values = []
    for name in SECRET_VARIABLES:
        try:
            value = read_secret(name, environ)
        except ConfigError:
            value = environ.get(name, "")
        if value:
            values.append(value)
    password = _url_password(environ.get(LEDGER_URL, ""))
    if password:
        values.append(password)
    return values


def _url_password(url: str) -> str:
    """The password part of postgresql://user:password@host/db, if any."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return ""
    return unquote(password) if password else ""
