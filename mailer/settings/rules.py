"""What a setting accepts: ranges, durations, URLs, addresses, names.

A dataclass field of the settings carries its rule as `accepts(...)`
metadata; config.py checks every value against its rule when the file is
loaded, so every command sees the same verdict. A rule answers `None` for a
good value, or what is accepted, to follow the key and the value in the
message. On a list setting the rule applies to each item.

A rule is a NamedTuple, not a dataclass: every command defines them all when
it loads the settings, and a frozen dataclass costs ten times as much to
define (its methods are compiled from source, one by one).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Collection
from dataclasses import field
from typing import Any, NamedTuple, Protocol
from urllib.parse import urlsplit

from mailer.core.durations import SECONDS, seconds

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


class Rule(Protocol):
    def problem(self, value: Any) -> str | None: ...


def accepts(rule: Rule, default: Any = dataclasses.MISSING, factory: Any = None) -> Any:
    """A dataclass field whose values `rule` checks at load time; no default: required."""
    metadata = {"accepts": rule}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def rule_of(metadata: Any) -> Rule | None:
    found: Rule | None = metadata.get("accepts")
    return found


class Between(NamedTuple):
    """A number from `least` to `most` (both included), or 0 when `zero` means "none"."""

    least: float
    most: float
    unit: str = ""
    zero: str = ""  # what 0 means, when 0 is allowed outside the range
    above: bool = False  # `least` itself is not allowed (a timeout above 0)

    def problem(self, value: Any) -> str | None:
        if self.zero and value == 0:
            return None
        low_ok = value > self.least if self.above else value >= self.least
        if not math.isnan(value) and low_ok and value <= self.most:
            return None
        unit = f" {self.unit}" if self.unit else ""
        low = (
            f"more than {_number(self.least)} and up"
            if self.above
            else f"from {_number(self.least)}"
        )
        zero = f", or 0 for {self.zero}" if self.zero else ""
        return f"expected a number {low} to {_number(self.most)}{unit}{zero}"


def _number(value: float) -> str:
    return f"{int(value):,}" if value == int(value) else f"{value:g}"


def _spoken(total: int) -> str:
    for unit in ("week", "day", "hour", "minute", "second"):
        count, rest = divmod(total, SECONDS[unit])
        if not rest:
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{total} seconds"  # pragma: no cover - every whole number of seconds is spoken above


class Duration(NamedTuple):
    """A duration such as '12 hours', from `least` to `most` seconds; blank when `blank`."""

    least: int
    most: int
    whole_minutes: bool = False
    blank: str = ""  # what a blank value means, when it is allowed

    def problem(self, value: Any) -> str | None:
        if self.blank and not value.strip():
            return None
        accepted = (
            f"expected a duration from {_spoken(self.least)} to {_spoken(self.most)}, "
            f"such as '12 hours'" + (f", or blank for {self.blank}" if self.blank else "")
        )
        try:
            total = seconds(value)
        except ValueError:
            return accepted
        if not self.least <= total <= self.most:
            return accepted
        if self.whole_minutes and total % 60:
            return "expected whole minutes, such as '90 minutes'"
        return None


class Url(NamedTuple):
    """An https URL (plain http only on this machine), or blank when `optional`."""

    optional: bool = True
    prefix_only: bool = False  # a base that paths are added to: no query or fragment

    def problem(self, value: Any) -> str | None:
        if self.optional and value == "":
            return None
        accepted = "expected an https:// URL such as https://example.org" + (
            " (plain http only on this machine)" if self.prefix_only else ""
        )
        if re.search(r"[\s\"'<>\\`\x00-\x1f\x7f]", value):
            return accepted + ", with no spaces, quotes or angle brackets"
        try:
            parts = urlsplit(value)
            host = parts.hostname or ""
            parts.port  # noqa: B018 - a port that is not a number raises
        except ValueError:
            return accepted
        local = parts.scheme == "http" and host in LOOPBACK_HOSTS
        if not (parts.scheme == "https" or local) or not host or parts.username:
            return accepted
        if self.prefix_only and (parts.query or parts.fragment):
            return accepted + ", with no ? or # part"
        return None


ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# RFC 5322's dot-atom at an ASCII domain of two labels or more: what a From header can carry
ADDRESS = re.compile(
    rf"(?=.{{3,254}}$)(?=[^@]{{1,64}}@){ATEXT}(?:\.{ATEXT})*@{LABEL}(?:\.{LABEL})+"
)


class Address(NamedTuple):
    """An email address to send from or reply to, or blank when `optional`.

    A pattern, not email_validator: every command loads the settings, and that
    library takes a tenth of a second to import.
    """

    optional: bool = False

    def problem(self, value: Any) -> str | None:
        if self.optional and value == "":
            return None
        if ADDRESS.fullmatch(value):
            return None
        return "expected an email address, like name@example.org (ASCII letters, no spaces)"


class OneOf(NamedTuple):
    choices: Collection[str]  # a registry's keys stay live: a name registered later counts

    def problem(self, value: Any) -> str | None:
        return None if value in self.choices else f"expected one of {', '.join(self.choices)}"


class Text(NamedTuple):
    """Text on one line, not blank unless `optional`, at most `most` characters."""

    optional: bool = False
    most: int = 1000
    pattern: str = ""
    example: str = ""

    def problem(self, value: Any) -> str | None:
        if self.optional and value == "":
            return None
        if not value.strip():
            return "expected some text, not a blank"
        if len(value) > self.most or re.search(r"[\x00-\x1f\x7f]", value):
            return f"expected one line of at most {self.most} characters"
        if self.pattern and not re.fullmatch(self.pattern, value):
            return f"expected {self.example}"
        return None
