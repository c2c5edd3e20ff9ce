"""The organizer's spreadsheet: its backends, its tabs and the Google Form beside it.

`workbook` is the small interface (a Table per tab, planned cell writes),
`backends` picks the backend mailer.toml names: `csv_files` (a folder of CSVs,
written atomically) or `google` (the Sheets API, one batch read and one batch
write). `view` is what the rest of mailer speaks to: tabs and columns by
logical name (`signups`, `status`), translated to this site's tab names and
headers in one place. `tabs` reads rows into the domain's values
(mailer.model) with a Problem per bad cell, `series_tab` reads the Series
tab, `session_dates` places dates that cannot be right on their events rows,
`mailer_tab` lays out the Mailer tab, and `google_form` keeps the signup
form's choices in step with the sessions. The tabs' default
names and columns are in mailer/settings/schema.py.
"""
