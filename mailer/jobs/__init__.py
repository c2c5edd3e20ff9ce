"""The jobs: what runs on a schedule, and the machinery that runs it.

One module per kind (`bounces`, `signups`, `reminders`, `digest`) with the
same `decide` signature (`base`), each listed in mailer/settings/kinds.py; a
job returns what it decided and `runner` records it, delivers, and asks it to
write back, under the lock; `daemon` runs each on its schedule and writes the
`heartbeat` that `mailer health` reads, `dry_run` shows what a run would do
without writing or sending, `runlog` records each run, `subscribers` writes
unsubscribes back to the sheet, `organizers` writes the Mailer tab and tells
organizers what needs them, and `monitor` pings an outside check as each run
starts and ends. The signups kind's pieces sit beside it: `signups_report`,
`series_dates`, `release_answers`, `signup_form` and `signups_write_back`.
"""
