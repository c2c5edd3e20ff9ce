"""Every malformed setting is one line naming the file and key, never a traceback.

The corpus is every key of mailer.toml and of each job kind's file, each
given a value of the wrong type and, where the key has bounds, values
outside them (huge, negative, blank, a `javascript:` URL, a non-address),
plus files that are not UTF-8 and the cases reported from the field. Each
is loaded by the commands people run; CliRunner runs without catching
exceptions, so a traceback fails the test.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import subprocess
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mailer.cli.commands import cli
from mailer.settings import config
from mailer.settings.kinds import KINDS
from mailer.settings.rules import Address, Between, Duration, OneOf, Text, Url, rule_of

SITE = {
    "organization": {"name": "N", "sender": "s@example.org", "timezone": "America/Chicago"},
    "transport": {"backend": "outbox"},
    "bounces": {"host": "imap.example.org", "username": "s@example.org"},
}
JOBS = {
    "bounces": {"kind": "bounces", "every": "15 minutes"},
    "signups": {"kind": "signups", "every": "5 minutes"},
    "reminders": {"kind": "reminders", "every": "15 minutes"},
    "digest": {"kind": "digest", "at": "monday 09:00"},
}
NOT_UTF8 = b'[organization]\nname = "Caf\xe9 Network"\nsender = "s@example.org"\n'


@dataclass(frozen=True)
class Case:
    """One malformed setting: the file it is in, the value at `key`, what the message names."""

    file: str  # "mailer.toml" or "jobs/<kind>.toml"
    key: tuple[str, ...]  # where in the file, e.g. ("server", "port")
    value: object
    names: str  # what the error line must say after the file's path

    @property
    def id(self) -> str:
        return f"{self.file}:{'.'.join(self.key)}={self.value!r}"[:90]


def named(key: tuple[str, ...]) -> str:
    """How messages name a key: `[transport.smtp] port`, or `every` at a file's top."""
    *section, name = key
    return f"[{'.'.join(section)}] {name}" if section else name


# The cases reported in issue 18, point 9, and the cross-checks no single key shows.
REPORTED = [
    Case(
        "jobs/signups.toml",
        ("options", "claim_within"),
        "99999999999 weeks",
        "[options] claim_within",
    ),
    Case("jobs/digest.toml", ("options", "upcoming_days"), 10**18, "[options] upcoming_days"),
    Case("jobs/digest.toml", ("options", "upcoming_days"), -3, "[options] upcoming_days: -3"),
    Case(
        "jobs/reminders.toml", ("options", "offsets"), ["99999999999 weeks"], "[options] offsets[0]"
    ),
    Case("jobs/signups.toml", ("every",), "99999999999 weeks", "every: '99999999999 weeks'"),
    Case("mailer.toml", ("transport", "smtp", "timeout"), -1, "[transport.smtp] timeout: -1"),
    Case("mailer.toml", ("server", "public_url"), "javascript:alert(1)//", "[server] public_url"),
    Case(
        "mailer.toml",
        ("server", "port"),
        99999,
        "[server] port: 99999: expected a number from 1 to 65,535",
    ),
    Case("mailer.toml", ("ledger", "lock_timeout"), -5, "[ledger] lock_timeout: -5"),
    Case(
        "mailer.toml",
        ("organization", "sender"),
        "the organizers",
        "[organization] sender: 'the organizers': expected an email address",
    ),
    Case("mailer.toml", ("donation", "minimum"), 30, "[donation] minimum: 30 is above maximum 25"),
    Case("mailer.toml", ("naem",), "x", "naem: unknown key; keys go in a section ([organization]"),
    Case(
        "jobs/reminders.toml",
        ("colour",),
        1,
        "colour: unknown key (known: kind, enabled, every, at, timezone)",
    ),
    Case(
        "mailer.toml",
        ("donations",),
        {"minimum": 5},
        "[donations]: unknown section (known sections: [organization], [donation]",
    ),
    Case(
        "mailer.toml",
        ("transport", "smtp", "security"),
        "none",
        '[transport.smtp] security: "none" would send the password',
    ),
    Case(
        "mailer.toml",
        ("transport", "sendgrid", "timeout"),
        math.nan,
        "[transport.sendgrid] timeout: nan",
    ),
    Case(
        "mailer.toml",
        ("workbook", "tabs", "signups"),
        "../../etc/passwd",
        "[workbook.tabs] signups: '../../etc/passwd'",
    ),
]


def reported(*key: str) -> Case:
    return next(case for case in REPORTED if case.key == key)


def bad_values(hint: object, rule: object) -> list[object]:
    """A value of the wrong type, and values outside what `rule` accepts."""
    wrong_type = {str: 12345, int: "15", float: "30", bool: "yes"}
    origin = typing.get_origin(hint)
    if origin is list:
        (inner,) = typing.get_args(hint)
        return ["not a list", *[[v] for v in bad_values(inner, rule)]]
    if origin is dict:
        return [5, *[{"signups": v} for v in bad_values(str, rule)]]
    if hint is Path or typing.get_args(hint):
        return [5, ""]
    values = [wrong_type[typing.cast(type, hint)]]
    match rule:
        case Between(least=least, most=most):
            values += [min(least - 1, -1), most + 1, 2**63 - 1, -(2**63)]
            values += [math.inf, math.nan] if hint is float else []
        case Duration(least=least, most=most, blank=blank):
            values += [
                "99999999999 weeks",
                "-5 minutes",
                "0 minutes",
                "soon",
                f"{most + 1} seconds",
            ]
            values += ([] if blank else [""]) + (["1 second"] if least > 1 else [])
        case Url():
            values += ["javascript:alert(1)//", "http://example.org", "https://", "https://a b"]
        case Address(optional=optional):
            values += ["not an address", "a@", "a@@example.org"] + ([] if optional else [""])
        case OneOf():
            values += ["pigeon", ""]
        case Text(optional=optional, most=most):
            values += ["x" * (most + 1), "two\nlines"] + ([] if optional else ["", "   "])
    return values


def every_key(cls: type, file: str, where: tuple[str, ...]) -> list[Case]:
    """Bad values for every key of dataclass `cls` and of the sections under it."""
    cases = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint, key = hints[f.name], (*where, f.name)
        if f.name in config.HIDDEN or (not where and f.name == "kind"):
            continue
        if typing.get_origin(hint) in (typing.Union, types.UnionType):
            given = next(a for a in typing.get_args(hint) if a is not type(None))
            hint = given if dataclasses.is_dataclass(given) else hint  # an optional section
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            cases.append(Case(file, key, "not a section", f"[{'.'.join(key)}]: expected a section"))
            cases += every_key(hint, file, key)
            continue
        if f.name == "options":
            continue  # each kind's own options, below
        message = f"[{'.'.join(key)}" if typing.get_origin(hint) is dict else named(key)
        for value in bad_values(hint, rule_of(f.metadata)):
            cases.append(Case(file, key, value, message))
    return cases


GENERATED = every_key(config.Settings, "mailer.toml", ()) + [
    case
    for kind in KINDS
    for case in every_key(config.JobSettings, f"jobs/{kind}.toml", ())
    + every_key(KINDS[kind].options, f"jobs/{kind}.toml", ("options",))
]
CORPUS = REPORTED + GENERATED


def toml(value: object) -> str:
    """A value as TOML: tables inline, so one key can be set anywhere in a file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{ " + ", ".join(f"{json.dumps(k)} = {toml(v)}" for k, v in value.items()) + " }"


def write_site(root: Path, case: Case | None = None) -> Path:
    """A site whose mailer.toml and jobs/ are sound, except for `case`."""
    files = {"mailer.toml": copy.deepcopy(SITE)} | {
        f"jobs/{name}.toml": copy.deepcopy(job) for name, job in JOBS.items()
    }
    if case is not None:
        table: dict[str, typing.Any] = files[case.file]
        *section, name = case.key
        for part in section:
            table = table.setdefault(part, {})
        table[name] = case.value
        if case.names.startswith('[transport.smtp] security: "none"'):
            table |= {"username": "relay-user", "host": "smtp.example.org"}
        if case.names.startswith("[donation] minimum:"):
            table["maximum"] = 25
    (root / "jobs").mkdir(parents=True)
    for relative, data in files.items():
        text = "".join(f"{json.dumps(k)} = {toml(v)}\n" for k, v in data.items())
        (root / relative).write_text(text, encoding="utf-8")
    return root / "mailer.toml"


def test_the_corpus_has_every_key_and_the_reported_cases():
    keys = {(case.file, case.key) for case in CORPUS}

    assert len(CORPUS) >= 57
    assert ("mailer.toml", ("server", "sendgrid_event_key")) in keys
    assert ("jobs/digest.toml", ("options", "categories")) in keys
    assert ("jobs/reminders.toml", ("at",)) in keys


def test_the_sound_site_loads(tmp_path):
    settings = config.load(write_site(tmp_path))

    assert [job.name for job in config.load_jobs(settings)] == [
        "bounces",
        "signups",
        "reminders",
        "digest",
    ]


def mailer(mailer_toml: Path, *args: str) -> Result:
    """The real command line, in-process; an exception escapes as a traceback would."""
    return CliRunner().invoke(cli, ["--config", str(mailer_toml), *args], catch_exceptions=False)


@pytest.mark.parametrize("case", CORPUS, ids=lambda case: case.id)
def test_run_and_check_name_a_malformed_setting(tmp_path, case):
    mailer_toml = write_site(tmp_path, case)
    line = f"error: {tmp_path / case.file}: {case.names}"

    result = mailer(mailer_toml, "run")

    assert result.exit_code == 2
    assert line in result.output
    if case.file == "mailer.toml":  # job files: all at once, below
        checked = mailer(mailer_toml, "check", "--no-workbook")
        assert checked.exit_code == 2
        assert line in checked.output


@pytest.mark.parametrize("case", REPORTED, ids=lambda case: case.id)
def test_every_command_refuses_what_run_refuses(tmp_path, case):
    mailer_toml = write_site(tmp_path, case)
    # status reads the ledger and mailer.toml only; the others read the job files too
    commands = ["jobs", "serve", "daemon"] + (["status"] if case.file == "mailer.toml" else [])

    for command in commands:
        result = mailer(mailer_toml, command)

        assert result.exit_code == 2, command
        assert f"error: {tmp_path / case.file}: {case.names}" in result.output, command


def test_check_names_every_broken_job_file_at_once(tmp_path):
    cases = [c for c in CORPUS if c.file.startswith("jobs/")]
    mailer_toml = write_site(tmp_path)
    for i, case in enumerate(cases):
        job = copy.deepcopy(JOBS[Path(case.file).stem])
        table: dict[str, typing.Any] = job
        for part in case.key[:-1]:
            table = table.setdefault(part, {})
        table[case.key[-1]] = case.value
        text = "".join(f"{json.dumps(k)} = {toml(v)}\n" for k, v in job.items())
        (tmp_path / "jobs" / f"broken-{i:03}.toml").write_text(text, encoding="utf-8")

    result = mailer(mailer_toml, "check", "--no-workbook")

    assert result.exit_code in (1, 2)
    for i, case in enumerate(cases):
        assert f"{tmp_path / 'jobs' / f'broken-{i:03}.toml'}: {case.names}" in result.output


@pytest.mark.parametrize("file", ["mailer.toml", "jobs/digest.toml"])
def test_a_file_that_is_not_utf8_is_named_with_its_line(tmp_path, file):
    mailer_toml = write_site(tmp_path)
    (tmp_path / file).write_bytes(NOT_UTF8 if file == "mailer.toml" else b'kind = "d\xefgest"\n')

    for command in ("run", "check"):
        result = mailer(mailer_toml, command)

        assert result.exit_code == 2
        line = 2 if file == "mailer.toml" else 1
        assert f"error: {tmp_path / file}: line {line}: byte 0x" in result.output
        assert "is not UTF-8 text; save the file as UTF-8" in result.output


def test_a_byte_order_mark_is_fine(tmp_path):
    mailer_toml = write_site(tmp_path)
    mailer_toml.write_bytes(b"\xef\xbb\xbf" + mailer_toml.read_bytes())

    assert config.load(mailer_toml).organization.name == "N"


def test_every_problem_in_a_file_is_named_at_once(tmp_path):
    mailer_toml = write_site(tmp_path)
    mailer_toml.write_text(
        mailer_toml.read_text() + 'server = { port = 0, public_url = "ftp://x" }\n'
        "ledger = { lock_timeout = -1 }\n"
    )

    result = mailer(mailer_toml, "run")

    assert result.exit_code == 2
    assert [line.split(": ")[2] for line in result.output.splitlines()] == [
        "[ledger] lock_timeout",
        "[server] public_url",
        "[server] port",
    ]


@pytest.mark.parametrize(
    ("case", "command"),
    [
        (reported("options", "claim_within"), "run"),
        (reported("server", "port"), "serve"),
        (Case("mailer.toml", ("organization", "name"), "\x00", "[organization] name"), "daemon"),
    ],
    ids=["claim_within", "port", "nul"],
)
def test_a_separate_process_prints_one_line_and_no_traceback(tmp_path, case, command):
    mailer_toml = write_site(tmp_path, case)

    done = subprocess.run(
        [sys.executable, "-m", "mailer", "--config", str(mailer_toml), command],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(f"error: {tmp_path / case.file}: {case.names}")
    assert done.stderr.count("\n") == 1


def test_serve_refuses_a_port_option_out_of_range(tmp_path):
    result = mailer(write_site(tmp_path), "serve", "--port", "99999")

    assert result.exit_code == 2
    assert "Invalid value for '--port': 99999 is not in the range 1<=x<=65535." in result.output
