"""The organizer's spreadsheet: its backends, its tabs and the Google Form beside it.

`workbook` is the small interface (a Table per tab, planned cell writes),
`backends` picks the backend mailer.toml names: `csv_files` (a folder of CSVs,
written atomically) or `google` (the Sheets API, one batch read and one batch
write). `schema` names the tabs and columns, `tabs` turns rows into the domain
values with a problem per bad row, `google_form` keeps the signup form's choices
in step with the sessions.
"""
