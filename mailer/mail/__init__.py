"""Email building: templates in, messages out; nothing here sends.

`render` turns MJML+Jinja templates into HTML and text, `emails` builds each
event email (confirmation, waitlist, promotion, reminder, change) from a notice,
`message` holds the message types and their states, `mime` makes the bytes on
the wire, `invitations` the .ics parts, `mjml_structure` checks MJML nesting
that MRML would render silently.
"""
