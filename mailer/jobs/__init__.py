"""Jobs: signups, reminders, digest; one module each."""
