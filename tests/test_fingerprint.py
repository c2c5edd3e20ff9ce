"""Two workbooks that differ in any cell never share a fingerprint (mailer.jobs.unchanged)."""

from __future__ import annotations

from itertools import combinations

from conftest import NOW

from mailer.jobs.unchanged import fingerprint, inputs
from mailer.sheet.workbook import Table

# Rows that read the same once cells or rows are run together, or once a row is dropped.
LOOKALIKES: list[list[list[str]]] = [
    [],
    [[]],
    [[""]],
    [[], []],
    [["", ""]],
    [["a", "b"]],
    [["a\x1fb"]],
    [["a"], ["b"]],
    [["a\x1eb"]],
    [["a\x1e", "b"]],
    [["a"], ["\x1fb"]],
    [["a", "b"], []],
    [["a", "b", ""]],
    [["[1]2:a"]],
]


def fingerprint_of(*tabs: list[list[str]]) -> str:
    tables = {f"tab{n}": Table(f"tab{n}", ["email", "name"], rows) for n, rows in enumerate(tabs)}
    return fingerprint(inputs("settings", "job", tables, "ledger"), [], NOW)


def test_rows_that_differ_never_share_a_fingerprint() -> None:
    seen = {fingerprint_of(rows) for rows in LOOKALIKES}

    assert len(seen) == len(LOOKALIKES)


def test_what_one_tab_holds_is_never_read_as_the_next_tab_s() -> None:
    pairs = [(a, b) for a, b in combinations(LOOKALIKES, 2)]
    seen = {fingerprint_of(a, b) for a, b in pairs}

    assert len(seen) == len(pairs)


def test_the_same_rows_read_again_give_the_same_fingerprint() -> None:
    rows = [["ann@example.org", "Ann"], ["bob@example.org", "Bob\x1f"]]

    assert fingerprint_of([list(r) for r in rows]) == fingerprint_of([list(r) for r in rows])
