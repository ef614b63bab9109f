"""The Functions app: wiring only. Graph's base URLs are the blueprint in `cancel/`; the mail
worker (queue trigger and outbox sweeper) is the blueprint in `notify/`."""

import gc
import os

# The app uses no pydantic plugins. Without this, pydantic looks for them when the first model
# class is defined, by reading the entry points of every installed distribution: a cold start
# would pay for that scan. An app setting of the same name wins (empty: plugins are loaded).
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

import azure.functions as func

from cancel import graph
from notify import functions as notify

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

for blueprint in (graph.bp, notify.bp):
    app.register_functions(blueprint)

# What importing the app made lives as long as the worker process: the collector's full
# collections need not walk it again. Unfrozen, each full collection went through some 71,000
# objects (75 ms on the 2-core dev machine) inside whichever invocation set it off.
gc.freeze()
