"""The mail worker's Functions metadata, and that indexing the app does not load the mail code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from devtools.host import load_functions
from function_app import app

REPO = Path(__file__).resolve().parents[3]


def test_the_worker_and_the_sweeper_are_bound_as_the_functions_host_expects() -> None:
    triggers = {spec.name: dict(spec.trigger) for spec in load_functions(app)}

    queue = triggers["deliver_cancellation"]
    assert queue["type"] == "queueTrigger"
    assert queue["queueName"] == "%NOTIFICATION_QUEUE%"
    assert queue["connection"] == "AzureWebJobsStorage"
    timer = triggers["sweep_outbox"]
    assert timer["type"] == "timerTrigger"
    assert timer["schedule"] == "%SWEEP_SCHEDULE%"
    assert not timer.get("runOnStartup")


def test_importing_the_app_loads_neither_mail_code_nor_the_filter_parser() -> None:
    mail = "{'icalendar', 'smtplib', 'msal', 'odata_query', 'sly'}"
    probe = f"import sys, function_app; print(sorted({mail} & set(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
