"""Answers to the release form (links without a server), kept as people's requests, once each."""

from __future__ import annotations

from datetime import datetime

from mailer.ledger.sqlite import Ledger
from mailer.rules import self_service
from mailer.settings.secret import site_secret
from mailer.sheet.tabs import parse_datetime
from mailer.sheet.view import Tab
from mailer.site import Site


def take_answers(site: Site, ledger: Ledger, tab: Tab, now: datetime) -> list[str]:
    """Keep each answer of the release form as a request, once; warn of links mailer never made."""
    settings = site.settings
    table = tab.table
    token_at = tab.index("token")
    if token_at is None:
        return [
            f"{table.tab}: no column {tab.header('token')!r}, so no release answer can be read"
            f" (map it as [workbook.columns.releases] token)"
        ]
    stamp_at = tab.index("timestamp")
    secret = site_secret(settings)
    ledger.index_seat_tokens(secret)  # seats from before the index, or a new MAILER_SECRET
    warnings = []
    for number, values in table.numbered_rows():
        text = table.cell(values, token_at)
        if not text.strip():
            continue
        token = self_service.find_token(text)
        seat = ledger.seat_for_token(secret, token)
        if seat is None:
            warnings.append(
                f"{table.tab} row {number}: not a link mailer made (altered, or for a seat it"
                " does not know); nothing was changed"
            )
            continue
        # An answer dated after this run's moment (a run --now in the past), or not
        # dated at all, counts as given now, but cannot pass for one given after a
        # run that acted on its token: only a dated answer can release a seat again.
        try:
            at = parse_datetime(
                table.cell(values, stamp_at), settings.organization.zone, table.date_order
            )
            again = at <= now
        except ValueError:
            at, again = now, False
        ledger.add_request(token, seat, min(at, now), "form", again=again)
    return warnings
