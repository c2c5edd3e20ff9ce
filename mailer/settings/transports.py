"""Every transport by the name `[transport] backend` gives it, and the module that builds it.

Each module offers `build(settings) -> Transport` (see
mailer/sending/transports/base.py). Settings check a backend's name against
this table, and `open_transport` builds from it, so a new transport is a new
module in mailer/sending/transports/ and one entry here. The table names
each module by its dotted path, so settings import nothing from sending.
"""

from __future__ import annotations

TRANSPORTS: dict[str, str] = {
    "outbox": "mailer.sending.transports.outbox",
    "smtp": "mailer.sending.transports.smtp",
    "sendgrid": "mailer.sending.transports.sendgrid",
}
