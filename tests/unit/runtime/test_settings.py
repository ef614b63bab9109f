"""Mail settings, and host.json as both the host and the worker read it (with overrides)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devtools.host_triggers import QueueSettings
from shared.runtime.settings import MailSettings, max_dequeue_count, with_overrides

REPO = Path(__file__).resolve().parents[3]


def test_defaults_are_the_local_ones() -> None:
    mail = MailSettings.from_env({})
    assert (mail.transport, mail.maildir) == ("maildir", "maildir")
    assert (mail.smtp_port, mail.smtp_starttls, mail.timeout_seconds) == (587, True, 30.0)
    assert mail.graph_authority_host == "https://login.microsoftonline.com"
    assert mail.graph_base_url == "https://graph.microsoft.com/v1.0"
    assert (mail.sweep_after_seconds, mail.lease_seconds) == (300.0, 60.0)


def test_settings_are_read_and_checked() -> None:
    mail = MailSettings.from_env(
        {
            "MAIL_TRANSPORT": "SMTP",
            "SMTP_HOST": "smtp.contoso.example",
            "SMTP_PORT": "2525",
            "SMTP_STARTTLS": "false",
            "SMTP_USERNAME": "mailer",
            "GRAPH_BASE_URL": "https://graph.microsoft.us/v1.0/",
            "MAIL_TIMEOUT_SECONDS": "5",
        }
    )
    assert (mail.transport, mail.smtp_host, mail.smtp_port) == (
        "smtp",
        "smtp.contoso.example",
        2525,
    )
    assert not mail.smtp_starttls
    assert (mail.smtp_username, mail.smtp_password) == ("mailer", None)
    assert mail.graph_base_url == "https://graph.microsoft.us/v1.0"
    assert mail.lease_seconds == 10
    with pytest.raises(ValueError, match="MAIL_TRANSPORT"):
        MailSettings.from_env({"MAIL_TRANSPORT": "pigeon"})
    with pytest.raises(ValueError, match="SWEEP_AFTER_SECONDS"):
        MailSettings.from_env({"SWEEP_AFTER_SECONDS": "soon"})


def test_the_worker_reads_max_dequeue_count_as_the_host_does(tmp_path: Path) -> None:
    host_json = tmp_path / "host.json"
    assert max_dequeue_count({}, host_json) == 5  # no host.json: the host's default
    host_json.write_text(json.dumps({"extensions": {"Queues": {"MaxDequeueCount": 7}}}))
    assert max_dequeue_count({}, host_json) == 7
    override = {"AzureFunctionsJobHost__extensions__queues__maxDequeueCount": "3"}
    assert max_dequeue_count(override, host_json) == 3
    assert max_dequeue_count({}, REPO / "host.json") == 5


def test_the_dev_host_applies_app_settings_over_host_json() -> None:
    host_json = {"extensions": {"queues": {"maxDequeueCount": 5, "visibilityTimeout": "00:00:10"}}}
    env = {
        "AzureFunctionsJobHost__Extensions__Queues__maxDequeueCount": "2",
        "AzureFunctionsJobHost__extensions__queues__visibilityTimeout": "00:00:01",
        "AzureFunctionsJobHost__logging__logLevel__default": "Warning",
        "AzureFunctionsJobHost__": "ignored",
        "UNRELATED": "x",
    }
    merged = with_overrides(host_json, env)

    assert merged["extensions"]["queues"] == {
        "maxDequeueCount": "2",
        "visibilityTimeout": "00:00:01",
    }
    assert merged["logging"] == {"logLevel": {"default": "Warning"}}
    assert host_json["extensions"]["queues"]["maxDequeueCount"] == 5  # the file's copy is kept
    queues = QueueSettings.from_host_json(merged)
    assert (queues.max_dequeue_count, queues.visibility_timeout) == (2, 1.0)


def test_the_worker_reads_the_host_json_deployed_beside_function_app() -> None:
    from shared.runtime.services import APP_ROOT

    assert (APP_ROOT / "host.json").samefile(REPO / "host.json")
    assert (APP_ROOT / "function_app.py").is_file()
