"""Configuration from app settings (environment variables), read once, on first use."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


@dataclass(frozen=True)
class AuthSettings:
    """Which bearer tokens are trusted (DESIGN.md section 6)."""

    jwks_uri: str | None
    jwks_file: str | None
    issuers: tuple[str, ...]
    audiences: tuple[str, ...]
    tenant_id: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AuthSettings:
        return cls(
            jwks_uri=env.get("AUTH_JWKS_URI") or None,
            jwks_file=env.get("AUTH_JWKS_FILE") or None,
            issuers=_list(env.get("AUTH_ISSUERS")),
            audiences=_list(env.get("AUTH_AUDIENCES")),
            tenant_id=env.get("AUTH_TENANT_ID") or None,
        )


@dataclass(frozen=True)
class Settings:
    storage_connection: str
    calendar_table: str
    directory_table: str
    notification_queue: str
    auth: AuthSettings

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        return cls(
            storage_connection=env.get("AzureWebJobsStorage", ""),
            calendar_table=env.get("CALENDAR_TABLE", "calendar"),
            directory_table=env.get("DIRECTORY_TABLE", "directory"),
            notification_queue=env.get("NOTIFICATION_QUEUE", "event-cancellations"),
            auth=AuthSettings.from_env(env),
        )


@cache
def settings() -> Settings:
    return Settings.from_env(os.environ)
