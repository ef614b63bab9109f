"""The composition root: adapters built once, on first use, and reused across invocations.

Nothing here runs at import time, so the Functions host can index the app without storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from azure.data.tables import TableServiceClient

from shared.identity import TokenValidator
from shared.notification_queue import StorageQueue, queue_client
from shared.settings import settings
from shared.storage import TableCalendars, TableDirectory


@dataclass(frozen=True)
class Services:
    directory: TableDirectory
    calendars: TableCalendars
    queue: StorageQueue
    tokens: TokenValidator


@cache
def services() -> Services:
    config = settings()
    tables = TableServiceClient.from_connection_string(config.storage_connection)
    return Services(
        directory=TableDirectory(tables.get_table_client(config.directory_table)),
        calendars=TableCalendars(tables.get_table_client(config.calendar_table)),
        queue=StorageQueue(queue_client(config.storage_connection, config.notification_queue)),
        tokens=TokenValidator(config.auth),
    )


def utc_now() -> datetime:
    return datetime.now(UTC)
