"""mailer.toml and the environment -> typed, validated settings (Settings and its sections).

`load` reads the site's file; `build` turns any TOML table into a settings
dataclass, naming each problem's file and key (config builds each job's
file with it). Nothing here defines the job kinds' options: `mailer status`
and the ledger read only these settings.

Every command defines these dataclasses, so they are made cheap to define:
annotations are evaluated as the classes are (no `from __future__ import
annotations`: `build` then reads each field's type as it is, where it
compiled dozens of annotation strings per load), each class has a docstring
(dataclass otherwise writes one from the signature), settings compare by
identity (eq=False: nothing compares two of them, and equality by value
compiled two more methods per class, __eq__ and __hash__), and their repr
is one method of Section's instead of one compiled per class.
"""

import dataclasses
import functools
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailer.core.durations import DAY, WEEK
from mailer.core.env_secrets import LEDGER_URL  # overrides [ledger] url (an image sets it)
from mailer.core.errors import ConfigError
from mailer.settings.event_key import load_event_key
from mailer.settings.rules import (
    Address,
    Between,
    Duration,
    OneOf,
    Rule,
    Text,
    Url,
    accepts,
    rule_of,
)
from mailer.settings.schema import DEFAULT_COLUMNS, DEFAULT_TABS
from mailer.settings.transports import TRANSPORTS

SMTP_SECURITY = ("starttls", "ssl", "none")
IMAP_SECURITY = ("ssl", "starttls", "none")
MOST_TIMEOUT = 600  # seconds: a network step that takes longer is better given up
MOST_MONEY = 1_000_000
HOST = Text(most=253, pattern=r"[A-Za-z0-9.:\[\]_-]+", example="a host name or IP address")
CURRENCY = Text(pattern="[A-Z]{3}", example="a three-letter currency code such as USD")
LANGUAGE_CODE = Text(
    pattern="[a-z]{2,3}([_-][A-Za-z0-9]{2,8})*", example="a language code such as en, es or hmn"
)


class Section:
    """A settings section. Its repr is dataclass's own, written once here (each has repr=False)."""

    __dataclass_fields__: typing.ClassVar[dict[str, dataclasses.Field[Any]]]

    def __repr__(self) -> str:
        shown = (f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self) if f.repr)
        return f"{type(self).__qualname__}({', '.join(shown)})"


@dataclass(frozen=True, eq=False, repr=False)
class Organization(Section):
    """`[organization]`: who sends, from which address, in which time zone."""

    name: str = accepts(Text(most=200))
    sender: str = accepts(Address())
    timezone: str = "UTC"
    sender_name: str = accepts(Text(optional=True, most=200), "")
    reply_to: str = accepts(Address(optional=True), "")
    website: str = accepts(Url(), "")
    postal_address: str = accepts(Text(optional=True, most=500), "")
    organizers: list[str] = accepts(Address(), factory=list)  # who hears of problems
    # What a person hears when their answer names no language the site has.
    language: str = accepts(LANGUAGE_CODE, "en")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True, eq=False, repr=False)
class Donation(Section):
    """`[donation]`: what non-members are asked to give, and to what."""

    minimum: int = accepts(Between(0, MOST_MONEY), 0)
    maximum: int = accepts(Between(0, MOST_MONEY, zero="no donation request"), 0)
    currency: str = accepts(CURRENCY, "USD")
    cause: str = ""
    how_to_pay: str = ""
    url: str = accepts(Url(), "")

    @property
    def enabled(self) -> bool:
        return self.maximum > 0


@dataclass(frozen=True, eq=False, repr=False)
class WorkbookSettings(Section):
    """`[workbook]`: where the organizers' spreadsheet is, and its tabs' and columns' names."""

    backend: str = accepts(OneOf(("csv", "google")), "csv")
    path: Path = Path("lists")
    spreadsheet: str = ""
    credentials: Path | None = None
    # CSV: how 9/12/2026 reads (Google: the sheet's locale)
    date_order: str = accepts(
        Text(optional=True, most=3, pattern="DMY|MDY", example='"DMY" or "MDY"'), ""
    )
    mailer_tab: str = accepts(Text(most=100), "Mailer")  # where mailer reports runs, problems
    tabs: dict[str, str] = accepts(Text(most=100), factory=dict)
    columns: dict[str, dict[str, str]] = accepts(Text(most=200), factory=dict)

    def tab(self, name: str) -> str:
        return self.tabs.get(name, DEFAULT_TABS[name])

    def column_map(self, tab: str) -> dict[str, str]:
        """Logical field -> header text for one tab, defaults overlaid by mailer.toml."""
        return {**DEFAULT_COLUMNS[tab], **self.columns.get(tab, {})}


@dataclass(frozen=True, eq=False, repr=False)
class SmtpSettings(Section):
    """`[transport.smtp]`; the password comes from SMTP_PASSWORD, never from this file."""

    host: str = accepts(HOST, "localhost")
    port: int = accepts(Between(1, 65535, zero="the usual port of `security`"), 0)
    username: str = ""
    security: str = accepts(OneOf(SMTP_SECURITY), "starttls")
    timeout: int = accepts(Between(0, MOST_TIMEOUT, "seconds", above=True), 30)
    ca_file: Path | None = None

    @property
    def effective_port(self) -> int:
        return self.port or {"starttls": 587, "ssl": 465, "none": 25}[self.security]


@dataclass(frozen=True, eq=False, repr=False)
class SendgridSettings(Section):
    """`[transport.sendgrid]`; the key comes from SENDGRID_API_KEY, never from this file."""

    host: str = accepts(Url(optional=False, prefix_only=True), "https://api.sendgrid.com")
    sandbox: bool = False
    timeout: float = accepts(Between(0, MOST_TIMEOUT, "seconds", above=True), 30)  # fractions too
    max_wait: int = accepts(Between(0, DAY, "seconds"), 120)


@dataclass(frozen=True, eq=False, repr=False)
class TransportSettings(Section):
    """`[transport]`: how mail leaves (outbox, smtp, sendgrid), and how fast."""

    backend: str = accepts(OneOf(TRANSPORTS.keys()), "outbox")
    path: Path = Path("outbox")
    # messages in any 24 hours, to stay under the provider's quota; 0: none
    daily_limit: int = accepts(Between(0, 1_000_000, "messages", zero="no limit"), 0)
    # messages in any minute; 0: as fast as the provider takes them
    per_minute: int = accepts(Between(0, 100_000, "messages", zero="no limit"), 0)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    sendgrid: SendgridSettings = field(default_factory=SendgridSettings)


SQLITE_URL = "sqlite:///"
POSTGRES_URLS = ("postgresql://", "postgres://", "postgresql+psycopg://")
LEDGER_URL_PROBLEM = (
    "expected sqlite:///state/mailer.db or postgresql://user@host/database "
    "(the password goes in MAILER_LEDGER_PASSWORD, not in the URL)"
)


@dataclass(frozen=True, eq=False, repr=False)
class BounceSettings(Section):
    """`[bounces]`: the sending mailbox, read over IMAP for bounce reports.

    Blank host and username take [transport.smtp]'s (smtp.gmail.com read as
    imap.gmail.com); the password comes from
    IMAP_PASSWORD (or the file IMAP_PASSWORD_FILE names), else SMTP_PASSWORD.
    """

    host: str = accepts(
        Text(optional=True, most=253, pattern=HOST.pattern, example=HOST.example), ""
    )
    port: int = accepts(Between(1, 65535, zero="993 for ssl, 143 for starttls"), 0)
    username: str = ""
    security: str = accepts(OneOf(IMAP_SECURITY), "ssl")  # ssl (IMAPS), starttls, none (loopback)
    folder: str = accepts(Text(most=200), "INBOX")  # a Gmail label is a folder too
    timeout: int = accepts(Between(0, MOST_TIMEOUT, "seconds", above=True), 30)
    ca_file: Path | None = None
    first_scan_days: int = accepts(
        Between(1, 3650, "days"), 30
    )  # how far back the first scan looks

    @property
    def effective_port(self) -> int:
        return self.port or {"ssl": 993, "starttls": 143, "none": 143}[self.security]


@dataclass(frozen=True, eq=False, repr=False)
class LedgerSettings(Section):
    """`[ledger]`: where mailer's memory lives, and the folder for what is not in it.

    `url` is `sqlite:///state/mailer.db` (relative to the site) by default, or
    `postgresql://user@host/db` (the password from MAILER_LEDGER_PASSWORD or
    MAILER_LEDGER_PASSWORD_FILE). `path` is the SQLite file, or empty on
    PostgreSQL. `state` holds the local secret, caches and the like: the SQLite
    file's folder, or `state/` beside mailer.toml.
    """

    url: str = ""  # checked with MAILER_LEDGER_URL in _check
    path: Path = Path("state/mailer.db")
    state: Path | None = None
    lock_timeout: int = accepts(Between(0, 3600, "seconds"), 60)  # wait for another run
    # how long a claim to send holds before another process may call it unknown
    lease: str = accepts(Duration(10, DAY), "10 minutes")

    @property
    def on_sqlite(self) -> bool:
        return self.url.startswith(SQLITE_URL)

    @property
    def state_folder(self) -> Path:
        return self.state if self.state is not None else self.path.parent

    def sqlite_at(self, path: Path, state: Path | None = None) -> "LedgerSettings":
        """The same settings with the ledger in a SQLite file at `path` (a scratch copy, say)."""
        return dataclasses.replace(
            self, url=SQLITE_URL + str(path), path=path, state=state or path.parent
        )


@dataclass(frozen=True, eq=False, repr=False)
class ServerSettings(Section):
    """`mailer serve`: the unsubscribe pages. `public_url` is where people reach it."""

    public_url: str = accepts(Url(prefix_only=True), "")
    host: str = accepts(HOST, "127.0.0.1")
    port: int = accepts(Between(1, 65535), 8080)
    sendgrid_event_key: str = ""  # the Event Webhook's public verification key (not a secret)


@dataclass(frozen=True, eq=False, repr=False)
class FormSettings(Section):
    """`[form]`: the Google Form people sign up with, kept in step with the seats."""

    id: str = accepts(Text(optional=True), "")  # the form's id, or its edit URL
    question: str = accepts(Text(optional=True), "")  # the question that names the session
    waitlist: bool = True  # a full session stays on the form to join its waitlist
    api_url: str = accepts(Url(optional=False, prefix_only=True), "https://forms.googleapis.com")


@dataclass(frozen=True, eq=False, repr=False)
class SeriesSettings(Section):
    """`[series]`: how far ahead the Series tab's sessions are kept as Events rows.

    Blank (the default): the Series tab is not read at all.
    """

    ahead: str = accepts(Duration(DAY, 53 * WEEK, blank="no Series tab"), "")


@dataclass(frozen=True, eq=False, repr=False)
class SelfServiceSettings(Section):
    """`[self_service]`: how people release a seat, leave the waitlist or claim an offer.

    With `[server] public_url` the links open `mailer serve`; otherwise, with
    `form_url` (a Google Form's pre-filled link, ending where the token goes),
    they open that form, whose answers land in the `releases` tab.
    """

    form_url: str = ""
    acknowledge_organizer_cancels: bool = True


@dataclass(frozen=True, eq=False, repr=False)
class ConfirmationText(Section):
    """`[confirmation]`: what a confirmed person should expect, a line each; empty leaves it out."""

    what_to_expect: list[str] = accepts(Text(most=1000), factory=list)


@dataclass(frozen=True, eq=False, repr=False)
class MonitorSettings(Section):
    """`[monitor]`: an outside check pinged after each run, and when failing reaches people."""

    ping_url: str = accepts(Url(), "")  # https://hc-ping.com/<uuid>: /start, success, /fail
    timeout: float = accepts(Between(0, 60, "seconds", above=True), 10)  # per ping
    # a job failing this long on every run is mailed to organizers
    failing_after: str = accepts(Duration(least=60, most=WEEK), "1 hour")


@dataclass(frozen=True, eq=False, repr=False)
class LanguageSettings(Section):
    """`[languages.<code>]`: one language's own texts and what CLDR may lack for it.

    Texts left unset fall back to the default language's. `date_format` and
    `time_format` are CLDR patterns (`d/M/y`, `HH:mm`) used where Babel has no
    calendar data for the language (Latin-script Hmong, `hmn`).
    """

    name: str = accepts(Text(optional=True, most=100), "")  # where CLDR does not know it
    answers: list[str] = accepts(Text(most=100), factory=list)  # more spellings of its name
    date_format: str = accepts(Text(optional=True, most=50), "")
    time_format: str = accepts(Text(optional=True, most=50), "")
    direction: str = accepts(OneOf(("", "ltr", "rtl")), "")  # where CLDR does not know it
    what_to_expect: list[str] | None = accepts(Text(most=1000), None)
    cause: str = accepts(Text(optional=True, most=500), "")
    how_to_pay: str = accepts(Text(optional=True, most=1000), "")


# Site texts that may be a table of languages (`what_to_expect.es = [...]`): section, key.
LOCALIZED = (("confirmation", "what_to_expect"), ("donation", "cause"), ("donation", "how_to_pay"))


@dataclass(frozen=True, eq=False, repr=False)
class PrivacySettings(Section):
    """`[privacy]`: how long mailer keeps what it sent and what it knew of people.

    A sent message's body (the ledger's copy, the outbox files) goes after
    `keep_bodies`; a session that ended `keep_sessions` ago keeps only counts
    and keyed hashes (see README, "What mailer keeps, and for how long").
    """

    keep_bodies: str = accepts(Duration(DAY, 10 * 53 * WEEK), "30 days")
    keep_sessions: str = accepts(Duration(DAY, 10 * 53 * WEEK), "180 days")


@dataclass(frozen=True, eq=False, repr=False)
class Settings(Section):
    """mailer.toml, each section typed and checked; `source` is the file it was read from."""

    organization: Organization
    donation: Donation = field(default_factory=Donation)
    workbook: WorkbookSettings = field(default_factory=WorkbookSettings)
    transport: TransportSettings = field(default_factory=TransportSettings)
    ledger: LedgerSettings = field(default_factory=LedgerSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    form: FormSettings = field(default_factory=FormSettings)
    series: SeriesSettings = field(default_factory=SeriesSettings)
    self_service: SelfServiceSettings = field(default_factory=SelfServiceSettings)
    confirmation: ConfirmationText = field(default_factory=ConfirmationText)
    monitor: MonitorSettings = field(default_factory=MonitorSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    bounces: BounceSettings | None = None  # [bounces]: read the sending mailbox for bounces
    languages: dict[str, LanguageSettings] = field(default_factory=dict)
    source: Path = Path("mailer.toml")

    @property
    def root(self) -> Path:
        return self.source.parent


LOOPBACK = ("localhost", "127.0.0.1", "[::1]", "::1")


def read_toml(path: Path) -> dict[str, object]:
    """A settings file as TOML, or a ConfigError saying why it cannot be read."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (pass --config PATH)") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot be read ({err.strerror})") from None
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark, as Notepad writes it, is fine
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: line {line}: byte 0x{data[err.start]:02x} is not UTF-8 text; "
            "save the file as UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None


def load(path: Path) -> Settings:
    """Read and validate a mailer.toml; relative paths resolve against its folder.

    Every value is checked against what its key accepts (see setting_rules),
    and every problem in the file is named at once, one line each.
    """
    path = Path(path)
    raw = _localized(read_toml(path))
    problems: list[str] = []
    settings = build(Settings, {**raw, "source": str(path)}, path, "", problems)
    if isinstance(settings, Settings):
        settings = _with_bounce_defaults(settings)
        problems += _check(settings, path) + _check_bounces(settings, path)
    if problems or not isinstance(settings, Settings):
        raise ConfigError("\n".join(problems))
    resolved = _resolve_paths(settings, path.resolve().parent)
    ca_files = {"transport.smtp": resolved.transport.smtp.ca_file}
    if resolved.bounces is not None:
        ca_files["bounces"] = resolved.bounces.ca_file
    for section, ca_file in ca_files.items():
        if ca_file is not None and not ca_file.is_file():
            raise ConfigError(f"{path}: [{section}] ca_file: no such file {str(ca_file)!r}")
    return resolved


def _localized(raw: dict[str, Any]) -> dict[str, Any]:
    """`what_to_expect.es = [...]` and friends moved under `[languages.es]`.

    The default language's entry stays where it was, so the rest of mailer reads
    one value per key and `[languages.<code>]` for the others. Anything not shaped
    so is left as it is, for the checks to name.
    """
    organization = raw.get("organization")
    default = organization.get("language", "en") if isinstance(organization, dict) else "en"
    given = raw.get("languages", {})
    if not isinstance(given, dict):
        return raw
    languages = {
        code: dict(table) if isinstance(table, dict) else table for code, table in given.items()
    }
    out = {**raw}
    for section, key in LOCALIZED:
        table = out.get(section)
        value = table.get(key) if isinstance(table, dict) else None
        if not isinstance(table, dict) or not isinstance(value, dict):
            continue
        table = {**table}
        if default in value:
            table[key] = value[default]
        else:
            table.pop(key)
        out[section] = table
        for code, text in value.items():
            own = languages.setdefault(code, {})
            if code != default and isinstance(own, dict):
                own[key] = text
    if languages:
        out["languages"] = languages
    return out


def _check(settings: Settings, path: Path) -> list[str]:
    """What no single key shows: a zone's existence, and keys that must agree."""
    problems = []
    try:
        settings.organization.zone  # noqa: B018 - validates the zone name
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(
            f"{path}: [organization] timezone: unknown time zone "
            f"{settings.organization.timezone!r} (use a name like 'America/Chicago')"
        )
    donation = settings.donation
    if donation.enabled and donation.minimum > donation.maximum:
        problems.append(
            f"{path}: [donation] minimum: {donation.minimum} is above maximum "
            f"{donation.maximum}; expected minimum <= maximum"
        )
    if settings.server.sendgrid_event_key:
        try:
            load_event_key(settings.server.sendgrid_event_key)
        except ValueError as err:
            problems.append(f"{path}: [server] sendgrid_event_key: {err}")
    ledger_url = os.environ.get(LEDGER_URL, "") or settings.ledger.url
    if ledger_url and not ledger_url.startswith((SQLITE_URL, *POSTGRES_URLS)):
        where = LEDGER_URL if os.environ.get(LEDGER_URL) else f"{path}: [ledger] url"
        problems.append(f"{where}: {LEDGER_URL_PROBLEM}")
    form = settings.form
    if form.id and not form.question:
        problems.append(f"{path}: [form] question: the title of the session question")
    smtp = settings.transport.smtp
    if smtp.username and smtp.security == "none" and smtp.host not in LOOPBACK:
        problems.append(
            f'{path}: [transport.smtp] security: "none" would send the password unencrypted '
            f'to {smtp.host}; use "starttls" or "ssl"'
        )
    form_url = settings.self_service.form_url
    if form_url and (Url().problem(form_url) or not form_url.endswith("=")):
        problems.append(
            f"{path}: [self_service] form_url: {form_url!r}: expected the form's https "
            "pre-filled link, ending with `entry.<number>=` (drop the sample answer after the `=`)"
        )
    for tab, name in settings.workbook.tabs.items():
        if tab not in DEFAULT_TABS:
            known = ", ".join(DEFAULT_TABS)
            problems.append(f"{path}: [workbook.tabs] {tab}: unknown tab name (known: {known})")
        elif settings.workbook.backend == "csv" and re.search(r"[/\\]|^\.", name):
            problems.append(
                f"{path}: [workbook.tabs] {tab}: {name!r}: a CSV tab is a file in the workbook "
                "folder: expected a name without / or \\ that does not start with a dot"
            )
    for tab, mapping in settings.workbook.columns.items():
        if tab not in DEFAULT_COLUMNS:
            known = ", ".join(DEFAULT_COLUMNS)
            problems.append(f"{path}: [workbook.columns.{tab}]: unknown tab (known: {known})")
            continue
        for key in mapping:
            if key not in DEFAULT_COLUMNS[tab]:
                known = ", ".join(DEFAULT_COLUMNS[tab])
                problems.append(
                    f"{path}: [workbook.columns.{tab}] {key}: unknown column (known: {known})"
                )
    return problems


def _with_bounce_defaults(settings: Settings) -> Settings:
    """[bounces] host and username default to the SMTP ones: the same sending mailbox.

    The host's `smtp.` becomes `imap.` (smtp.gmail.com -> imap.gmail.com).
    """
    bounces, smtp = settings.bounces, settings.transport.smtp
    if bounces is None:
        return settings
    return dataclasses.replace(
        settings,
        bounces=dataclasses.replace(
            bounces,
            host=bounces.host or re.sub(r"^smtp\.", "imap.", smtp.host),
            username=bounces.username or smtp.username,
            ca_file=bounces.ca_file or smtp.ca_file,
        ),
    )


def _check_bounces(settings: Settings, path: Path) -> list[str]:
    """What [bounces] needs beyond each key's own rule, once the SMTP defaults are in."""
    bounces = settings.bounces
    if bounces is None:
        return []
    problems = []
    if bounces.security == "none" and bounces.host not in LOOPBACK:
        problems.append(
            f'{path}: [bounces] security: "none" would send the password unencrypted '
            f'to {bounces.host}; use "ssl" (IMAPS, port 993) or "starttls"'
        )
    if not bounces.host:
        problems.append(f"{path}: [bounces] host: the IMAP server, such as imap.gmail.com")
    if not bounces.username:
        problems.append(
            f"{path}: [bounces] username: the sending mailbox's login "
            "(or set [transport.smtp] username)"
        )
    if not bounces.folder.isascii():
        problems.append(
            f"{path}: [bounces] folder: {bounces.folder!r}: use a folder or label whose name "
            "is plain ASCII"
        )
    return problems


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    def under(p: Path) -> Path:
        return p if p.is_absolute() else base / p

    def maybe(p: Path | None) -> Path | None:
        return None if p is None else under(p)

    return dataclasses.replace(
        settings,
        source=Path(settings.source).resolve(),
        workbook=dataclasses.replace(
            settings.workbook,
            path=under(settings.workbook.path),
            credentials=maybe(settings.workbook.credentials),
        ),
        transport=dataclasses.replace(
            settings.transport,
            path=under(settings.transport.path),
            smtp=dataclasses.replace(
                settings.transport.smtp, ca_file=maybe(settings.transport.smtp.ca_file)
            ),
        ),
        ledger=_resolve_ledger(settings.ledger, base),
        bounces=settings.bounces
        and dataclasses.replace(settings.bounces, ca_file=maybe(settings.bounces.ca_file)),
    )


def _resolve_ledger(ledger: LedgerSettings, base: Path) -> LedgerSettings:
    """The ledger's URL (MAILER_LEDGER_URL wins), its SQLite file and state folder, absolute."""
    url = os.environ.get(LEDGER_URL, "") or ledger.url
    path = ledger.path
    if not url:
        url = SQLITE_URL + str(path)
    if url.startswith(SQLITE_URL):
        path = Path(url.removeprefix(SQLITE_URL))
        path = path if path.is_absolute() else base / path
        url = SQLITE_URL + str(path)
        state = ledger.state if ledger.state is not None else path.parent
    else:
        path = Path()
        state = ledger.state if ledger.state is not None else Path("state")
    return dataclasses.replace(
        ledger, url=url, path=path, state=state if state.is_absolute() else base / state
    )


INVALID = object()  # a value that failed its check; its problem is already recorded
HIDDEN = ("source", "name")  # filled in by mailer, not written in the file


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    """A settings class's field types, resolved once: each load builds dozens of them."""
    return typing.get_type_hints(cls)


def build(cls: type, table: object, path: Path, where: str, problems: list[str]) -> object:
    """Turn a TOML table into dataclass `cls`; each mismatch is a problem naming file and key."""
    if not isinstance(table, dict):
        problems.append(
            f"{path}: [{where}]: expected a section, got {type(table).__name__} {table!r}"
        )
        return INVALID
    hints = _type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    sections = [n for n in fields if _is_section(hints[n])]
    keys = [n for n in fields if n not in sections and n not in HIDDEN]
    known_sections = ", ".join(f"[{_join(where, n)}]" for n in sections) or "none"
    for key in table:
        if key in fields:
            continue
        if isinstance(table[key], dict):
            problems.append(
                f"{path}: [{_join(where, key)}]: unknown section (known sections: {known_sections})"
            )
        elif keys:
            problems.append(f"{path}: {_key(where, key)}: unknown key (known: {', '.join(keys)})")
        else:
            problems.append(
                f"{path}: {_key(where, key)}: unknown key; keys go in a section ({known_sections})"
            )
    values = {}
    for name, f in fields.items():
        if name not in table:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                problems.append(f"{path}: {_key(where, name)}: missing")
                values[name] = INVALID
            continue
        values[name] = _coerce(hints[name], table[name], path, _join(where, name), problems)
        rule = rule_of(f.metadata)
        if rule is not None and values[name] is not INVALID:
            _apply(rule, values[name], path, _join(where, name), problems)
    if any(v is INVALID for v in values.values()) or problems:
        return INVALID
    return cls(**values)


def _is_section(hint: object) -> bool:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # an optional section
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    nested = isinstance(hint, type) and dataclasses.is_dataclass(hint)
    return nested or typing.get_origin(hint) is dict


def _apply(rule: Rule, value: object, path: Path, where: str, problems: list[str]) -> None:
    """Check `value` (each item of a list, each value of a table) against its rule."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            _apply(rule, item, path, f"{where}[{i}]", problems)
    elif isinstance(value, dict):
        for key, item in value.items():
            _apply(rule, item, path, _join(where, key), problems)
    else:
        accepted = rule.problem(value)
        if accepted:
            problems.append(f"{path}: {_key(where)}: {shown(value)}: {accepted}")


def shown(value: object) -> str:
    """A value as the file wrote it, cut short when it is long."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _coerce(hint: Any, value: object, path: Path, where: str, problems: list[str]) -> object:
    origin = typing.get_origin(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return build(hint, value, path, where, problems)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _coerce(options[0], value, path, where, problems)
    if origin is list:
        if not isinstance(value, list):
            problems.append(f"{path}: {_key(where)}: expected a list, got {shown(value)}")
            return INVALID
        (inner,) = typing.get_args(hint)
        items = [_coerce(inner, v, path, f"{where}[{i}]", problems) for i, v in enumerate(value)]
        return INVALID if INVALID in items else items
    if origin is dict:
        if not isinstance(value, dict):
            problems.append(f"{path}: [{where}]: expected a section, got {shown(value)}")
            return INVALID
        _, inner = typing.get_args(hint)
        table = {
            str(k): _coerce(inner, v, path, _join(where, k), problems) for k, v in value.items()
        }
        return INVALID if INVALID in table.values() else table
    if hint is Path:
        text = _expect(str, value, path, where, problems)
        if text is INVALID:
            return INVALID
        if not str(text).strip() or "\x00" in str(text):
            problems.append(f"{path}: {_key(where)}: {shown(value)}: expected a file path")
            return INVALID
        return Path(str(text))
    return _expect(hint, value, path, where, problems)


def _expect(kind: type, value: object, path: Path, where: str, problems: list[str]) -> object:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # `timeout = 30` is a float setting written as a whole number
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        problems.append(
            f"{path}: {_key(where)}: expected {kind.__name__}, got {type(value).__name__} "
            f"{shown(value)}"
        )
        return INVALID
    return value


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _key(where: str, key: str | None = None) -> str:
    full = _join(where, key) if key else where
    section, _, name = full.rpartition(".")
    return f"[{section}] {name}" if section else name
