"""The Functions app: wiring only. Each route family is a blueprint in `cancel/`."""

import azure.functions as func

from cancel import calendar_groups, calendars, default_calendar, events

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

for family in (events, default_calendar, calendars, calendar_groups):
    app.register_functions(family.bp)
