"""One person's data: `mailer export` shows what mailer holds, `mailer forget` removes it.

Forgetting deletes the person's rows from the ledger and their messages
from the outbox, blanks the cells mailer wrote on their Signups rows
(Status, Position, Notified, Note, Session id) and keeps a keyed hash of
the address with the moment, so no job acts on their older answers again.
The answers themselves are the organizers': they are listed (tab and row)
for organizers to delete, here and on the Mailer tab after each run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mailer.core.errors import ConfigError
from mailer.core.tokens import address_in
from mailer.jobs.retention import forget_outbox, open_privacy
from mailer.ledger import Ledger, open_ledger
from mailer.ledger.privacy import Removed, drop_forget_request, forget_requests
from mailer.sending.transports.outbox import INDEX
from mailer.sheet.backends import CellChange, Table
from mailer.site import Site

MAILER_COLUMNS = ("status", "position", "notified", "note", "session")


@dataclass(eq=False, repr=False)
class Forgotten:
    removed: Removed = field(default_factory=Removed)
    outbox_files: int = 0
    cells_blanked: int = 0
    rows: list[tuple[str, int]] = field(default_factory=list)  # (tab, row) organizers delete


def _rows(site: Site, logical: str, tables: dict[str, Table], email: str) -> list[int]:
    """Sheet rows of one tab whose address is this one."""
    table = tables.get(site.settings.workbook.tab(logical))
    if table is None:
        return []
    column = table.column_index(site.settings.workbook.column_map(logical)["email"])
    if column is None:
        return []
    from mailer.model import normalize_email  # the rows load where someone is forgotten

    return [
        number
        for number, values in table.numbered_rows()
        if normalize_email(table.cell(values, column)) == email
    ]


def _read(site: Site) -> dict[str, Table]:
    tabs = [site.settings.workbook.tab(t) for t in ("signups", "subscribers")]
    return site.workbook.read(tabs)


def forget(site: Site, email: str, now: datetime) -> Forgotten:
    """Remove what mailer holds about `email` (normalized) and keep it from coming back."""
    settings = site.settings
    with open_ledger(settings) as ledger, ledger.run_lock(settings.ledger.lock_timeout):
        return forget_in(site, ledger, email, now)


def forget_in(site: Site, ledger: Ledger, email: str, now: datetime) -> Forgotten:
    """forget() in a ledger whose run lock the caller holds."""
    settings = site.settings
    result = Forgotten()
    tables = _read(site)
    signups_tab = settings.workbook.tab("signups")
    privacy = open_privacy(site, ledger)
    result.removed = privacy.forget(email, now)
    privacy.vacuum()
    result.outbox_files = forget_outbox(site, email)
    rows = _rows(site, "signups", tables, email)
    if rows:
        result.cells_blanked = _blank(site, tables[signups_tab], rows)
    result.rows = [(signups_tab, r) for r in rows]
    subscribers_tab = settings.workbook.tab("subscribers")
    result.rows += [(subscribers_tab, r) for r in _rows(site, "subscribers", tables, email)]
    return result


def forget_asked(site: Site, ledger: Ledger, now: datetime, dry_run: bool = False) -> int:
    """Forget everyone who asked from the link in a digest since the last run; how many.

    The caller holds the run lock. A dry run leaves the requests waiting.
    """
    if dry_run:
        return 0
    asked = forget_requests(ledger)
    if not asked:
        return 0
    from mailer.model import normalize_email

    secret = open_privacy(site, ledger).secret
    for token, at in asked:
        email = address_in(secret, token)
        if email is not None:
            forget_in(site, ledger, normalize_email(email), at)
        drop_forget_request(ledger, token)  # once acted on, or not a token of this secret
    return len(asked)


def _blank(site: Site, table: Table, rows: list[int]) -> int:
    """Blank mailer's own cells on these Signups rows; an organizer's other cells stay."""
    mapping = site.settings.workbook.column_map("signups")
    keys = [mapping["timestamp"], mapping["email"]]
    key_indexes = [table.column_index(k) for k in keys]
    changes = []
    for row in rows:
        values = table.rows[row - 2]
        key = tuple(table.cell(values, i) for i in key_indexes)
        for name in MAILER_COLUMNS:
            index = table.column_index(mapping[name])
            old = table.cell(values, index) if index is not None else ""
            if old.strip():
                changes.append(CellChange(row, key, mapping[name], old, ""))
    if not changes:
        return 0
    return site.workbook.write(table.tab, keys, changes).written


def export(site: Site, email: str) -> dict[str, Any]:
    """Everything mailer holds about `email` (normalized): ledger, outbox, and sheet rows."""
    settings = site.settings
    with open_ledger(settings) as ledger:
        privacy = open_privacy(site, ledger)
        held = privacy.holds(email)
        try:
            forgotten = privacy.forgotten_at(email)
        except ConfigError:  # no secret: nothing was ever hashed under one
            forgotten = None
    outbox = _outbox_lines(settings.transport.path, email)
    subjects = {line["key"]: line.get("subject", "") for line in outbox}
    for message in held["messages"]:
        message["subject"] = message["subject"] or subjects.get(message["key"], "")
    tables = _read(site)
    return {
        "email": email,
        **held,
        "outbox": outbox,
        "sheet_rows": [
            {"tab": settings.workbook.tab(logical), "row": row}
            for logical in ("signups", "subscribers")
            for row in _rows(site, logical, tables, email)
        ],
        "forgotten_at": forgotten.isoformat() if forgotten else None,
    }


def _outbox_lines(folder: Path, email: str) -> list[dict[str, str]]:
    index = Path(folder) / INDEX
    if not index.exists():
        return []
    from mailer.model import normalize_email

    lines = [json.loads(line) for line in index.read_text(encoding="utf-8").splitlines() if line]
    return [line for line in lines if normalize_email(line.get("to", "")) == email]
