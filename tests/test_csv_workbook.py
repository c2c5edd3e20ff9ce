"""The CSV workbook: found by header, written in place, never on the wrong row."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailer.core.errors import MissingColumnError
from mailer.settings.config import WorkbookSettings
from mailer.sheet.csv_files import LINE, CsvWorkbook
from mailer.sheet.tabs import Columns
from mailer.sheet.workbook import CellChange, plan_writes

KEY = ("Timestamp", "Email")


def workbook(tmp_path, text: str, name: str = "signups") -> CsvWorkbook:
    (tmp_path / f"{name}.csv").write_bytes(text.encode("utf-8"))
    return CsvWorkbook(tmp_path)


def test_columns_are_found_with_case_and_spaces_ignored(tmp_path):
    book = workbook(tmp_path, "\ufeffTIME stamp,e mail\r\n1/2/2026 9:00:00,a@example.org\r\n")
    table = book.read(["signups"])["signups"]

    columns = Columns(table, {"timestamp": "Timestamp", "email": "Email"}, ("email",))

    assert columns.get(table.rows[0], "email") == "a@example.org"
    assert columns.get(table.rows[0], "timestamp") == "1/2/2026 9:00:00"


def test_a_missing_required_column_names_tab_and_column(tmp_path):
    table = workbook(tmp_path, "Timestamp,Name\n").read(["signups"])["signups"]

    with pytest.raises(MissingColumnError) as err:
        Columns(table, WorkbookSettings().column_map("signups"), ("email",))

    assert "tab 'signups' has no column 'Email Address'" in str(err.value)
    assert 'map it in mailer.toml: [workbook.columns.signups] email = "<your header>"' in str(
        err.value
    )
    assert "found: 'Timestamp', 'Name'" in str(err.value)


def test_a_missing_tab_is_absent_not_an_error(tmp_path):
    assert workbook(tmp_path, "a\n").read(["signups", "members"]).keys() == {"signups"}


def test_a_write_keeps_every_other_cell_column_bom_and_line_ending(tmp_path):
    text = (
        "\ufeffTimestamp,Email,Organizer notes\r\n"
        '1,a@example.org,"call back, Tue"\r\n'
        "2,b@example.org,\r\n"
    )
    book = workbook(tmp_path, text)

    book.write(
        "signups",
        KEY,
        [CellChange(3, ("2", "b@example.org"), "Status", "", "confirmed")],
        columns=["Status", "Position"],
    )

    assert (tmp_path / "signups.csv").read_bytes().decode("utf-8") == (
        "\ufeffTimestamp,Email,Organizer notes,Status,Position\r\n"
        '1,a@example.org,"call back, Tue"\r\n'
        "2,b@example.org,,confirmed\r\n"
    )


def test_a_write_finds_a_row_that_moved_since_it_was_read(tmp_path):
    book = workbook(tmp_path, "Timestamp,Email\n1,a@example.org\n2,b@example.org\n")
    change = CellChange(3, ("2", "b@example.org"), "Status", "", "waitlisted")
    # An organizer sorts the sheet and inserts a row between the read and the write.
    (tmp_path / "signups.csv").write_text(
        "Timestamp,Email\n2,b@example.org\n0,new@example.org\n1,a@example.org\n"
    )

    plan = book.write("signups", KEY, [change])

    assert plan.skipped == []
    rows = (tmp_path / "signups.csv").read_text().splitlines()
    assert rows[1] == "2,b@example.org,waitlisted"
    assert rows[3] == "1,a@example.org"


def test_a_write_to_a_deleted_row_lands_nowhere(tmp_path):
    book = workbook(tmp_path, "Timestamp,Email\n1,a@example.org\n2,b@example.org\n")
    (tmp_path / "signups.csv").write_text("Timestamp,Email\n1,a@example.org\n")

    plan = book.write("signups", KEY, [CellChange(3, ("2", "b@example.org"), "Status", "", "x")])

    assert [s.reason for s in plan.skipped] == ["row moved or deleted"]
    assert (tmp_path / "signups.csv").read_text() == "Timestamp,Email\n1,a@example.org\n"


def test_a_cell_an_organizer_changed_since_the_read_is_left_alone(tmp_path):
    book = workbook(tmp_path, "Timestamp,Email,Status\n1,a@example.org,cancelled\n")

    plan = book.write("signups", KEY, [CellChange(2, ("1", "a@example.org"), "Status", "", "x")])

    assert [s.reason for s in plan.skipped] == ["changed since it was read"]
    assert "cancelled" in (tmp_path / "signups.csv").read_text()


def test_values_that_look_like_formulas_are_written_as_text(tmp_path):
    book = workbook(tmp_path, "Timestamp,Email\n1,a@example.org\n")

    book.write("signups", KEY, [CellChange(2, ("1", "a@example.org"), "Note", "", "=1+1")])

    assert (tmp_path / "signups.csv").read_text().splitlines()[1] == "1,a@example.org,'=1+1"


def test_a_file_in_windows_1252_is_read_as_such(tmp_path):
    (tmp_path / "signups.csv").write_bytes("Name\nJos\xe9\n".encode("latin-1"))

    assert CsvWorkbook(tmp_path).read(["signups"])["signups"].rows == [["José"]]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("separator", [",", ";", "\t"])
def test_a_file_without_quotes_reads_as_the_csv_module_reads_it(tmp_path, newline, separator):
    lines = [
        "email,name,event",
        "ann@example.org,Ann,e1",
        "",
        "bob@example.org,,e2,",
        "cy@example.org,Cy,e1,a fourth cell",
        " dee@example.org , Dee\\ ,e3",
    ]
    text = newline.join(line.replace(",", separator) for line in lines) + newline
    (tmp_path / "signups.csv").write_text(text, newline="")

    table = CsvWorkbook(tmp_path).read(["signups"])["signups"]

    read_by_csv = list(csv.reader(io.StringIO(text, newline=""), delimiter=separator))
    assert [table.header, *table.rows] == read_by_csv
    assert set(table.broken) == {5}  # the row whose fourth cell holds something


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ('\ufeffEmail;Name\r\na@example.org;Ann\r\nb@example.org;"B\r\nsecond line"\r\n', "utf-8"),
        ("Email\tName\nzoë@example.org\tZoë\n\nc@example.org\tCé\n", "cp1252"),
        (
            'Email,Name\nd@example.org,"a ""quoted"" name"\re@example.org,' + "x" * 200_000 + "\n",
            "utf-8",
        ),
        ("", "utf-8"),
        ("Email,Name\ra@example.org,Ann\n\n  \r\nb@example.org," + "y" * 150_000 + "\r\n", "utf-8"),
        ("Email,Name\nc@example.org," + "z" * 120_000 + ",\nd@example.org,Dee,,\n", "utf-8"),
    ],
)
def test_a_streamed_tab_gives_the_rows_a_read_gives(tmp_path, text, encoding):
    (tmp_path / "subscribers.csv").write_bytes(text.encode(encoding))
    book = CsvWorkbook(tmp_path)
    table = book.read(["subscribers"])["subscribers"]

    streamed = book.stream("subscribers")

    assert streamed is not None
    header_only, rows = streamed
    assert header_only.header == table.header
    assert header_only.rows == []
    assert list(rows) == list(table.numbered_rows())


def test_a_missing_tab_streams_nothing(tmp_path):
    assert workbook(tmp_path, "a\n").stream("members") is None


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(alphabet=["a", ",", "\r", "\n", "\u2028", "\x0c", "é"], max_size=14))
def test_lines_are_cut_where_the_csv_module_cuts_them(tmp_path, text):
    assert LINE.findall(text) == list(io.StringIO(text, newline=""))


@st.composite
def writes(draw):
    """A plain tab as read, the same tab when the write comes (rows moved, cells typed), changes."""
    count = draw(st.integers(0, 6))
    rows = [
        [str(i), f"p{i}@example.org", draw(st.sampled_from(["", "confirmed"]))]
        for i in range(count)
    ]
    now = [list(r) for r in rows]
    if count > 1 and draw(st.booleans()):  # an organizer sorts the sheet
        now.reverse()
    for row in now:
        if draw(st.booleans()) and draw(st.booleans()):
            row[2] = "cancelled"  # typed since the read
    if now and draw(st.booleans()):
        del now[draw(st.integers(0, len(now) - 1))]  # or deleted
    changes = [
        CellChange(number, (row[0], row[1]), column, row[2] if column == "Status" else "", new)
        for number, row in enumerate(rows, start=2)
        for column, new in (("Status", "waitlisted"), ("Position", "3"))
        if draw(st.booleans())
    ]
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    lines = [",".join(r) for r in [["Timestamp", "Email", "Status"], *now]]
    ends = [
        draw(st.sampled_from(["\n", "\r\n"])) if draw(st.booleans()) else newline for _ in lines
    ]
    ends[-1] = ends[-1] if draw(st.booleans()) else ""  # a last line with no end
    return "".join(line + end for line, end in zip(lines, ends, strict=True)), changes


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(write=writes())
def test_a_write_sets_the_cells_plan_writes_places_and_leaves_every_other_line_as_it_was(
    tmp_path, write
):
    text, changes = write
    book = workbook(tmp_path, text)
    table = book.read(["signups"])["signups"]
    expected = plan_writes(table, KEY, changes, ["Status", "Position"])

    plan = book.write("signups", KEY, changes, ["Status", "Position"])

    assert (plan.written, plan.skipped) == (len(expected.cells), expected.skipped)
    lines = LINE.findall(text)
    for row, col, value in expected.cells:
        lines[row - 1] = lines[row - 1].rstrip("\r\n")
        cells = lines[row - 1].split(",")
        cells.extend([""] * (col + 1 - len(cells)))
        cells[col] = value
        lines[row - 1] = ",".join(cells) + ("\r\n" if "\r\n" in text else "\n")
    if expected.cells:
        lines[0] = ",".join(["Timestamp", "Email", "Status", *expected.new_columns]) + (
            "\r\n" if "\r\n" in text else "\n"
        )
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\r\n" if "\r\n" in text else "\n"
    assert (tmp_path / "signups.csv").read_bytes().decode() == "".join(lines)
