"""Which bearer tokens are trusted: the AUTH_* app settings (DESIGN.md section 6)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


@dataclass(frozen=True)
class AuthSettings:
    """The JWKS, issuers, audiences and tenant a token must match."""

    jwks_uri: str | None
    jwks_file: str | None
    issuers: tuple[str, ...]
    audiences: tuple[str, ...]
    tenant_id: str | None
    client_id: str = ""
    """The product's own app registration (AUTH_CLIENT_ID), named in a 401's challenge."""
    authority: str = "https://login.microsoftonline.com"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AuthSettings:
        return cls(
            jwks_uri=env.get("AUTH_JWKS_URI") or None,
            jwks_file=env.get("AUTH_JWKS_FILE") or None,
            issuers=_list(env.get("AUTH_ISSUERS")),
            audiences=_list(env.get("AUTH_AUDIENCES")),
            tenant_id=env.get("AUTH_TENANT_ID") or None,
            client_id=env.get("AUTH_CLIENT_ID") or "",
            authority=(env.get("AUTH_AUTHORITY") or cls.authority).rstrip("/"),
        )
