"""A plain address is read by pattern, any other by email_validator: the same answer either way."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mailer.sheet.tabs import InvalidAddress, deliverable_address


def by_email_validator(raw: str) -> str | None:
    try:
        checked = validate_email(raw, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return None
    return checked.ascii_email or checked.normalized


def by_mailer(raw: str) -> str | None:
    try:
        return deliverable_address(raw)
    except InvalidAddress:
        return None


label = st.text(alphabet="aZ09-_é", min_size=0, max_size=8)
addresses = st.builds(
    lambda local, labels, tld: f"{local}@{'.'.join(labels)}.{tld}",
    st.text(alphabet="aB9.!'+=_~- é\"", min_size=0, max_size=10),
    st.lists(label, min_size=0, max_size=3),
    st.sampled_from(["org", "ORG", "b1", "1", "x", "test", "local", "invalid", "", "Onion"]),
)


@settings(max_examples=400, deadline=None)
@given(addresses)
@example("Reader.7@Example.ORG")
@example("dana@x--y.org")
@example("dana@xn--caf-dma.org")
@example("a" * 65 + "@example.org")
@example("b@" + "c" * 64 + ".org")
@example("b@localhost.test")
@example("b@sub.arpa")
def test_the_pattern_agrees_with_email_validator(raw):
    assert by_mailer(raw) == by_email_validator(raw)


def test_a_refused_address_says_why_each_time_it_is_read():
    for _ in range(2):  # the second time from what was kept of the first
        with pytest.raises(InvalidAddress, match="@"):
            deliverable_address("dana@@example.org")
