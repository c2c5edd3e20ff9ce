"""PURE: how people's answers about their seat (a release, a claim) reach mailer."""

from __future__ import annotations

SERVER = "server"
FORM = "form"


def way(public_url: str, form_url: str) -> str:
    """How answers reach mailer: SERVER, FORM, or '' (emails say "reply to this email").

    `public_url` is [server] public_url, `form_url` is [self_service] form_url.
    """
    if public_url:
        return SERVER
    if form_url:
        return FORM
    return ""
