"""Rows typed by strangers: reported, never crash the run, escaped, kept out of headers."""

from __future__ import annotations

import email
from email import policy

from conftest import NOW

HOSTILE = {
    "formula": '=HYPERLINK("http://x")',
    "script": "<script>alert(1)</script>",
    "header": "Ann\r\nBcc: everyone@example.org",
}


def add_hostile_rows(site) -> None:
    rows = site.rows()
    template = dict(rows[0])
    label = template["Which session?"]

    def row(stamp: str, address: str, name: str, **extra: str) -> dict[str, str]:
        return {**template, "Timestamp": stamp, "Email Address": address, "Name": name, **extra}

    hostile = [
        row("11/17/2026 9:00:00", "formula@example.org", HOSTILE["formula"]),
        row("11/17/2026 9:01:00", "script@example.org", HOSTILE["script"]),
        row("11/17/2026 9:02:00", "header@example.org", HOSTILE["header"]),
        row("", "nostamp@example.org", "No Stamp"),
        row("11/17/2026 9:03:00", "long@example.org", "Long", Pronouns="x" * 10_000),
        {key: "" for key in template},
        {key: "" for key in template},
    ]
    assert all(r["Which session?"] == label for r in hostile[:5])
    site.write_rows("signups", hostile + rows)


def test_hostile_rows_are_reported_and_the_rest_go_through(site):
    add_hostile_rows(site)

    result = site.mailer("run")

    assert result.exit_code == 0
    assert "signups row 5, column 'Timestamp': is empty" in result.output
    assert "signups row 6, column 'Pronouns': is 10,000 characters long" in result.output
    assert "looks like a spreadsheet formula" in result.output
    assert "line breaks or control characters were replaced" in result.output
    statuses = {row["Email Address"]: row["Status"] for row in site.rows() if row["Timestamp"]}
    assert statuses["formula@example.org"] == "confirmed"
    assert statuses["long@example.org"] == "invalid"
    assert len(site.sent()) == 17  # 3 hostile names + the sample's 14


def test_hostile_names_are_escaped_in_html(site):
    add_hostile_rows(site)
    site.mailer("run")

    for line in site.sent():
        html = (site.outbox / line["file"]).with_suffix(".html").read_text()
        assert "<script>alert" not in html
    script = next(line for line in site.sent() if line["to"] == "script@example.org")
    html = (site.outbox / script["file"]).with_suffix(".html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_line_break_in_a_name_never_reaches_a_header(site):
    add_hostile_rows(site)
    site.mailer("run")

    line = next(line for line in site.sent() if line["to"] == "header@example.org")
    raw = (site.outbox / line["file"]).read_bytes()
    mail = email.message_from_bytes(raw, policy=policy.default)

    assert mail["Bcc"] is None
    assert mail["To"] == '"Ann Bcc: everyone@example.org" <header@example.org>'
    headers = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert all(h[:1] in (b" ", b"\t") or b":" in h for h in headers)
    assert not any(h.lower().startswith(b"bcc:") for h in headers)


def test_a_formula_name_stays_as_typed_in_the_sheet(site):
    add_hostile_rows(site)
    site.mailer("run", now=NOW)

    names = [row["Name"] for row in site.rows()]
    assert HOSTILE["formula"] in names


def test_addresses_beyond_ascii_are_refused_before_the_at_and_encoded_after_it(site):
    rows = site.rows()
    template = dict(rows[0])
    extra = [
        {**template, "Timestamp": "11/17/2026 9:00:00", "Email Address": "josé@example.org"},
        {**template, "Timestamp": "11/17/2026 9:01:00", "Email Address": "ann@bücher.example"},
    ]
    site.write_rows("signups", extra + rows)

    result = site.mailer("run", "signups")

    assert result.exit_code == 0, result.output
    refused = next(r for r in site.rows() if r["Email Address"] == "josé@example.org")
    assert refused["Status"] == "invalid"
    assert "Internationalized characters before the @-sign" in refused["Note"]
    sent_to = {line["to"] for line in site.sent()}
    assert "ann@xn--bcher-kva.example" in sent_to
    assert len(site.sent()) == 15, "the 14 sample people and Ann"
