"""The sending mailbox over IMAP, read-only: the bounce reports that came since the last scan.

The folder is opened with EXAMINE, so nothing in it can change: no flag is set
(not even \\Seen), nothing is moved or deleted. Only the From and Content-Type
headers of new messages are read; a message's body is fetched (BODY.PEEK[])
only when those headers say it may be a bounce report, so a person's mail and
auto-replies are never read. Where the last scan stopped (UIDVALIDITY and the
last UID) is kept in the ledger, so each report is read once.

The password: IMAP_PASSWORD (or the file IMAP_PASSWORD_FILE names), else
SMTP_PASSWORD the same way (a Gmail App Password serves both). Never logged.
"""

from __future__ import annotations

import imaplib
import re
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from email.parser import BytesHeaderParser

from mailer.core.batches import batches
from mailer.core.env_secrets import IMAP_PASSWORD, SMTP_PASSWORD, read_secret
from mailer.core.errors import ConfigError, MailerError
from mailer.sending.bounces.reports import candidate
from mailer.settings.config import BounceSettings

HEADERS = "BODY.PEEK[HEADER.FIELDS (FROM CONTENT-TYPE)]"
CHUNK = 200  # UIDs per FETCH command
UID = re.compile(rb"\bUID (\d+)")
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


class MailboxError(MailerError):
    """The sending mailbox cannot be read as configured."""


@dataclass(frozen=True)
class Position:
    """Where a scan of one folder stopped: UIDs mean something only within one UIDVALIDITY."""

    uidvalidity: int
    last_uid: int


@dataclass
class Scan:
    """What one scan found: the messages that may be reports, and where it stopped."""

    position: Position
    reports: list[tuple[int, bytes]] = field(default_factory=list)  # (uid, whole message)
    looked_at: int = 0  # new messages whose headers were read


def password(environ: Mapping[str, str] | None = None) -> str:
    """The mailbox password from the environment; a ConfigError naming the variables if none."""
    found = read_secret(IMAP_PASSWORD, environ) or read_secret(SMTP_PASSWORD, environ)
    if not found:
        raise ConfigError(
            f"[bounces] needs the mailbox password: export {IMAP_PASSWORD} (or "
            f"{IMAP_PASSWORD}_FILE, or {SMTP_PASSWORD} when it is the same login)"
        )
    return found


def scan(settings: BounceSettings, secret: str, since: date, after: Position | None) -> Scan:
    """Messages new in the folder since `after` (or, the first time, since `since`)."""
    where = f"{settings.host}:{settings.effective_port}"
    try:
        with _connect(settings, where) as imap:
            _login(imap, settings, secret, where)
            return _scan_folder(imap, settings.folder, since, after)
    except (imaplib.IMAP4.error, OSError, EOFError) as err:
        if isinstance(err, ssl.SSLError):
            raise MailboxError(f"TLS with IMAP server {where} failed: {err.reason}") from None
        raise MailboxError(f"IMAP server {where}: {_clean(err, secret)}") from None


def _connect(settings: BounceSettings, where: str) -> imaplib.IMAP4:
    context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    port, timeout = settings.effective_port, settings.timeout
    try:
        if settings.security == "ssl":
            return imaplib.IMAP4_SSL(settings.host, port, ssl_context=context, timeout=timeout)
        imap = imaplib.IMAP4(settings.host, port, timeout=timeout)
    except OSError as err:
        raise MailboxError(f"cannot reach IMAP server {where}: {err}") from None
    if settings.security == "starttls":
        if "STARTTLS" not in imap.capabilities:
            imap.shutdown()
            raise MailboxError(f'IMAP server {where} does not offer STARTTLS; use security = "ssl"')
        imap.starttls(ssl_context=context)
    return imap


def _login(imap: imaplib.IMAP4, settings: BounceSettings, secret: str, where: str) -> None:
    try:
        imap.login(settings.username, secret)
    except imaplib.IMAP4.error:
        raise MailboxError(
            f"IMAP server {where} refused the login for {settings.username!r}: check the "
            f"username and {IMAP_PASSWORD} (a Gmail account needs an App Password)"
        ) from None


def _scan_folder(imap: imaplib.IMAP4, folder: str, since: date, after: Position | None) -> Scan:
    status, data = imap.select(_quoted(folder), readonly=True)
    if status != "OK":
        raise MailboxError(f"no folder {folder!r} in the mailbox ({_text(data)})")
    uidvalidity = int(_text(imap.response("UIDVALIDITY")[1]) or 0)
    if after is not None and after.uidvalidity == uidvalidity:
        uids = [u for u in _search(imap, f"UID {after.last_uid + 1}:*") if u > after.last_uid]
        last = after.last_uid
    else:
        uids = _search(imap, f"SINCE {since.day}-{MONTHS[since.month - 1]}-{since.year}")
        last = 0
    found = Scan(Position(uidvalidity, max([last, *uids])))
    wanted = []
    for chunk in batches(uids, CHUNK):
        for uid, headers in _fetch(imap, chunk, HEADERS):
            found.looked_at += 1
            if candidate(BytesHeaderParser().parsebytes(headers)):
                wanted.append(uid)
    for chunk in batches(wanted, CHUNK):
        found.reports += _fetch(imap, chunk, "BODY.PEEK[]")
    imap.close()
    return found


def _search(imap: imaplib.IMAP4, criteria: str) -> list[int]:
    status, data = imap.uid("SEARCH", criteria)
    if status != "OK":
        raise MailboxError(f"the IMAP server refused to search ({_text(data)})")
    return sorted(int(u) for u in b" ".join(d for d in data if d).split())


def _fetch(imap: imaplib.IMAP4, uids: Sequence[int], what: str) -> list[tuple[int, bytes]]:
    status, data = imap.uid("FETCH", ",".join(map(str, uids)), f"(UID {what})")
    if status != "OK":
        raise MailboxError(f"the IMAP server refused to fetch ({_text(data)})")
    found = []
    # Each message is a (prefix, literal) pair; a server may name the UID after the literal.
    for i, item in enumerate(data):
        if not isinstance(item, tuple):
            continue
        after = data[i + 1] if i + 1 < len(data) else b""
        uid = UID.search(item[0]) or UID.search(after if isinstance(after, bytes) else b"")
        if uid is not None:
            found.append((int(uid.group(1)), bytes(item[1])))
    return found


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(data: object) -> str:
    items = data if isinstance(data, list) else [data]
    return " ".join(
        i.decode("utf-8", "replace") if isinstance(i, bytes) else str(i)
        for i in items
        if i is not None
    )


def _clean(err: BaseException, secret: str) -> str:
    text = str(err) or type(err).__name__
    return text.replace(secret, "[secret]") if secret else text
