"""Copy a ledger's every row into another (`mailer migrate`, a dry run's scratch copy).

Table by table, in chunks, into an empty ledger in one transaction: either
everything arrives or nothing does. Claims in flight come along as they are,
so a message that was being sent stays unknown, never sent again blindly.
What a ledger remembers of forgotten people and retired sessions
(mailer.ledger.privacy) comes along with the rest, on either backend.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

import mailer.ledger.schema as schema
from mailer.core.errors import LedgerError
from mailer.ledger.protocols import Ledger
from mailer.ledger.records import CHUNK
from mailer.ledger.store import store_of


def copy_ledger(source: Ledger, target: Ledger) -> Counter[str]:
    """Every row of `source` into `target`, which must hold nothing yet; rows copied by table.

    The caller holds the source's run lock, so no run writes it meanwhile.
    """
    read_from, write_to = store_of(source), store_of(target)
    copied: Counter[str] = Counter()
    with read_from.engine.connect() as read, write_to.transaction() as write:
        for table in schema.METADATA.sorted_tables:
            if write.execute(select(func.count()).select_from(table)).scalar_one():
                raise LedgerError(
                    f"{write_to.where} already holds {table.name}: migrate into an empty ledger"
                )
        for table in schema.METADATA.sorted_tables:
            rows = read.execution_options(yield_per=CHUNK).execute(select(table))
            for chunk in rows.partitions(CHUNK):
                write.execute(table.insert(), [dict(row._mapping) for row in chunk])
                copied[table.name] += len(chunk)
    return copied
