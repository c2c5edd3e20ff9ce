"""INSERT statements written from the ledger's tables (mailer.ledger.tables), for every backend.

Plain SQL that SQLite (3.35 and later) and PostgreSQL both take: ON CONFLICT
with `excluded`, `:named` parameters, one per column.
"""

from __future__ import annotations

import functools

from mailer.ledger.tables import BY_NAME, quoted


@functools.lru_cache(maxsize=128)
def insert(table: str, columns: tuple[str, ...]) -> str:
    """INSERT INTO `table` these columns, from parameters of the same names."""
    names = ", ".join(map(quoted, columns))
    values = ", ".join(f":{c}" for c in columns)
    return f"INSERT INTO {table} ({names}) VALUES ({values})"


@functools.lru_cache(maxsize=128)
def insert_new(table: str, columns: tuple[str, ...]) -> str:
    """`insert`, passing over a row whose key is there already."""
    return insert(table, columns) + " ON CONFLICT DO NOTHING"


@functools.lru_cache(maxsize=128)
def replace(table: str, columns: tuple[str, ...]) -> str:
    """`insert`, or overwrite every other column of the row that has the same key."""
    plain = BY_NAME[table]
    changed = ", ".join(
        f"{quoted(c)} = excluded.{quoted(c)}" for c in plain.names if c not in plain.key
    )
    keys = ", ".join(map(quoted, plain.key))
    return insert(table, columns) + f" ON CONFLICT ({keys}) DO UPDATE SET {changed}"
