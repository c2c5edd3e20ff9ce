"""The ledger's tables as SQLAlchemy's Tables, built from `mailer.ledger.tables`, for PostgreSQL.

The PostgreSQL backend creates a new ledger from `METADATA` (compiled by
SQLAlchemy for its dialect). A SQLite ledger never needs this module: its
CREATE statements come from the same plain description (`tables`), and a
test checks SQLAlchemy compiles the same text from these Tables.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, MetaData, Table, Text

from mailer.ledger.tables import FLOAT, INTEGER, TABLES, TEXT

_TYPES: dict[str, type[Text | Integer | Float[float]]] = {
    TEXT: Text,
    INTEGER: Integer,
    FLOAT: Float,
}

METADATA = MetaData()

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
        *(Index(index.name, *index.columns) for index in _plain.indexes),
    )
