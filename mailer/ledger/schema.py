"""The ledger's tables as SQLAlchemy's Tables, built from `mailer.ledger.tables`, for PostgreSQL.

The PostgreSQL backend creates a new ledger from `METADATA` (compiled by
SQLAlchemy for its dialect). A SQLite ledger never needs this module: its
CREATE statements come from the same plain description (`tables`), and a
test checks SQLAlchemy compiles the same text from these Tables.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, MetaData, Table, Text, text

from mailer.ledger.tables import FLOAT, INTEGER, TABLES, TEXT
from mailer.ledger.tables import Index as PlainIndex

_TYPES: dict[str, type[Text | Integer | Float[float]]] = {
    TEXT: Text,
    INTEGER: Integer,
    FLOAT: Float,
}

METADATA = MetaData()


def _index(plain: PlainIndex) -> Index:
    """The index; its expressions and partial WHERE as text, the same for either dialect."""
    columns = (text(c) if "(" in c else c for c in plain.columns)
    if not plain.where:
        return Index(plain.name, *columns)
    where = text(plain.where)
    return Index(plain.name, *columns, sqlite_where=where, postgresql_where=where)


for _plain in TABLES:
    Table(
        _plain.name,
        METADATA,
        *(
            Column(
                c.name,
                _TYPES[c.type],
                nullable=c.nullable,
                server_default=c.default,
                primary_key=c.name in _plain.key,
            )
            for c in _plain.columns
        ),
        *(_index(index) for index in _plain.indexes),
    )
