"""Dev signing key and dev tokens for local work; never deployed.

The key lives in `<repo>/.dev/` (gitignored) and is trusted only by a configuration built from
`dev_auth_settings`, so dev tokens mean nothing to a real deployment.

    python -m devtools.tokens --user <oid> [--scopes "Calendars.ReadWrite"]
    python -m devtools.tokens --app <appid> [--roles Calendars.ReadWrite]
    python -m devtools.tokens --settings      # the AUTH_* variables that trust the dev key
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

DEV_TENANT_ID = "00000000-0000-4000-8000-00000000dec0"
DEV_ISSUER = f"https://login.microsoftonline.com/{DEV_TENANT_ID}/v2.0"
DEV_AUDIENCE = "https://graph.microsoft.com"
DEV_CLIENT_APP_ID = "00000000-0000-4000-8000-0000000c11e7"
DEV_API_APP_ID = "00000000-0000-4000-8000-0000000a91a9"
"""The app registration the product itself would have: named in a 401's challenge."""

KEY_FILE = "dev-signing-key.pem"
JWKS_FILE = "dev-jwks.json"
DEFAULT_DEV_DIR = Path(__file__).resolve().parent.parent / ".dev"


@dataclass(frozen=True)
class DevKey:
    private_key: rsa.RSAPrivateKey
    kid: str
    jwks: dict[str, Any]
    key_path: Path
    jwks_path: Path


def ensure_dev_key(directory: Path) -> DevKey:
    """Load the dev key from `directory`, creating it (and its public JWKS) when missing."""
    directory.mkdir(parents=True, exist_ok=True)
    key_path, jwks_path = directory / KEY_FILE, directory / JWKS_FILE
    if key_path.exists():
        loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise ValueError(f"{key_path} is not an RSA private key")
        private_key = loaded
    else:
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write_atomically(key_path, pem, mode=0o600)

    public = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    kid = _thumbprint(public)
    jwks = {
        "keys": [
            {
                "kty": "RSA",
                "use": "sig",
                "alg": "RS256",
                "kid": kid,
                "n": public["n"],
                "e": public["e"],
            }
        ]
    }
    # The JWKS is always derived from the PEM, so a stale or hand-edited file is repaired.
    text = json.dumps(jwks, indent=2) + "\n"
    if not jwks_path.exists() or jwks_path.read_text("utf-8") != text:
        _write_atomically(jwks_path, text.encode("utf-8"), mode=0o644)
    return DevKey(private_key, kid, jwks, key_path, jwks_path)


def dev_auth_settings(key: DevKey) -> dict[str, str]:
    """App settings (environment variables) that trust the dev key and nothing else."""
    return {
        "AUTH_JWKS_FILE": str(key.jwks_path),
        "AUTH_ISSUERS": DEV_ISSUER,
        "AUTH_AUDIENCES": DEV_AUDIENCE,
        "AUTH_TENANT_ID": DEV_TENANT_ID,
        "AUTH_CLIENT_ID": DEV_API_APP_ID,
    }


def mint(
    key: DevKey,
    *,
    subject_oid: str | None,
    app_id: str | None = None,
    scopes: Iterable[str] = ("Calendars.ReadWrite",),
    roles: Iterable[str] = (),
    tenant_id: str = DEV_TENANT_ID,
    issuer: str = DEV_ISSUER,
    audience: str = DEV_AUDIENCE,
    lifetime_seconds: int = 3600,
    now: datetime | None = None,
    extra_claims: Mapping[str, object] | None = None,
) -> str:
    """A signed access token shaped like Entra's v2 tokens, with the `idtyp` optional claim.

    With `subject_oid` it is a delegated token (`idtyp: user`, `scp`, the user's `oid`, a
    pairwise `sub` unlike the `oid`, `azp`); without, an application token (`idtyp: app`,
    `roles`, `sub` == `oid` == the object id of the app's service principal, `azp`, `appid`).
    `extra_claims` are applied last; a value of None removes that claim (to mint deliberately
    incomplete tokens).
    """
    issued = int((now or datetime.now(UTC)).timestamp())
    claims: dict[str, object] = {
        "aud": audience,
        "iss": issuer,
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime_seconds,
        "tid": tenant_id,
        "ver": "2.0",
    }
    role_list = list(roles)
    if subject_oid is not None:
        scope_list = list(scopes)
        if not scope_list:
            raise ValueError("a delegated token needs at least one scope")
        client = app_id or DEV_CLIENT_APP_ID
        claims |= {
            "oid": subject_oid,
            "sub": _pairwise_subject(tenant_id, client, subject_oid),
            "scp": " ".join(scope_list),
            "azp": client,
            "idtyp": "user",
        }
        if role_list:
            claims["roles"] = role_list
    else:
        client = app_id or DEV_CLIENT_APP_ID
        # A stable service principal id per app, as Entra gives each app one per tenant.
        sp_oid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"dev-service-principal:{tenant_id}:{client}"))
        claims |= {
            "oid": sp_oid,
            "sub": sp_oid,
            "azp": client,
            "appid": client,
            "idtyp": "app",
            "roles": role_list,
        }
    for name, value in (extra_claims or {}).items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})


def _pairwise_subject(tenant_id: str, client_app_id: str, user_oid: str) -> str:
    # Entra's `sub` for a user is unique per (tenant, client app, user) and is never the `oid`;
    # only an app-only token has `sub` == `oid`. Same shape: 43 characters of base64url.
    digest = hashlib.sha256(f"{tenant_id}|{client_app_id}|{user_oid}".lower().encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _thumbprint(public_jwk: Mapping[str, Any]) -> str:
    # RFC 7638: SHA-256 over the required members, sorted, without whitespace.
    canonical = json.dumps(
        {"e": public_jwk["e"], "kty": "RSA", "n": public_jwk["n"]},
        separators=(",", ":"),
        sort_keys=True,
    )
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    # Concurrent first runs (parallel tests, two shells) must never see a half-written file.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    os.replace(temporary, path)


def _names(value: str) -> list[str]:
    return value.replace(",", " ").split()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.tokens",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", metavar="OID", help="delegated token for this user object id")
    who.add_argument("--app", metavar="APPID", help="application token for this client app id")
    who.add_argument("--settings", action="store_true", help="print the AUTH_* dev settings")
    parser.add_argument("--scopes", default="Calendars.ReadWrite", help="delegated scopes")
    parser.add_argument("--roles", default="Calendars.ReadWrite", help="application roles")
    parser.add_argument("--tenant", default=DEV_TENANT_ID, help="tid claim")
    parser.add_argument("--lifetime", type=int, default=3600, help="seconds until exp")
    parser.add_argument("--dev-dir", type=Path, default=DEFAULT_DEV_DIR, help="key directory")
    args = parser.parse_args(argv)

    key = ensure_dev_key(args.dev_dir)
    if args.settings:
        for name, value in dev_auth_settings(key).items():
            print(f"{name}={value}")
        return 0
    if args.user is not None:
        if not _names(args.scopes):
            parser.error("--user needs at least one scope")
        token = mint(
            key,
            subject_oid=args.user,
            scopes=_names(args.scopes),
            tenant_id=args.tenant,
            lifetime_seconds=args.lifetime,
        )
    else:
        token = mint(
            key,
            subject_oid=None,
            app_id=args.app,
            roles=_names(args.roles),
            tenant_id=args.tenant,
            lifetime_seconds=args.lifetime,
        )
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
