"""The rules: plain values in, decisions out; no clock, no I/O, nothing from settings.

roster (who holds a seat), statuses (what a Status cell says), binding
(which session an answer and an events row are), adoption (what the sheet
shows was sent that the ledger does not hold), changes (what a reworded,
moved or cancelled session means for each person), reminders (which
reminder is due), digest (which slot, what is new, who gets it),
form_choices (what the signup form offers), series (a recurring session's
dates), schedules (when a job is due) and self_service (seat tokens, and
what a person's request to release or claim a seat does).
"""
