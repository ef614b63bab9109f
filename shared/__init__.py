"""The app's own code beside its HTTP edge (`cancel/`) and its worker's triggers (`notify/`).

Pure (no `azure.*`, no network, no file I/O; checked by `lint-imports`, see pyproject.toml):
  calendar/    what a calendar is: Graph's shapes, ids, errors, recurrence, mailbox rules
  use_cases/   what the product does (cancel, read, deliver, sweep) and the ports it needs
  messages/    the iMIP messages attendees receive
Adapters (they implement the ports):
  storage/     Azure Table Storage and Queue Storage
  transports/  mail out: a maildir, SMTP, Graph sendMail
  identity/    bearer tokens (PyJWT)
Wiring:
  runtime/     app settings, and the adapters built once, on first use
"""
