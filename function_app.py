"""The Functions app: wiring only. Each route family is a blueprint in `cancel/`; the mail
worker (queue trigger and outbox sweeper) is the blueprint in `notify/`."""

import azure.functions as func

from cancel import calendar_groups, calendars, default_calendar, events
from notify import functions as notify

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

for family in (events, default_calendar, calendars, calendar_groups, notify):
    app.register_functions(family.bp)
