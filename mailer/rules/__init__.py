"""The rules: inputs in, decisions out; no clock, no I/O, no settings files.

roster (who holds a seat), changes (what a reworded, moved or cancelled
session means for each person), reminders (which reminder is due), digest
(which slot, what is new, who gets it) and schedules (when a job is due).
"""
