"""What a calendar is, with no I/O: Graph's shapes, ids, errors, recurrence, mailbox rules."""
