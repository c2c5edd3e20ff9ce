"""mailer: signups, waitlists, reminders and a resource digest, run from a spreadsheet."""

__version__ = "0.1.0"
