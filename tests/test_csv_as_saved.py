"""CSV files as people save them: `;` or tab separators, UTF-8 with or without BOM, Windows-1252."""

from __future__ import annotations

import csv
import io
import os
from collections import Counter

import pytest

from mailer.sheet.csv_files import CsvWorkbook
from mailer.sheet.workbook import CellChange


def resave(path, separator: str, encoding: str) -> None:
    """Save a CSV again as a spreadsheet set up for another country would."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=separator, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))


def statuses(rows: list[list[str]]) -> Counter[str]:
    status = rows[0].index("Status")
    return Counter(row[status] for row in rows[1:])


def read_back(path, separator: str, encoding: str) -> list[list[str]]:
    text = path.read_bytes().decode(encoding)
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=separator))


@pytest.mark.parametrize(
    ("separator", "encoding"), [(";", "cp1252"), ("\t", "utf-8-sig"), (";", "utf-8")]
)
def test_a_run_goes_through_and_keeps_the_files_separator_and_encoding(site, separator, encoding):
    lists = site.root / "lists"
    for tab in ("signups", "events"):
        resave(lists / f"{tab}.csv", separator, encoding)
    events_before = (lists / "events.csv").read_bytes()
    stored = "cp1252" if encoding == "cp1252" else "utf-8"

    result = site.mailer("run", "signups")

    assert result.exit_code == 0, result.output
    assert Counter(line["kind"] for line in site.sent()) == {"confirmation": 12, "waitlist": 2}
    rows = read_back(lists / "signups.csv", separator, encoding)
    assert statuses(rows) == {"confirmed": 12, "waitlisted": 2, "duplicate": 1, "invalid": 1}
    assert "Tomás Álvarez" in [row[2] for row in rows]
    assert (lists / "signups.csv").read_bytes().startswith(b"\xef\xbb\xbf") == (
        encoding == "utf-8-sig"
    )
    assert (lists / "events.csv").read_bytes() == events_before
    with pytest.raises(UnicodeDecodeError):
        if stored == "cp1252":
            (lists / "signups.csv").read_bytes().decode("utf-8")
        else:
            raise UnicodeDecodeError("utf-8", b"", 0, 1, "stays UTF-8")


def test_untouched_records_keep_their_bytes_in_windows_1252(tmp_path):
    text = 'Timestamp;Email;Name\r\n1;a@example.org;Tomás\r\n2;b@example.org;"Zoë; Jr"\r\n'
    (tmp_path / "signups.csv").write_bytes(text.encode("cp1252"))
    book = CsvWorkbook(tmp_path)

    book.write(
        "signups",
        ("Timestamp", "Email"),
        [CellChange(3, ("2", "b@example.org"), "Status", "", "confirmed")],
        columns=["Status"],
    )

    assert (tmp_path / "signups.csv").read_bytes() == (
        "Timestamp;Email;Name;Status\r\n"
        "1;a@example.org;Tomás\r\n"
        '2;b@example.org;"Zoë; Jr";confirmed\r\n'
    ).encode("cp1252")


def test_a_file_no_parser_can_read_stops_signups_before_any_email(site):
    (site.root / "lists" / "subscribers.csv").write_bytes(b"PK\x03\x04" + os.urandom(400))

    result = site.mailer("run", "signups")

    assert result.exit_code == 1
    assert "tab 'subscribers'" in result.output
    assert "neither UTF-8 nor Windows-1252 text" in result.output
    assert "CSV UTF-8" in result.output
    assert site.sent() == []


def test_a_utf_16_export_is_named_as_such(tmp_path):
    (tmp_path / "members.csv").write_bytes("email\tname\r\na@example.org\tA\r\n".encode("utf-16"))

    with pytest.raises(Exception, match=r"tab 'members'.*looks like utf_16 text.*CSV UTF-8"):
        CsvWorkbook(tmp_path).read(["members"])


def test_check_shows_the_columns_found_and_how_the_file_is_saved(site):
    resave(site.root / "lists" / "signups.csv", ";", "cp1252")

    result = site.mailer("check")

    assert "signups = 'signups' (Windows-1252, semicolon-separated): found 8 columns:" in (
        result.output
    )
    assert "'Timestamp', 'Email Address', 'Name'" in result.output
