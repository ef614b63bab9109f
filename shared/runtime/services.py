"""The composition root: adapters built once, on first use, and reused across invocations.

Nothing here runs at import time, so the Functions host can index the app without storage.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from shared.identity.tokens import TokenValidator
from shared.runtime.settings import MailSettings, mail_settings, max_dequeue_count, settings
from shared.storage.http import storage_options
from shared.storage.queue import StorageQueue, queue_client
from shared.storage.tables import TableCalendars, TableDirectory

if TYPE_CHECKING:
    from shared.storage.attendee_copies import TableAttendeeCopies
    from shared.storage.outbox import QueueRedelivery, TableOutbox
    from shared.use_cases.delivery import DeliveryPolicy
    from shared.use_cases.ports import Transport

APP_ROOT = Path(__file__).resolve().parents[2]
"""Where host.json is deployed, beside function_app.py."""


@dataclass(frozen=True)
class Services:
    directory: TableDirectory
    calendars: TableCalendars
    queue: StorageQueue
    tokens: TokenValidator


HTTP_STORAGE_POLICY: dict[str, object] = {
    "retry_total": 1,
    "retry_mode": "fixed",
    "retry_backoff_factor": 0.2,
    "connection_timeout": 2,
    "read_timeout": 10,
}
"""Storage calls made while a caller waits: one quick retry, then a 503 the caller may retry
(the SDK's default, ten exponential retries, held a request ~5 s while storage was down).
The mail worker keeps the SDK's patient default: nobody waits on it."""


HTTP_CONNECTIONS = 32
"""Connections a storage client of the HTTP functions keeps open to its host: as many as the
invocations the Python worker runs at once (its thread pool, PYTHON_THREADPOOL_THREAD_COUNT, is
at most 32). With requests' default of 10, a busy instance opened a new connection (against
Azure, a TLS handshake) for each call beyond the tenth, threw it away afterwards and logged a
"Connection pool is full" warning each time."""


@cache
def services() -> Services:
    """The HTTP functions' adapters. `AzureWebJobsStorage` is a connection string or identity
    settings (`shared/runtime/storage_connection.py`); an identity's token is got on the first
    storage call, not here. Each client keeps a pool of HTTP_CONNECTIONS connections."""
    config = settings()
    tables = config.storage.table_service(
        **storage_options(HTTP_CONNECTIONS, **HTTP_STORAGE_POLICY)
    )
    queue = queue_client(config.storage, config.notification_queue, HTTP_CONNECTIONS)
    return Services(
        directory=TableDirectory(
            tables.get_table_client(config.directory_table), config.directory_cache_seconds
        ),
        calendars=TableCalendars(
            tables.get_table_client(config.calendar_table), config.directory_cache_seconds
        ),
        queue=StorageQueue(queue),
        tokens=TokenValidator(config.auth),
    )


@dataclass(frozen=True)
class DeliveryServices:
    outbox: TableOutbox
    copies: TableAttendeeCopies
    transport: Transport
    redelivery: QueueRedelivery
    policy: DeliveryPolicy
    sweep_after: timedelta


@cache
def delivery_services() -> DeliveryServices:
    """The mail worker's adapters. Its modules are imported here, on the first queue message or
    timer tick, so an HTTP cold start never loads icalendar, smtplib or MSAL."""
    from shared.storage.attendee_copies import TableAttendeeCopies
    from shared.storage.outbox import QueueRedelivery, TableOutbox
    from shared.use_cases.delivery import DeliveryPolicy

    config, mail = settings(), mail_settings()
    # The SDK's patient default retries: nobody waits on the worker.
    tables = config.storage.table_service(**storage_options(HTTP_CONNECTIONS))
    calendar = tables.get_table_client(config.calendar_table)
    directory = TableDirectory(
        tables.get_table_client(config.directory_table), config.directory_cache_seconds
    )
    queue = queue_client(config.storage, config.notification_queue, HTTP_CONNECTIONS)
    return DeliveryServices(
        outbox=TableOutbox(calendar),
        copies=TableAttendeeCopies(calendar, directory),
        transport=mail_transport(mail),
        redelivery=QueueRedelivery(queue),
        policy=DeliveryPolicy(
            max_attempts=max_dequeue_count(os.environ, APP_ROOT / "host.json"),
            lease=timedelta(seconds=mail.lease_seconds),
            concurrency=mail.concurrency,
            batch=mail.batch,
        ),
        sweep_after=timedelta(seconds=mail.sweep_after_seconds),
    )


def mail_transport(mail: MailSettings) -> Transport:
    """The transport `MAIL_TRANSPORT` names; only the graph transport imports MSAL."""
    if mail.transport == "smtp":
        from shared.transports.smtp import SmtpSettings, SmtpTransport

        return SmtpTransport(
            SmtpSettings(
                host=mail.smtp_host,
                port=mail.smtp_port,
                starttls=mail.smtp_starttls,
                username=mail.smtp_username,
                password=mail.smtp_password,
                envelope_from=mail.smtp_from,
                timeout=mail.timeout_seconds,
            )
        )
    if mail.transport == "graph":
        from shared.transports.graph import GraphSettings, GraphTransport

        return GraphTransport(
            GraphSettings(
                tenant_id=mail.graph_tenant_id,
                client_id=mail.graph_client_id,
                client_secret=mail.graph_client_secret,
                authority_host=mail.graph_authority_host,
                base_url=mail.graph_base_url,
                timeout=mail.timeout_seconds,
            )
        )
    from shared.transports.maildir import MaildirTransport

    return MaildirTransport(Path(mail.maildir))


def utc_now() -> datetime:
    return datetime.now(UTC)
