"""The organizer's tools: `mailer check`, `mailer preview`, the gallery and a sample site.

`checks` finds what is wrong with a site before a run does, `gallery` renders
every email against a sample world, `preview` photographs the gallery, and
`sample` writes a small workbook to start from.
"""
