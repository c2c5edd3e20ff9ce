"""mailer.toml and the environment -> typed, validated settings."""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailer.core.durations import seconds
from mailer.core.errors import ConfigError
from mailer.rules.digest import AT
from mailer.settings.event_key import load_event_key
from mailer.settings.kinds import KINDS, Options, SignupsOptions
from mailer.settings.schema import DEFAULT_COLUMNS, DEFAULT_TABS

Opts = TypeVar("Opts", bound=Options)


@dataclass(frozen=True)
class Organization:
    name: str
    sender: str
    timezone: str = "UTC"
    sender_name: str = ""
    reply_to: str = ""
    website: str = ""
    postal_address: str = ""
    language: str = "en"  # what a person hears when their answer names no language the site has

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Donation:
    minimum: int = 0
    maximum: int = 0
    currency: str = "USD"
    cause: str = ""
    how_to_pay: str = ""
    url: str = ""

    @property
    def enabled(self) -> bool:
        return self.maximum > 0


@dataclass(frozen=True)
class WorkbookSettings:
    backend: str = "csv"
    path: Path = Path("lists")
    spreadsheet: str = ""
    credentials: Path | None = None
    tabs: dict[str, str] = field(default_factory=dict)
    columns: dict[str, dict[str, str]] = field(default_factory=dict)

    def tab(self, name: str) -> str:
        return self.tabs.get(name, DEFAULT_TABS[name])

    def column_map(self, tab: str) -> dict[str, str]:
        """Logical field -> header text for one tab, defaults overlaid by mailer.toml."""
        return {**DEFAULT_COLUMNS[tab], **self.columns.get(tab, {})}


@dataclass(frozen=True)
class SmtpSettings:
    """`[transport.smtp]`; the password comes from SMTP_PASSWORD, never from this file."""

    host: str = "localhost"
    port: int = 0
    username: str = ""
    security: str = "starttls"
    timeout: int = 30
    ca_file: Path | None = None

    @property
    def effective_port(self) -> int:
        return self.port or {"starttls": 587, "ssl": 465, "none": 25}[self.security]


@dataclass(frozen=True)
class SendgridSettings:
    """`[transport.sendgrid]`; the key comes from SENDGRID_API_KEY, never from this file."""

    host: str = "https://api.sendgrid.com"
    sandbox: bool = False
    timeout: float = 30  # seconds; fractions allowed
    max_wait: int = 120


@dataclass(frozen=True)
class TransportSettings:
    backend: str = "outbox"
    path: Path = Path("outbox")
    daily_limit: int = 0  # messages in any 24 hours, to stay under the provider's quota; 0: none
    per_minute: int = 0  # messages in any minute; 0: as fast as the provider takes them
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    sendgrid: SendgridSettings = field(default_factory=SendgridSettings)


@dataclass(frozen=True)
class LedgerSettings:
    path: Path = Path("state/mailer.db")
    lock_timeout: int = 60


@dataclass(frozen=True)
class ServerSettings:
    """`mailer serve`: the unsubscribe pages. `public_url` is where people reach it."""

    public_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    sendgrid_event_key: str = ""  # the Event Webhook's public verification key (not a secret)


@dataclass(frozen=True)
class FormSettings:
    """`[form]`: the Google Form people sign up with, kept in step with the seats."""

    id: str = ""  # the form's id, or its edit URL
    question: str = ""  # the title of the question that names the session
    waitlist: bool = True  # a full session stays on the form to join its waitlist
    api_url: str = "https://forms.googleapis.com"


@dataclass(frozen=True)
class SeriesSettings:
    """`[series]`: how far ahead the Series tab's sessions are kept as Events rows.

    Blank (the default): the Series tab is not read at all.
    """

    ahead: str = ""


@dataclass(frozen=True)
class SelfServiceSettings:
    """`[self_service]`: how people release a seat, leave the waitlist or claim an offer.

    With `[server] public_url` the links open `mailer serve`; otherwise, with
    `form_url` (a Google Form's pre-filled link, ending where the token goes),
    they open that form, whose answers land in the `releases` tab.
    """

    form_url: str = ""
    acknowledge_organizer_cancels: bool = True


@dataclass(frozen=True)
class ConfirmationText:
    """`[confirmation]`: what a confirmed person should expect, a line each; empty leaves it out."""

    what_to_expect: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LanguageSettings:
    """`[languages.<code>]`: one language's own texts and what CLDR may lack for it.

    Texts left unset fall back to the default language's. `date_format` and
    `time_format` are CLDR patterns (`d/M/y`, `HH:mm`) used where Babel has no
    calendar data for the language (Latin-script Hmong, `hmn`).
    """

    name: str = ""  # what the language calls itself, where CLDR does not know it
    answers: list[str] = field(default_factory=list)  # more spellings a form answer may take
    date_format: str = ""
    time_format: str = ""
    direction: str = ""  # "rtl" for a right-to-left language CLDR does not know
    what_to_expect: list[str] | None = None
    cause: str = ""
    how_to_pay: str = ""


# Site texts that may be a table of languages (`what_to_expect.es = [...]`): section, key.
LOCALIZED = (("confirmation", "what_to_expect"), ("donation", "cause"), ("donation", "how_to_pay"))


@dataclass(frozen=True)
class Settings:
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
    languages: dict[str, LanguageSettings] = field(default_factory=dict)
    source: Path = Path("mailer.toml")

    @property
    def root(self) -> Path:
        return self.source.parent


SMTP_SECURITY = ("starttls", "ssl", "none")
LOOPBACK = ("localhost", "127.0.0.1", "[::1]", "::1")
LOCAL_HTTP = tuple(f"http://{h}" for h in LOOPBACK)  # plain http only on this machine (tests)
BACKENDS = {"workbook": {"csv", "google"}, "transport": {"outbox", "smtp", "sendgrid"}}


def load(path: Path) -> Settings:
    """Read and validate a mailer.toml; relative paths resolve against its folder."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (pass --config PATH)") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    settings = _build(Settings, {**_localized(raw, path), "source": str(path)}, path, "")
    _check(settings, path)
    return _resolve_paths(settings, path.resolve().parent)


def _localized(raw: dict, path: Path) -> dict:
    """`what_to_expect.es = [...]` and friends moved under `[languages.es]`.

    The default language's entry stays where it was, so the rest of mailer reads
    one value per key and `[languages.<code>]` for the others.
    """
    default = raw.get("organization", {}).get("language", "en")
    languages = {code: dict(table) for code, table in raw.get("languages", {}).items()}
    out = {**raw}
    for section, key in LOCALIZED:
        value = out.get(section, {}).get(key)
        if not isinstance(value, dict):
            continue
        table = {**out[section]}
        if default in value:
            table[key] = value[default]
        else:
            table.pop(key)
        out[section] = table
        for code, text in value.items():
            if code != default:
                languages.setdefault(code, {})[key] = text
    if languages:
        out["languages"] = languages
    return out


def _check(settings: Settings, path: Path) -> None:
    try:
        settings.organization.zone  # noqa: B018 - validates the zone name
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{path}: [organization] timezone: unknown time zone "
            f"{settings.organization.timezone!r} (use a name like 'America/Chicago')"
        ) from None
    for section, allowed in BACKENDS.items():
        backend = getattr(settings, section).backend
        if backend not in allowed:
            choices = ", ".join(sorted(allowed))
            raise ConfigError(f"{path}: [{section}] backend: {backend!r} is not one of {choices}")
    for limit in ("daily_limit", "per_minute"):
        if getattr(settings.transport, limit) < 0:
            raise ConfigError(
                f"{path}: [transport] {limit}: expected 0 (no limit) or a number of messages"
            )
    security = settings.transport.smtp.security
    if security not in SMTP_SECURITY:
        raise ConfigError(
            f"{path}: [transport.smtp] security: {security!r} is not one of "
            + ", ".join(SMTP_SECURITY)
        )
    sendgrid_host = settings.transport.sendgrid.host
    local = sendgrid_host.startswith(LOCAL_HTTP)
    if not (sendgrid_host.startswith("https://") or local):
        raise ConfigError(
            f"{path}: [transport.sendgrid] host: expected an https URL such as "
            "https://api.sendgrid.com or https://api.eu.sendgrid.com (plain http only on "
            "this machine, for tests)"
        )
    if settings.server.sendgrid_event_key:
        try:
            load_event_key(settings.server.sendgrid_event_key)
        except ValueError as err:
            raise ConfigError(f"{path}: [server] sendgrid_event_key: {err}") from None
    form = settings.form
    if form.id and not form.question:
        raise ConfigError(f"{path}: [form] question: the title of the session question")
    if not (form.api_url.startswith("https://") or form.api_url.startswith(LOCAL_HTTP)):
        raise ConfigError(f"{path}: [form] api_url: expected an https URL")
    try:
        if settings.series.ahead:
            seconds(settings.series.ahead)
    except ValueError as err:
        raise ConfigError(f"{path}: [series] ahead: {err}") from None
    smtp = settings.transport.smtp
    if smtp.username and smtp.security == "none" and smtp.host not in LOOPBACK:
        raise ConfigError(
            f'{path}: [transport.smtp] security: "none" would send the password unencrypted '
            f'to {smtp.host}; use "starttls" or "ssl"'
        )
    form_url = settings.self_service.form_url
    if form_url and not (form_url.startswith("https://") and form_url.endswith("=")):
        raise ConfigError(
            f"{path}: [self_service] form_url: expected the form's https pre-filled link, "
            "ending with `entry.<number>=` (drop the sample answer after the `=`)"
        )
    for tab in settings.workbook.tabs:
        if tab not in DEFAULT_TABS:
            raise ConfigError(f"{path}: [workbook.tabs] {tab}: unknown tab name")
    for tab, mapping in settings.workbook.columns.items():
        if tab not in DEFAULT_COLUMNS:
            raise ConfigError(f"{path}: [workbook.columns.{tab}]: unknown tab")
        for key in mapping:
            if key not in DEFAULT_COLUMNS[tab]:
                known = ", ".join(DEFAULT_COLUMNS[tab])
                raise ConfigError(
                    f"{path}: [workbook.columns.{tab}] {key}: unknown column (known: {known})"
                )


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
        ledger=dataclasses.replace(settings.ledger, path=under(settings.ledger.path)),
    )


def _build(cls: type, table: object, path: Path, where: str):
    """Turn a TOML table into dataclass `cls`, naming the file and key on any mismatch."""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{where}] should be a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in table:
        if key not in fields:
            known = ", ".join(fields)
            raise ConfigError(f"{path}: {_key(where, key)}: unknown key (known: {known})")
    values = {}
    for name, f in fields.items():
        if name not in table:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{path}: {_key(where, name)}: missing")
            continue
        values[name] = _coerce(hints[name], table[name], path, _join(where, name))
    return cls(**values)


def _coerce(hint, value, path: Path, where: str):
    origin = typing.get_origin(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, path, where)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _coerce(options[0], value, path, where)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{path}: {_key(where)}: expected a list")
        (inner,) = typing.get_args(hint)
        return [_coerce(inner, v, path, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: {_key(where)}: expected a table")
        _, inner = typing.get_args(hint)
        return {str(k): _coerce(inner, v, path, _join(where, k)) for k, v in value.items()}
    if hint is Path:
        return Path(_expect(str, value, path, where))
    return _expect(hint, value, path, where)


def _expect(kind: type, value, path: Path, where: str):
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # `timeout = 30` is a float setting written as a whole number
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        raise ConfigError(
            f"{path}: {_key(where)}: expected {kind.__name__}, got {type(value).__name__} {value!r}"
        )
    return value


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _key(where: str, key: str | None = None) -> str:
    full = _join(where, key) if key else where
    section, _, name = full.rpartition(".")
    return f"[{section}] {name}" if section else name


@dataclass(frozen=True)
class JobSettings:
    """One `jobs/<name>.toml`: what the job is, when it runs, and its options."""

    kind: str
    enabled: bool = True
    every: str = ""
    at: str = ""
    timezone: str = ""
    options: Options = field(default_factory=SignupsOptions)
    name: str = ""
    source: Path = Path()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone or "UTC")

    def options_as(self, kind: type[Opts]) -> Opts:
        """The job's options as the dataclass its kind reads."""
        if not isinstance(self.options, kind):
            raise ConfigError(f"{self.source}: [options] are not {kind.__name__}")
        return self.options

    @property
    def schedule_text(self) -> str:
        return f"every {self.every}" if self.every else f"at {self.at} ({self.timezone})"


SIGNUPS_JOB = JobSettings(kind="signups", every="5 minutes", name="signups")


def load_jobs(settings: Settings) -> list[JobSettings]:
    """Every job in the site's `jobs/` folder, signups first; signups alone if there are none."""
    folder = settings.root / "jobs"
    paths = sorted(folder.glob("*.toml")) if folder.is_dir() else []
    if not paths:
        return [SIGNUPS_JOB]
    jobs = [load_job(path, settings) for path in paths]
    order = list(KINDS)
    return sorted(jobs, key=lambda job: (order.index(job.kind), job.name))


def load_job(path: Path, settings: Settings) -> JobSettings:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"{path}: kind: {kind!r} is not one of {', '.join(KINDS)}")
    options = raw.pop("options", {})
    job = _build(JobSettings, {**raw, "name": path.stem, "source": str(path)}, path, "")
    typed = _build(KINDS[kind].options, options, path, "options")
    if job.every and job.at:
        raise ConfigError(f"{path}: every and at: give one schedule, not both")
    if not job.every and not job.at:
        raise ConfigError(
            f'{path}: every: give a schedule, such as every = "5 minutes" or at = "monday 09:00"'
        )
    if job.every:
        try:
            seconds(job.every)
        except ValueError as err:
            raise ConfigError(f"{path}: every: {err}") from None
    if job.at and not AT.match(job.at):
        raise ConfigError(f"{path}: at: {job.at!r} is not like 'monday 09:00' or '09:00'")
    problem = typed.problem(job.every, job.at)
    if problem:
        raise ConfigError(f"{path}: {problem}")
    zone = job.timezone or settings.organization.timezone
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{path}: timezone: unknown time zone {zone!r}") from None
    return dataclasses.replace(job, options=typed, timezone=zone)
