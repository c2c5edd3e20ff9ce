"""Raw workbook rows -> Event, Signup and Member records, with a Problem for each bad cell."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Protocol
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailer.core.moments import YEARS
from mailer.core.text import clean_text
from mailer.model import Event, Problem, Resolution, Resource, Signup, Subscriber, normalize_email
from mailer.rules.binding import EventMatcher
from mailer.rules.statuses import CANCELLED, canonical
from mailer.settings.schema import REQUIRED_COLUMNS
from mailer.sheet.columns import Columns as Columns
from mailer.sheet.columns import mapping_section as mapping_section
from mailer.sheet.workbook import FORMULA_STARTS, Table, as_meant

MAX_CELL = 500
MAX_NAME = 200
MAX_URL = 2000
MAX_CAPACITY = 10_000
YES = {"yes", "y", "true", "1", "x", "member", "yes, i am a member"}
NO = {"no", "n", "false", "0", "none"}


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A Signups row that cannot take a seat; it still gets a Status and Note."""

    row: int
    key: tuple[str, str]
    problem: Problem


@dataclass(frozen=True, slots=True)
class HeldRow:
    """A Signups row left exactly as it is: its session is missing, or the row is broken."""

    row: int
    email: str
    event_id: str
    reason: str


@dataclass
class Parsed:
    events: list[Event] = field(default_factory=list)
    signups: list[Signup] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    held: list[HeldRow] = field(default_factory=list)
    troubled: dict[str, int] = field(default_factory=dict)  # names of events rows in trouble
    members: set[str] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)


class InvalidAddress(ValueError):
    """Not an address mail can carry; says why."""


def deliverable_address(raw: str) -> str:
    """The address as mail can carry it: syntax checked, its domain in ASCII (IDNA).

    Letters beyond ASCII before the @ need SMTPUTF8, which not every relay
    offers; such an address is refused here, with the reason, rather than
    failing at send time. A plain address (most) is checked by pattern, its
    domain once per run; any other goes through email_validator, each
    distinct text once (the sheet names the same people run after run).
    """
    local, at, domain = raw.partition("@")
    if at and len(local) <= 64 and len(raw) <= 254 and PLAIN_LOCAL.fullmatch(local):
        lowered = _plain_domain(domain)
        if lowered is not None:
            return raw if lowered == domain else f"{local}@{lowered}"  # one string, not two
    address, why = _checked(raw)
    if why:
        raise InvalidAddress(why)
    return address


# A plain address: dot-atom ASCII before the @ (the first @: the part before holds none);
# after it, two or more labels of letters, digits and inner hyphens (none holding "--", so
# no IDNA), ending in a name of letters, and no special-use name.
PLAIN_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
PLAIN_DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}")


@functools.lru_cache(maxsize=1024)
def _plain_domain(domain: str) -> str | None:
    """A plain address's domain in lower case, or None: then email_validator judges the address.

    Cached by domain: a sheet of 100,000 readers names a few hundred domains.
    """
    if not PLAIN_DOMAIN.fullmatch(domain) or "--" in domain:
        return None
    lowered = domain.lower()
    return lowered if _ordinary_domain(lowered) else None


@functools.lru_cache(maxsize=1024)
def _checked(raw: str) -> tuple[str, str]:
    """(address, "") or ("", why not), by email_validator: an address that is not plain."""
    import email_validator  # slow to import

    try:
        checked = email_validator.validate_email(
            raw, check_deliverability=False, allow_smtputf8=False
        )
    except email_validator.EmailNotValidError as err:
        return "", str(err)
    address = checked.ascii_email or checked.normalized
    return (raw if address == raw else address), ""


@functools.lru_cache(maxsize=1024)
def _ordinary_domain(domain: str) -> bool:
    """Whether neither the (lower-case) domain nor a parent is a special-use name."""
    import email_validator  # slow to import

    labels = domain.split(".")
    names = {".".join(labels[n:]) for n in range(len(labels))}  # the domain and its parents
    return names.isdisjoint(email_validator.SPECIAL_USE_DOMAIN_NAMES)


NUMERIC_DATE = re.compile(
    r"(?P<a>\d{1,4})(?P<sep>[/.-])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{1,4})"
    r"(?:[ T]+(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?\s*(?P<half>[AaPp][Mm])?)?"
)
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


class AmbiguousDate(ValueError):
    """A day/month date that reads two ways, and nothing settles which."""


def parse_datetime(text: str, zone: ZoneInfo, order: str = "") -> datetime:
    """A sheet's date-time: ISO 8601, or numeric as the sheet's locale writes it; naive is `zone`.

    `order` ("DMY" or "MDY", from the Google sheet's locale or `[workbook]
    date_order`) says how 9/12/2026 reads; without it a date whose day and
    month could swap is refused rather than guessed.
    """
    text = text.strip()
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        value = _numeric_datetime(text, order)
    return value if value.tzinfo else value.replace(tzinfo=zone)


def _numeric_datetime(text: str, order: str) -> datetime:
    match = NUMERIC_DATE.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a date and time (use 2026-12-02 12:00)")
    a, b, c = match["a"], match["b"], match["c"]
    if len(a) == 4:
        year, month, day = int(a), int(b), int(c)
    elif len(c) == 4:
        year = int(c)
        month, day = _month_day(int(a), int(b), order, text, year)
    else:
        raise ValueError(f"{text!r}: write the year in full (use 2026-12-02 12:00)")
    hour, minute, second = (int(match[k] or 0) for k in ("hour", "minute", "second"))
    if match["half"]:
        if not 1 <= hour <= 12:
            raise ValueError(f"{text!r} is not a time (use 2026-12-02 13:00)")
        hour = hour % 12 + (12 if match["half"].casefold() == "pm" else 0)
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        shown = "day/month/year" if order == "DMY" else "month/day/year"
        raise ValueError(
            f"{text!r} is not a date in {shown} order (use 2026-12-02 12:00)"
        ) from None


def _month_day(a: int, b: int, order: str, text: str, year: int) -> tuple[int, int]:
    """(month, day) of a/b/year, as `order` says, or as the numbers alone show."""
    if order == "MDY":
        return a, b
    if order == "DMY":
        return b, a
    if a > 12 >= b:
        return b, a
    if b > 12 >= a or a == b:
        return a, b
    raise AmbiguousDate(
        f"{text!r} could be {b} {MONTHS[a - 1]} or {a} {MONTHS[b - 1]} {year}; write it as"
        f" {year}-{b:02}-{a:02} or {year}-{a:02}-{b:02}, or say how the sheet writes dates:"
        ' [workbook] date_order = "DMY" (day first) or "MDY" (month first) in mailer.toml'
    )


def skipped_time(typed: str, value: datetime, zone_name: str) -> str | None:
    """Why a wall-clock time never happens in its zone (the clocks jump over it), or None."""
    actual = value.astimezone(UTC).astimezone(value.tzinfo)
    if actual.replace(tzinfo=None) == value.replace(tzinfo=None):
        return None
    before, after = value.replace(fold=0).tzname(), value.replace(fold=1).tzname()
    return (
        f"{typed[:40]!r} does not exist in {zone_name}: the clocks skip ahead there that night"
        f" ({before} to {after}); give a time that happens, such as {actual:%H:%M}"
    )


def repeated_time(typed: str, value: datetime, zone_name: str) -> str | None:
    """Why a wall-clock time is read as its first occurrence (the clocks go back), or None."""
    first, second = value.replace(fold=0), value.replace(fold=1)
    if first.utcoffset() == second.utcoffset():
        return None
    return (
        f"{typed[:40]!r} happens twice in {zone_name} (the clocks go back, {first.tzname()} to"
        f" {second.tzname()}); read as the first, {first:%H:%M} {first.tzname()}; for the"
        f" second write {second.isoformat(timespec='minutes')}"
    )


def parse_events(table: Table, mapping: dict[str, str], default_zone: str) -> Parsed:
    """Every events row becomes an Event or a Problem; a bad row never stops the others."""
    columns = Columns(table, mapping, REQUIRED_COLUMNS["events"])
    parsed = Parsed()
    seen: dict[str, int] = {}
    for number, values in table.numbered_rows():
        if not any(v.strip() for v in values):
            continue
        problem = None
        if number in table.broken:
            problem = Problem(table.tab, number, "", table.broken[number])
        else:
            try:
                event, warnings = _event(columns, values, number, default_zone)
            except _CellError as err:
                problem = Problem(
                    table.tab,
                    number,
                    columns.header(err.field),
                    err.reason,
                    value=columns.text(values, err.field),
                )
            else:
                parsed.problems.extend(
                    Problem(table.tab, number, columns.header(f), reason, fatal=False)
                    for f, reason in warnings
                )
                if event.id in seen:
                    problem = Problem(
                        table.tab, number, columns.header("id"), f"same id as row {seen[event.id]}"
                    )
                else:
                    seen[event.id] = number
                    parsed.events.append(event)
        if problem:
            parsed.problems.append(problem)
            for name in ("id", "label", "title"):
                if columns.index.get(name) is not None and columns.text(values, name):
                    parsed.troubled.setdefault(normalize_email(columns.text(values, name)), number)
    return parsed


def _yes_no(text: str) -> bool | None:
    folded = text.strip().casefold()
    return None if not folded else folded not in NO


class _CellError(Exception):
    def __init__(self, field_name: str, reason: str):
        self.field = field_name
        self.reason = reason


HTTP_WARNING = "is http, not https: the link is not private on the way"


def web_link(url: str) -> str | None:
    """Why `url` may not go into an email's href, or None when it is an http(s) link."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return f"{url[:60]!r} is not a web link (it must start with https://)"
    return None


def _event(
    columns: Columns, values: list[str], number: int, default_zone: str
) -> tuple[Event, list[tuple[str, str]]]:
    warnings: list[tuple[str, str]] = []

    def text(name: str) -> str:
        if columns.index.get(name) is None:
            return ""
        raw = columns.get(values, name)
        limit = MAX_URL if name.endswith("_url") else MAX_CELL
        if len(raw) > limit:
            raise _CellError(name, f"is {len(raw):,} characters long (at most {limit:,})")
        return clean_text(raw)

    event_id = text("id")
    if not event_id:
        raise _CellError("id", "is empty")
    zone_name = text("timezone") or default_zone
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _CellError("timezone", f"unknown time zone {zone_name!r}") from None
    times = {}
    for name in ("starts_at", "ends_at"):
        try:
            times[name] = parse_datetime(text(name), zone, columns.table.date_order)
        except (ValueError, OverflowError) as err:
            raise _CellError(name, str(err)) from None
        if times[name].year not in YEARS:
            raise _CellError(name, f"year {times[name].year} is not a year for a session")
        if times[name].tzinfo is zone:  # a wall-clock time: it must happen, and happen once
            if reason := skipped_time(text(name), times[name], zone_name):
                raise _CellError(name, reason)
            if reason := repeated_time(text(name), times[name], zone_name):
                warnings.append((name, reason))
    # Compared as instants: two wall-clock times in one zone compare as clock readings.
    if times["ends_at"].astimezone(UTC) <= times["starts_at"].astimezone(UTC):
        raise _CellError(
            "ends_at",
            f"{text('ends_at')[:40]!r} is not after starts_at {text('starts_at')[:40]!r}:"
            " give the session's end, later than its start",
        )
    capacity_text = text("capacity")
    if not re.fullmatch(r"\d{1,9}", capacity_text) or int(capacity_text) > MAX_CAPACITY:
        raise _CellError(
            "capacity", f"{capacity_text[:30]!r} is not a whole number from 0 to {MAX_CAPACITY:,}"
        )
    for name in ("join_url", "signup_url"):
        url = text(name)
        if url and (reason := web_link(url)):
            raise _CellError(name, reason)
        if url.lower().startswith("http://"):
            warnings.append((name, HTTP_WARNING))
    status = text("status")
    if status.strip().casefold() not in ("", "scheduled") and canonical(status) != CANCELLED:
        raise _CellError(
            "status", f"{status!r} is not blank or 'cancelled' (a session is cancelled only so)"
        )
    event = Event(
        id=event_id,
        title=text("title") or event_id,
        starts_at=times["starts_at"],
        ends_at=times["ends_at"],
        timezone=zone_name,
        capacity=int(capacity_text),
        join_url=text("join_url"),
        signup_url=text("signup_url"),
        label=text("label"),
        status=CANCELLED if status.strip() and canonical(status) == CANCELLED else "",
        row=number,
        waitlist=_yes_no(text("waitlist")),
        titles=_titles(columns.table, values),
    )
    return event, warnings


# "title_es", "title (es)", "title.es", "Title ES": a session's title in one more language.
TRANSLATED_TITLE = re.compile(r"title\s*[-_.(\s]\s*([a-z]{2,3}(?:[-_][a-z0-9]{2,8})?)\)?")


def _titles(table: Table, values: list[str]) -> tuple[tuple[str, str], ...]:
    titles = []
    for index, header in enumerate(table.header):
        found = TRANSLATED_TITLE.fullmatch(str(header).strip().casefold())
        if found and index < len(values) and (title := clean_text(str(values[index]))):
            titles.append((found.group(1).replace("-", "_"), title[:MAX_CELL]))
    return tuple(sorted(titles))


def parse_members(table: Table, mapping: dict[str, str]) -> Parsed:
    columns = Columns(table, mapping, ("email",))
    parsed = Parsed()
    for number, values in table.numbered_rows():
        raw = columns.get(values, "email").strip()
        if not raw:
            continue
        try:
            address = deliverable_address(raw)
        except InvalidAddress as err:
            parsed.problems.append(Problem(table.tab, number, columns.header("email"), str(err)))
            continue
        parsed.members.add(normalize_email(address))
    return parsed


SIGNUP_REQUIRED = REQUIRED_COLUMNS["signups"]


class Resolve(Protocol):
    def __call__(self, identity: tuple[str, str], answer: str, session_cell: str) -> Resolution: ...


def parse_signups(
    table: Table,
    mapping: dict[str, str],
    events: list[Event],
    zone: ZoneInfo,
    resolve: Resolve | None = None,
) -> Parsed:
    """Every non-blank row becomes a Signup, a RejectedRow or a HeldRow; warnings ride along.

    `resolve` finds an answer's session (mailer.rules.binding); by default the
    answer's text alone names it.
    """
    columns = Columns(table, mapping, SIGNUP_REQUIRED)
    if resolve is None:
        matcher = EventMatcher(events)

        def resolve(identity: tuple[str, str], answer: str, session_cell: str) -> Resolution:
            return Resolution(matcher.find(answer))

    parsed = Parsed()
    for number, values in table.numbered_rows():
        if not any(str(v).strip() for v in values):
            continue
        key = (columns.get(values, "timestamp").strip(), columns.get(values, "email").strip())
        if number in table.broken:
            problem = Problem(table.tab, number, "", table.broken[number])
            parsed.problems.append(problem)
            parsed.held.append(HeldRow(number, normalize_email(key[1]), "", problem.reason))
            continue
        try:
            signup, warnings = _signup(columns, values, number, key, resolve, zone)
        except _CellError as err:
            problem = Problem(
                table.tab,
                number,
                columns.header(err.field),
                err.reason,
                value=columns.text(values, err.field),
            )
            parsed.rejected.append(RejectedRow(number, key, problem))
            parsed.problems.append(problem)
            continue
        except _Held as held:
            parsed.held.append(HeldRow(number, held.email, held.event_id, held.reason))
            continue
        parsed.signups.append(signup)
        parsed.problems.extend(
            Problem(table.tab, number, columns.header(f), reason, fatal=False)
            for f, reason in warnings
        )
    return parsed


class _Held(Exception):
    def __init__(self, email: str, event_id: str, reason: str):
        self.email = email
        self.event_id = event_id
        self.reason = reason


def anyone_asks_for_the_digest(table: Table, mapping: dict[str, str]) -> bool:
    """Whether any Signups row asks for the digest, its one column read as `_signup` reads it."""
    columns = Columns(table, mapping, ())
    if columns.index.get("digest") is None:
        return False
    return any(columns.text(values, "digest").casefold() in YES for values in table.rows)


def _signup(
    columns: Columns,
    values: list[str],
    number: int,
    key: tuple[str, str],
    resolve: Resolve,
    zone: ZoneInfo,
) -> tuple[Signup, list[tuple[str, str]]]:
    warnings: list[tuple[str, str]] = []

    def text(name: str, limit: int = MAX_CELL) -> str:
        if columns.index.get(name) is None:
            return ""
        raw = columns.get(values, name)
        if len(raw) > limit:
            raise _CellError(name, f"is {len(raw):,} characters long (at most {limit:,})")
        cleaned = clean_text(raw)
        if cleaned != raw.strip():
            warnings.append((name, "line breaks or control characters were replaced by spaces"))
        return cleaned

    stamp = text("timestamp")
    if not stamp:
        raise _CellError("timestamp", "is empty")
    try:
        timestamp = parse_datetime(stamp, zone, columns.table.date_order)
    except (ValueError, OverflowError) as err:
        raise _CellError("timestamp", str(err)) from None
    raw_email = text("email")
    if not raw_email:
        raise _CellError("email", "is empty")
    try:
        address = deliverable_address(raw_email)
    except InvalidAddress as err:
        raise _CellError("email", f"not a valid email address: {err}") from None
    email = normalize_email(address)
    answer = text("event")
    found = resolve((timestamp.isoformat(), email), answer, text("session"))
    if found.held:
        raise _Held(email, found.held_id, found.held)
    if found.event_id is None:
        reason = "is empty" if not answer else "names no session on the events tab"
        raise _CellError("event", reason)
    name = text("name", MAX_NAME)
    if name.startswith(FORMULA_STARTS):
        warnings.append(("name", "looks like a spreadsheet formula; it is kept as plain text"))
    status_text = text("status")
    return (
        Signup(
            row=number,
            key=key,
            timestamp=timestamp,
            email=email,
            address=address,
            name=name,
            event_id=found.event_id,
            member=text("member").casefold() in YES,
            pronouns=text("pronouns"),
            digest=text("digest").casefold() in YES,
            status=canonical(status_text),
            status_text=status_text,
            notified=text("notified"),
            position=text("position"),
            language=text("language"),
        ),
        warnings,
    )


def parse_date(text: str, order: str = "") -> date:
    """A date: ISO 8601, or numeric as the sheet's locale writes it (see parse_datetime)."""
    text = text.strip()
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        pass
    if NUMERIC_DATE.fullmatch(text) and ":" not in text:
        try:
            return _numeric_datetime(text, order).date()
        except AmbiguousDate:
            raise
        except ValueError:
            pass
    raise ValueError(f"{text!r} is not a date (use 2026-11-23)")


def parse_resources(table: Table, mapping: dict[str, str]) -> tuple[list[Resource], list[Problem]]:
    columns = Columns(table, mapping, REQUIRED_COLUMNS["resources"])
    resources, problems = [], []
    for number, values in table.numbered_rows():
        if not any(str(v).strip() for v in values):
            continue
        text = functools.partial(columns.text, values)
        url = text("url")
        if reason := web_link(url):
            problems.append(Problem(table.tab, number, columns.header("url"), reason))
            continue
        if url.lower().startswith("http://"):
            problems.append(
                Problem(table.tab, number, columns.header("url"), HTTP_WARNING, fatal=False)
            )
        if not text("title"):
            problems.append(Problem(table.tab, number, columns.header("title"), "is empty"))
            continue
        added = None
        if text("added_on"):
            try:
                added = parse_date(text("added_on"), table.date_order)
            except ValueError as err:
                problems.append(Problem(table.tab, number, columns.header("added_on"), str(err)))
                continue
        resources.append(
            Resource(
                row=number,
                title=text("title"),
                url=url,
                category=text("category") or "Resources",
                description=text("description"),
                audience=text("audience"),
                added_on=added,
                sent_in=text("sent_in"),
                language=text("language"),
            )
        )
    return resources, problems


def parse_subscribers(
    table: Table, mapping: dict[str, str], rows: Iterable[tuple[int, list[str]]] | None = None
) -> tuple[list[Subscriber], list[Problem]]:
    """The Subscribers rows (from `rows` when given, else the table's), and the bad ones."""
    problems: list[Problem] = []
    subscribers = list(each_subscriber(table, mapping, problems, rows))
    return subscribers, problems


def each_subscriber(
    table: Table,
    mapping: dict[str, str],
    problems: list[Problem],
    rows: Iterable[tuple[int, list[str]]] | None = None,
) -> Iterator[Subscriber]:
    """The Subscribers rows one by one, as they are read; a bad row goes to `problems`."""
    for row, raw, email, address, name, unsubscribed, language in subscriber_fields(
        table, mapping, problems, rows
    ):
        yield Subscriber(row, (raw,), email, address, name, unsubscribed, language)


# A Subscribers row as plain values, in Subscriber's order (its key: the cell as typed).
SubscriberFields = tuple[int, str, str, str, str, bool, str]


def subscriber_fields(
    table: Table,
    mapping: dict[str, str],
    problems: list[Problem],
    rows: Iterable[tuple[int, list[str]]] | None = None,
) -> Iterator[SubscriberFields]:
    """each_subscriber's rows as tuples, for a holder that keeps no Subscriber (100,000 rows)."""
    columns = Columns(table, mapping, ("email",))
    # Where each cell is; a column the tab lacks reads as past the end of every row.
    email_at, left_at, name_at, language_at = (
        -1 if at is None else at
        for at in (columns.index.get(c) for c in ("email", "unsubscribed_on", "name", "language"))
    )
    for number, values in table.numbered_rows() if rows is None else rows:
        # As columns.get and columns.text read a cell, without their calls (100,000 rows).
        width = len(values)
        raw = str(values[email_at]).strip() if -1 < email_at < width else ""
        if not raw:
            continue
        try:
            # mailer adds rows here itself: an address it wrote as '=x@... is =x@...
            address = deliverable_address(as_meant(raw) if raw[0] == "'" else raw)
        except InvalidAddress as err:
            problems.append(
                Problem(table.tab, number, columns.header("email"), f"not a valid address: {err}")
            )
            continue
        email = address.strip().casefold()  # as normalize_email, without its call
        if email == address:
            email = address  # one string, not two
        left = values[left_at] if -1 < left_at < width else ""
        unsubscribed = left != "" and bool(clean_text(str(left)))
        name = clean_text(str(values[name_at])) if -1 < name_at < width else ""
        language = clean_text(str(values[language_at])) if -1 < language_at < width else ""
        yield number, raw, email, address, name, unsubscribed, language
