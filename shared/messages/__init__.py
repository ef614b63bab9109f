"""The messages attendees receive, built in memory (MIME with an iMIP calendar part)."""
