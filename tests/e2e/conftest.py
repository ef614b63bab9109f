"""The app over HTTP: the dev host in its own process, Azurite behind it, the demo tenant loaded."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueClient

from devtools.azurite import Azurite, free_port
from devtools.load import DEMO_TENANT, Loaded, load
from devtools.tokens import DevKey, dev_auth_settings, mint
from shared.runtime.settings import Settings
from shared.storage.queue import queue_client

ROOT = Path(__file__).resolve().parents[2]
APP_ID = "11111111-2222-4333-8444-555555555555"


def start_host(
    env: dict[str, str], *, http_only: bool = True
) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m devtools.host` as a developer runs it, on a free port."""
    port = free_port()
    command = [sys.executable, "-m", "devtools.host", "--port", str(port)]
    command += ["--settings", str(ROOT / ".no-local-settings.json")] + (
        ["--http-only"] if http_only else []
    )
    process = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process, f"http://127.0.0.1:{port}/api"
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("the dev host did not start")
        time.sleep(0.05)


def stop_host(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Stack:
    """A running app and what it was loaded with, plus ways to look into its storage."""

    base_url: str
    settings: Settings
    key: DevKey
    tenant: Loaded
    http: requests.Session
    tables: TableServiceClient
    notifications: QueueClient

    def user(self, upn: str) -> str:
        return self.tenant.users[upn.lower()].id

    def token(self, upn: str, scopes: tuple[str, ...] = ("Calendars.ReadWrite",)) -> str:
        return mint(self.key, subject_oid=self.user(upn), scopes=scopes)

    def app_token(self, roles: tuple[str, ...] = ("Calendars.ReadWrite",)) -> str:
        return mint(self.key, subject_oid=None, app_id=APP_ID, roles=roles)

    def post(
        self,
        path: str,
        token: str | None,
        body: bytes | None = b"{}",
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        sent = {"Content-Type": "application/json"}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        sent.update(headers or {})
        return self.http.post(f"{self.base_url}/{path}", data=body, headers=sent, timeout=30)

    def get(self, path: str, token: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"}
        return self.http.get(f"{self.base_url}/{path}", headers=headers, timeout=30)

    def event(self, key: str) -> tuple[str, str]:
        return self.tenant.events[key]

    def rows(self, table: str | None = None) -> list[dict[str, Any]]:
        client = self.tables.get_table_client(table or self.settings.calendar_table)
        found = [dict(row) | {"etag": row.metadata["etag"]} for row in client.list_entities()]
        return sorted(found, key=lambda row: (row["PartitionKey"], row["RowKey"]))

    def row(self, mailbox: str, row_key: str) -> dict[str, Any] | None:
        return next(
            (r for r in self.rows() if r["PartitionKey"] == mailbox and r["RowKey"] == row_key),
            None,
        )

    def messages(self) -> list[dict[str, Any]]:
        with suppress(ResourceNotFoundError):
            peeked = self.notifications.peek_messages(max_messages=32)
            return [json.loads(message.content) for message in peeked]
        return []

    def snapshot(self) -> tuple[object, ...]:
        """Everything a request could have changed: both tables and the queue."""
        directory = self.rows(self.settings.directory_table)
        return (self.rows(), directory, self.messages())


def app_settings(azurite: Azurite, key: DevKey, **overrides: str) -> dict[str, str]:
    return {
        "AzureWebJobsStorage": azurite.connection_string,
        "CALENDAR_TABLE": "calendar",
        "DIRECTORY_TABLE": "directory",
        "NOTIFICATION_QUEUE": "event-cancellations",
        **dev_auth_settings(key),
        **overrides,
    }


def reset_storage(
    tables: TableServiceClient, notifications: QueueClient, settings: Settings
) -> None:
    for table in (settings.calendar_table, settings.directory_table):
        tables.delete_table(table)
    with suppress(ResourceNotFoundError):
        notifications.delete_queue()


@pytest.fixture(scope="session")
def host_env(azurite: Azurite, dev_key: DevKey) -> dict[str, str]:
    return app_settings(azurite, dev_key)


@pytest.fixture(scope="session")
def host_url(host_env: dict[str, str]) -> Iterator[str]:
    process, url = start_host(host_env)
    yield url
    stop_host(process)


@pytest.fixture
def stack(host_url: str, host_env: dict[str, str], dev_key: DevKey) -> Iterator[Stack]:
    """A fresh demo tenant in empty storage, behind the running dev host."""
    settings = Settings.from_env(host_env)
    tables = TableServiceClient.from_connection_string(settings.storage_connection)
    notifications = queue_client(settings.storage_connection, settings.notification_queue)
    reset_storage(tables, notifications, settings)
    tenant = load(json.loads(DEMO_TENANT.read_text()), settings)
    http = requests.Session()
    http.trust_env = False  # no proxies from the environment for loopback
    with tables, notifications, http:
        yield Stack(host_url, settings, dev_key, tenant, http, tables, notifications)
