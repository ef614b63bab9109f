"""icalendar is first imported under one lock, whoever imports it: its modules import one
another in a circle, so an HTTP request naming a Windows zone and the mail worker's first
message, importing it at once in two threads of one worker process, each found the other's
half-made module (ImportError, a 500 seen in the end-to-end tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

PROBE = """
import json, sys
from shared.calendar import recurrence

class Watch:
    seen = []
    def find_spec(self, name, path=None, target=None):
        if name == "icalendar" or name.startswith("icalendar."):
            Watch.seen.append([name, recurrence.ICALENDAR_IMPORT._is_owned()])
        return None

sys.meta_path.insert(0, Watch())
{entry}
print(json.dumps(Watch.seen))
"""


@pytest.mark.parametrize(
    "entry",
    [
        'recurrence.zone("Pacific Standard Time")',  # an HTTP request's Windows zone name
        "import shared.messages.imip",  # the mail worker's first message
    ],
)
def test_every_first_import_of_icalendar_holds_the_lock(entry: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(entry=entry)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen, "icalendar was not imported at all"
    assert [name for name, held in seen if not held] == []
