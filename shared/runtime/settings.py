"""Configuration from app settings (environment variables), read once, on first use."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from shared.identity.settings import AuthSettings
from shared.runtime.storage_connection import HOST_STORAGE, StorageConnection, storage_connection


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name) or ""
    try:
        return float(value) if value.strip() else default
    except ValueError:
        raise ValueError(f"app setting {name} must be a number, not {value!r}") from None


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = (env.get(name) or "").strip().lower()
    return default if not value else value in ("1", "true", "yes", "on")


Transport = Literal["maildir", "smtp", "graph"]


@dataclass(frozen=True)
class MailSettings:
    """How the mail worker sends cancellations and when the sweeper re-sends (DESIGN.md 7, 8)."""

    transport: Transport
    maildir: str
    timeout_seconds: float
    smtp_host: str
    smtp_port: int
    smtp_starttls: bool
    smtp_username: str | None
    smtp_password: str | None
    smtp_from: str | None
    graph_tenant_id: str
    graph_client_id: str
    graph_client_secret: str
    graph_authority_host: str
    graph_base_url: str
    sweep_after_seconds: float
    concurrency: int = 4
    """`MAIL_CONCURRENCY`: recipients of one notification sent to at once, each thread with
    its own transport session (SMTP connection)."""
    batch: int = 100
    """`MAIL_BATCH`: recipients kept in one delivery-state row, claimed and ended in one write
    (1-100), for notifications whose first slice is not yet written (every attempt keeps the
    size of the first slice, whoever wrote it). A worker that dies leaves at most two slices
    in doubt (one when MAIL_CONCURRENCY is 1)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MailSettings:
        transport = (env.get("MAIL_TRANSPORT") or "maildir").strip().lower()
        if transport not in ("maildir", "smtp", "graph"):
            raise ValueError(f"MAIL_TRANSPORT must be maildir, smtp or graph, not {transport!r}")
        return cls(
            transport=transport,  # type: ignore[arg-type]  # checked just above
            maildir=env.get("MAIL_MAILDIR") or "maildir",
            timeout_seconds=_number(env, "MAIL_TIMEOUT_SECONDS", 30),
            smtp_host=env.get("SMTP_HOST") or "",
            smtp_port=int(_number(env, "SMTP_PORT", 587)),
            smtp_starttls=_flag(env, "SMTP_STARTTLS", True),
            smtp_username=env.get("SMTP_USERNAME") or None,
            smtp_password=env.get("SMTP_PASSWORD") or None,
            smtp_from=env.get("SMTP_FROM") or None,
            graph_tenant_id=env.get("GRAPH_TENANT_ID") or "",
            graph_client_id=env.get("GRAPH_CLIENT_ID") or "",
            graph_client_secret=env.get("GRAPH_CLIENT_SECRET") or "",
            graph_authority_host=(
                env.get("GRAPH_AUTHORITY_HOST") or "https://login.microsoftonline.com"
            ).rstrip("/"),
            graph_base_url=(env.get("GRAPH_BASE_URL") or "https://graph.microsoft.com/v1.0").rstrip(
                "/"
            ),
            sweep_after_seconds=_number(env, "SWEEP_AFTER_SECONDS", 300),
            concurrency=max(1, int(_number(env, "MAIL_CONCURRENCY", 4))),
            batch=min(100, max(1, int(_number(env, "MAIL_BATCH", 100)))),
        )

    @property
    def lease_seconds(self) -> float:
        """How long a recipient claimed by a worker stays its own: twice one send's timeout."""
        return 2 * self.timeout_seconds


HOST_JSON_OVERRIDE = "AzureFunctionsJobHost__"


def with_overrides(host_json: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """host.json as the host reads it: an app setting `AzureFunctionsJobHost__a__b` overrides
    the value at `a.b`, whose keys match in any letter case."""
    merged: dict[str, Any] = json.loads(json.dumps(host_json))
    for name, value in env.items():
        if not name.lower().startswith(HOST_JSON_OVERRIDE.lower()):
            continue
        *parents, leaf = name[len(HOST_JSON_OVERRIDE) :].split("__")
        if not leaf or not all(parents):
            continue
        node = merged
        for key in parents:
            found = next((k for k in node if k.lower() == key.lower()), key)
            if not isinstance(node.get(found), dict):
                node[found] = {}
            node = node[found]
        node[next((k for k in node if k.lower() == leaf.lower()), leaf)] = value
    return merged


def host_setting(mapping: Mapping[str, Any], *path: str) -> Any:
    """A nested host.json value, its keys matched case-insensitively as the host reads them."""
    current: Any = mapping
    for key in path:
        if not isinstance(current, Mapping):
            return None
        current = next((v for k, v in current.items() if str(k).lower() == key.lower()), None)
    return current


def max_dequeue_count(env: Mapping[str, str], host_json_path: Path) -> int:
    """The host's `extensions.queues.maxDequeueCount` (5 unless host.json or a setting says)."""
    host_json = json.loads(host_json_path.read_text("utf-8")) if host_json_path.exists() else {}
    value = host_setting(with_overrides(host_json, env), "extensions", "queues", "maxDequeueCount")
    return max(1, int(value)) if value not in (None, "") else 5


@dataclass(frozen=True)
class Settings:
    storage: StorageConnection
    """`AzureWebJobsStorage`: a connection string or identity-based settings, as the host reads
    them; `storage.table_service()` and `queue_client(storage, …)` make the clients."""
    calendar_table: str
    directory_table: str
    notification_queue: str
    auth: AuthSettings
    directory_cache_seconds: float = 60
    """`DIRECTORY_CACHE_SECONDS`: how long users, groups and calendars' placements read from
    storage are kept in memory (0: not at all)."""

    @property
    def storage_connection(self) -> str:
        """The connection string, or "" when the connection is identity-based."""
        return self.storage.connection_string or ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Raises StorageConfigurationError (a ValueError naming the settings) without storage."""
        return cls(
            storage=storage_connection(env, HOST_STORAGE),
            calendar_table=env.get("CALENDAR_TABLE", "calendar"),
            directory_table=env.get("DIRECTORY_TABLE", "directory"),
            notification_queue=env.get("NOTIFICATION_QUEUE", "event-cancellations"),
            auth=AuthSettings.from_env(env),
            directory_cache_seconds=max(0.0, _number(env, "DIRECTORY_CACHE_SECONDS", 60)),
        )


@cache
def settings() -> Settings:
    return Settings.from_env(os.environ)


@cache
def mail_settings() -> MailSettings:
    """Apart from `settings()`, so a mail setting that is wrong never fails an HTTP cancel."""
    return MailSettings.from_env(os.environ)
