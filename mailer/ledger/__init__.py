"""The ledger: mailer's memory of what it decided and sent, between runs.

`sqlite` holds the SQLite ledger (the embedded default): the roster as decided,
each message with its idempotency key and state, suppressions, digests, seat
tokens and self-service requests, and the run lock.
"""
