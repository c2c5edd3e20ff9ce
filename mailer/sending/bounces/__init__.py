"""Bounces for SMTP senders: reports read from the sending mailbox, matched and acted on.

imap.py reads the mailbox (read-only), reports.py tells what each report
says, outcomes.py matches it to the message it answers and applies
mailer.rules.bounces through the ledger.
"""
