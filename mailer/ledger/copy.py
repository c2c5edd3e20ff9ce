"""Copy a ledger's every row into another (`mailer migrate`, a dry run's scratch copy).

Table by table, in chunks, into an empty ledger in one transaction: either
everything arrives or nothing does. Claims in flight come along as they are,
so a message that was being sent stays unknown, never sent again blindly.
What a ledger remembers of forgotten people and retired sessions
(mailer.ledger.privacy) comes along with the rest, on either backend. Plain
SQL through each store's connection: a dry run on SQLite imports no SQLAlchemy.
"""

from __future__ import annotations

from collections import Counter

import mailer.ledger.statements as statements
from mailer.core.errors import LedgerError
from mailer.ledger.protocols import Ledger
from mailer.ledger.records import CHUNK
from mailer.ledger.store import store_of
from mailer.ledger.tables import TABLES, quoted


def copy_ledger(source: Ledger, target: Ledger) -> Counter[str]:
    """Every row of `source` into `target`, which must hold nothing yet; rows copied by table.

    The caller holds the source's run lock, so no run writes it meanwhile.
    """
    read_from, write_to = store_of(source), store_of(target)
    tables = sorted(TABLES, key=lambda t: t.name)
    copied: Counter[str] = Counter()
    with read_from.reading() as read, write_to.transaction() as write:
        for table in tables:
            if write.rows(f"SELECT count(*) FROM {table.name}")[0][0]:
                raise LedgerError(
                    f"{write_to.where} already holds {table.name}: migrate into an empty ledger"
                )
        for table in tables:
            columns = ", ".join(map(quoted, table.names))
            insert = statements.insert(table.name, table.names)
            for chunk in read.chunks(f"SELECT {columns} FROM {table.name}", CHUNK):
                write.run(insert, [dict(zip(table.names, row, strict=True)) for row in chunk])
                copied[table.name] += len(chunk)
    return copied
