"""The local run: Azurite, the demo tenant and the app on http://127.0.0.1:7071/v1.0 (and /beta).

    ./dev run

Writes `local.settings.json` from the sample on first run (trusting only the dev key in
`.dev/`), starts Azurite in memory on its usual ports (10000-10002), loads the demo tenant,
serves every function of `function_app.py` through the dev host and prints a ready `curl`.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from devtools.azurite import ROOT, Azurite
from devtools.host import load_local_settings
from devtools.load import DEMO_TENANT, load
from devtools.tokens import DEFAULT_DEV_DIR, dev_auth_settings, ensure_dev_key, mint
from shared.runtime.settings import Settings

SETTINGS = ROOT / "local.settings.json"
SAMPLE = ROOT / "local.settings.sample.json"
PORT = 7071


def write_local_settings() -> None:
    """local.settings.json from the sample, trusting the dev key (kept if it exists)."""
    if SETTINGS.exists():
        return
    sample = json.loads(SAMPLE.read_text())
    sample["Values"].update(dev_auth_settings(ensure_dev_key(DEFAULT_DEV_DIR)))
    SETTINGS.write_text(json.dumps(sample, indent=2) + "\n")


def banner(
    base_url: str, token: str, organizer: str, event_id: str, copy_id: str, mail: str
) -> str:
    json_header = "-H 'Content-Type: application/json'"
    return f"""
Ready. The demo tenant is loaded. You are {organizer}, organizer of "Quarterly planning".
In another shell:

TOKEN={token}

curl -i -X POST {base_url}/me/events/{event_id}/cancel \\
  -H "Authorization: Bearer $TOKEN" {json_header} \\
  -d '{{"Comment": "Cancelling for this week due to all hands"}}'

Then the event is gone (404), and within seconds the mail worker has sent one cancellation
per attendee (Alex, Megan, Pat; not you, the organizer):
curl -i {base_url}/me/events/{event_id} -H "Authorization: Bearer $TOKEN"
{mail}

As an attendee of Alex's "Budget check-in" you get Graph's 400:
curl -i -X POST {base_url}/me/events/{copy_id}/cancel \\
  -H "Authorization: Bearer $TOKEN" {json_header} -d '{{}}'

A token for another user: .venv/bin/python -m devtools.tokens --user <object id>
Stop with Ctrl-C.
"""


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    os.chdir(ROOT)
    write_local_settings()
    load_local_settings(SETTINGS, os.environ)
    # A local.settings.json written before a setting was added to the sample still gets it.
    load_local_settings(SAMPLE, os.environ)

    with Azurite(blob=10000, queue=10001, table=10002) as emulator:
        storage = os.environ.get("AzureWebJobsStorage", "")
        if storage.replace(" ", "").lower() == "usedevelopmentstorage=true":
            os.environ["AzureWebJobsStorage"] = emulator.connection_string
        tenant = load(json.loads(DEMO_TENANT.read_text()), Settings.from_env(os.environ))

        from devtools.host import DevHost
        from function_app import app

        host_json = json.loads((ROOT / "host.json").read_text())
        with DevHost(app, host_json, os.environ, port=PORT) as host:
            for line in host.describe():
                print(f"\t{line}")
            adele = tenant.users["adelev@contoso.example"]
            token = mint(ensure_dev_key(DEFAULT_DEV_DIR), subject_oid=adele.id)
            print(
                banner(
                    f"{host.base_url}/v1.0",
                    token,
                    adele.display_name,
                    tenant.events["planning"][1],
                    tenant.copies["budget"][adele.id],
                    where_mail_goes(os.environ),
                ),
                flush=True,
            )
            wait_for_stop()
    return 0


def where_mail_goes(env: Mapping[str, str]) -> str:
    """The command that shows the worker's mail: the maildir's `new/` folder, by default."""
    transport = env.get("MAIL_TRANSPORT") or "maildir"
    if transport != "maildir":
        return f"(MAIL_TRANSPORT={transport}: look where that transport delivers)"
    folder = (ROOT / (env.get("MAIL_MAILDIR") or "maildir")).resolve()
    shown = folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder
    return f"ls {shown}/new/   # one .eml per attendee; open one in any mail client"


def wait_for_stop() -> None:
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    done.wait()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(ROOT)))
    raise SystemExit(main())
