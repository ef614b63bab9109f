"""The Functions app: wiring only. Graph's base URLs are the blueprint in `cancel/`; the mail
worker (queue trigger and outbox sweeper) is the blueprint in `notify/`."""

import azure.functions as func

from cancel import graph
from notify import functions as notify

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

for blueprint in (graph.bp, notify.bp):
    app.register_functions(blueprint)
