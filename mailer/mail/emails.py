"""An event's emails: one Body per variant, a Draft per person, invitations where they belong."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urlencode

from mailer.mail.invitations import content_type, invitation
from mailer.mail.message import Attachment, Body, Draft, placeholder
from mailer.mail.render import Prepared, Renderer
from mailer.mail.speech import ENGLISH, Speech, speech
from mailer.model import Event
from mailer.rules import roster, self_service
from mailer.rules.changes import CANCELLATION, UPDATE, EventChange
from mailer.rules.claims import until_text
from mailer.rules.reminders import REMINDER
from mailer.rules.roster import RELEASED, Notice
from mailer.rules.self_service import SeatLinks
from mailer.settings.config import Settings
from mailer.settings.languages import site_texts
from mailer.settings.secret import site_secret

INVITING = (roster.CONFIRMATION, roster.PROMOTION, UPDATE)
UNINVITING = (CANCELLATION, RELEASED)  # a METHOD:CANCEL for those who had an invitation


class Site(Protocol):
    """What emails need of a site (mailer.site.Site is one): its settings and its templates."""

    @property
    def settings(self) -> Settings: ...

    @property
    def renderer(self) -> Renderer: ...


def site_body(
    site: Site,
    prepared: Prepared,
    attachments: tuple[Attachment, ...] = (),
    headers: tuple[tuple[str, str], ...] = (),
) -> Body:
    """A rendered template as a Body sent from the site's organization."""
    org = site.settings.organization
    return Body(
        subject=prepared.subject,
        html=prepared.html,
        text=prepared.text,
        sender_email=org.sender,
        sender_name=org.sender_name or org.name,
        reply_to=org.reply_to,
        attachments=attachments,
        headers=headers,
    )


def calendar_links(event: Event, details: str) -> dict[str, str]:
    """'Add to Google Calendar' and 'Outlook' links; they only open when someone clicks."""
    start, end = event.starts_at.astimezone(UTC), event.ends_at.astimezone(UTC)
    google = urlencode(
        {
            "action": "TEMPLATE",
            "text": event.title,
            "dates": f"{start:%Y%m%dT%H%M%SZ}/{end:%Y%m%dT%H%M%SZ}",
            "details": details,
            "location": event.join_url,
            "ctz": event.timezone,
        }
    )
    outlook = urlencode(
        {
            "path": "/calendar/action/compose",
            "rru": "addevent",
            "subject": event.title,
            "startdt": start.isoformat().replace("+00:00", "Z"),
            "enddt": end.isoformat().replace("+00:00", "Z"),
            "body": details,
            "location": event.join_url,
        }
    )
    return {
        "google_calendar_url": f"https://calendar.google.com/calendar/render?{google}",
        "outlook_url": f"https://outlook.live.com/calendar/0/deeplink/compose?{outlook}",
    }


def event_details(event: Event, org_name: str, words: Speech) -> str:
    """What a calendar entry says of the session, in the person's language."""
    title = event.title_in(words.code)
    if not org_name:
        return title
    return words.gettext("%(title)s with %(organization)s.") % {
        "title": title,
        "organization": org_name,
    }


def event_view(event: Event, org_name: str, words: Speech) -> dict[str, object]:
    details = event_details(event, org_name, words)
    if event.join_url:
        details += " " + words.gettext("Join on Zoom: %(url)s") % {"url": event.join_url}
    title = event.title_in(words.code)
    return {
        "id": event.id,
        "title": title,
        "capacity": event.capacity,
        "join_url": event.join_url,
        "signup_url": event.signup_url,
        **words.describe(event),
        **calendar_links(replace(event, title=title), details),
    }


def site_speech(site: Site, language: str) -> Speech:
    """The site's language `language` as emails speak it; its default for ""."""
    settings = site.settings
    renderer = site.renderer
    return speech(settings, renderer.catalogs, language or settings.organization.language)


def donation_view(site: Site, language: str = "") -> dict[str, object]:
    donation = site.settings.donation
    texts = site_texts(site.settings, language or site.settings.organization.language)
    symbol = "$" if donation.currency == "USD" else f"{donation.currency} "
    amount = (
        f"{symbol}{donation.minimum}–{donation.maximum}"
        if donation.minimum and donation.minimum != donation.maximum
        else f"{symbol}{donation.maximum}"
    )
    return {
        "enabled": donation.enabled,
        "range": amount,
        "cause": texts.cause,
        "how_to_pay": texts.how_to_pay,
        "url": donation.url,
    }


def seat_links(site: Site) -> SeatLinks | None:
    """The site's release links, or None where emails say "reply to this email"."""
    settings = site.settings
    way = self_service.way(settings.server.public_url, settings.self_service.form_url)
    if not way:
        return None
    secret = site_secret(settings)
    if way == self_service.SERVER:
        return SeatLinks(secret, public_url=settings.server.public_url)
    return SeatLinks(secret, form_url=settings.self_service.form_url)


def lead_time(starts_at: datetime, now: datetime, words: Speech = ENGLISH) -> str:
    """How soon a session starts, from the real time left: 'in 50 minutes', 'in 1 hour',
    'in 61 minutes', 'in about 3 hours', 'tomorrow', 'in 2 days' (dates in the session's zone).
    """
    minutes = max(round((starts_at - now).total_seconds() / 60), 1)
    days = (starts_at.date() - now.astimezone(starts_at.tzinfo).date()).days
    if minutes <= 90 and minutes != 60:
        return words.counted("in %(num)s minute", "in %(num)s minutes", minutes)
    if minutes < 12 * 60 or days < 1:
        hours, rest = divmod(minutes, 60)
        if not rest:
            return words.counted("in %(num)s hour", "in %(num)s hours", hours)
        return words.counted(
            "in about %(num)s hour", "in about %(num)s hours", (minutes + 30) // 60
        )
    if days == 1:
        return words.gettext("tomorrow")
    return words.counted("in %(num)s day", "in %(num)s days", days)


def with_language(url: str, language: str, site: Site) -> str:
    """A page link that opens in the person's language (the default language needs no mark)."""
    if not url or language == site.settings.organization.language:
        return url
    return f"{url}{'&' if '?' in url else '?'}{urlencode({'lang': language})}"


class EventEmails:
    """Builds one event's drafts; each distinct body is rendered once."""

    def __init__(self, site: Site, event: Event, now: datetime, change: EventChange | None = None):
        self.site = site
        self.now = now
        self.event = event
        self.change = change or EventChange(sequence=0)
        self._bodies: dict[tuple[object, ...], Body] = {}
        self._speech: dict[str, Speech] = {}
        self.links = seat_links(site)

    def words(self, language: str) -> Speech:
        """site_speech, made once per language for all of the event's drafts."""
        if language not in self._speech:
            self._speech[language] = site_speech(self.site, language)
        return self._speech[language]

    def moment(self, local: datetime, language: str) -> str:
        """A moment in the session's zone as the person reads it ('Tue Nov 24 21:05 CST')."""
        words = self.words(language)
        if words.code == "en":
            return f"{until_text(local)} {local.tzname()}"
        return f"{words.short_date(local)}, {words.clock(local)} {local.tzname()}"

    def draft(
        self,
        notice: Notice,
        address: str,
        name: str,
        member: bool,
        invited: bool,
        position: int | None,
        template: str = "",
        offer_until: str = "",
        language: str = "",
    ) -> Draft:
        """The draft for one notice in the person's language (the site's default for "");
        `template` defaults to the notice's kind."""
        template = template or notice.kind
        words = self.words(language)
        variant = (template, notice.kind == REMINDER, member, invited, words.code)
        if variant not in self._bodies:
            self._bodies[variant] = self._body(notice, template, member, invited, words)
        person = {
            "name": name,
            "first_name": name.split(" ")[0] if name else words.gettext("friend"),
            "email": address,
            "position": str(position or ""),
            "offer_until": offer_until,
        }
        if self.links is not None:
            release = self.links.url(self_service.RELEASE, self.event.id, notice.email)
            claim = self.links.url(self_service.CLAIM, self.event.id, notice.email)
            if self.links.public_url:  # our own pages; a form's pre-filled link stays as it is
                release = with_language(release, words.code, self.site)
                claim = with_language(claim, words.code, self.site)
            person["release_url"] = release
            person["claim_url"] = claim
        return Draft(
            key=notice.key,
            kind=notice.kind,
            event_id=self.event.id,
            to_email=address,
            to_name=name,
            created_at=self.now.astimezone(UTC),
            body=self._bodies[variant],
            person=person,
        )

    def _body(
        self, notice: Notice, template: str, member: bool, invited: bool, words: Speech
    ) -> Body:
        org = self.site.settings.organization
        change = self.change
        texts = site_texts(self.site.settings, words.code)
        context = {
            "org": org,
            "links": self.links is not None,
            "invited": invited,
            "what_to_expect": texts.what_to_expect,
            "event": event_view(self.event, org.name, words),
            "donation": donation_view(self.site, words.code),
            "member": member,
            "change": {
                "moved": change.moved,
                "relinked": change.relinked,
                "before_when": words.describe(change.before)["when"] if change.before else "",
            },
            # Said from the time really left as of this decision, not from the offset that
            # fell due: a reminder sent late says so.
            "lead": (
                lead_time(self.event.starts_at, self.now, words) if notice.kind == REMINDER else ""
            ),
        }
        prepared = self.site.renderer.prepare(template, context, words.code, words.direction)
        attachments: tuple[Attachment, ...] = ()
        attendee = placeholder("email")
        title = self.event.title_in(words.code)
        details = event_details(self.event, org.name, words)
        if self.event.join_url:
            details += "\n\n" + words.gettext("Join on Zoom: %(url)s") % {
                "url": self.event.join_url
            }
        said = replace(self.event, title=title)
        if notice.kind in INVITING:
            ics = invitation(
                said, org, self.now, change.sequence, attendee=attendee, description=details
            )
            attachments = (Attachment("invite.ics", content_type("REQUEST"), ics),)
        elif notice.kind in UNINVITING and invited:
            # A release cancels one person's invitation: a SEQUENCE above the one it had.
            sequence = change.sequence + (1 if notice.kind == RELEASED else 0)
            ics = invitation(
                said,
                org,
                self.now,
                sequence,
                method="CANCEL",
                attendee=attendee,
                description=details,
            )
            attachments = (Attachment("cancel.ics", content_type("CANCEL"), ics),)
        return site_body(self.site, prepared, attachments=attachments)
