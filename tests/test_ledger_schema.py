"""One description of the ledger's tables: SQLite's CREATE statements and SQLAlchemy's agree."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from mailer.ledger import open_ledger
from mailer.ledger.schema import METADATA
from mailer.ledger.tables import TABLES, literal, sqlite_creation


def test_sqlite_creates_the_ledger_as_sqlalchemy_compiles_it_for_sqlite() -> None:
    compiled = []
    for table in METADATA.sorted_tables:
        compiled.append(
            str(CreateTable(table, if_not_exists=True).compile(dialect=sqlite.dialect()))
        )
        compiled += [
            str(CreateIndex(index, if_not_exists=True).compile(dialect=sqlite.dialect()))
            for index in sorted(table.indexes, key=lambda index: str(index.name))
        ]

    assert sqlite_creation() == tuple(compiled)
    assert [t.name for t in METADATA.sorted_tables] == sorted(t.name for t in TABLES)


def test_a_new_sqlite_ledger_holds_every_table_column_and_index_described(tmp_path: Path) -> None:
    path = tmp_path / "mailer.db"
    open_ledger(path).close()

    with closing(sqlite3.connect(path)) as db:
        indexes = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
        columns = {t.name: db.execute(f"PRAGMA table_info({t.name})").fetchall() for t in TABLES}

    for table in TABLES:
        assert columns[table.name] == [
            (
                n,
                c.name,
                c.type,
                int(not c.nullable),
                None if c.default is None else literal(c.default),
                table.key.index(c.name) + 1 if c.name in table.key else 0,
            )
            for n, c in enumerate(table.columns)
        ]
        assert {index.name for index in table.indexes} <= indexes
