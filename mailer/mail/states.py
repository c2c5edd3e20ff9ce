"""A message's states in the ledger, apart from the message model so readers need not load it."""

SENT = "sent"
RETRY = "retry"
FAILED = "failed"
# Handed to the provider with no answer back (a timeout, a lost line, a killed run):
# it may have been delivered, so it is never sent again without someone deciding.
UNKNOWN = "unknown"
# A result only, never stored: "not now" (a quota or throttling reply); the message
# stays queued and sending stops until `resume_at`.
PAUSE = "pause"
