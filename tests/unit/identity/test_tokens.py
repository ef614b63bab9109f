"""Bearer token validation: every refusal is a 401 of the right kind, and nothing else escapes."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import logging
import random
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from devtools.tokens import (
    DEV_AUDIENCE,
    DEV_ISSUER,
    DEV_TENANT_ID,
    DevKey,
    dev_auth_settings,
    ensure_dev_key,
    mint,
)
from shared.calendar.errors import InvalidToken, MissingToken
from shared.calendar.model import Caller
from shared.identity.settings import AuthSettings
from shared.identity.tokens import TokenValidator

USER = "5D5B6B7C-1111-4222-8333-444455556666"
APP = "A1B2C3D4-0000-4000-8000-00000000a999"
SERVICE_PRINCIPAL = "7E1C0B55-2222-4333-8444-555566667777"  # the object id of APP's principal
PAIRWISE_SUB = "HKZpfaHyWadeOouYlitjrI-KffTm222X5rrV3xDqfKQ"  # Entra's `sub` for a user
DROP = object()  # a claim override meaning "leave the claim out"


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> DevKey:
    return ensure_dev_key(tmp_path_factory.mktemp("dev"))


@pytest.fixture(scope="module")
def other_key(tmp_path_factory: pytest.TempPathFactory) -> DevKey:
    return ensure_dev_key(tmp_path_factory.mktemp("other"))


@pytest.fixture
def settings(key: DevKey) -> AuthSettings:
    return AuthSettings.from_env(dev_auth_settings(key))


@pytest.fixture
def validator(settings: AuthSettings) -> TokenValidator:
    return TokenValidator(settings)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def segment(obj: object) -> str:
    return b64(json.dumps(obj).encode("utf-8"))


def claims(**overrides: object) -> dict[str, object]:
    now = int(datetime.now(UTC).timestamp())
    base: dict[str, object] = {
        "aud": DEV_AUDIENCE,
        "iss": DEV_ISSUER,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "tid": DEV_TENANT_ID,
        "oid": USER,
        "scp": "Calendars.ReadWrite",
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not DROP}


def app_claims(**overrides: object) -> dict[str, object]:
    """An app-only token as Entra issues it: `sub` == `oid` (the service principal), no `scp`."""
    app: dict[str, object] = {
        "scp": DROP,
        "oid": SERVICE_PRINCIPAL,
        "sub": SERVICE_PRINCIPAL,
        "azp": APP,
        "idtyp": "app",
        "roles": ["Calendars.ReadWrite"],
    }
    return claims(**(app | overrides))


def signed(key: DevKey, payload: Mapping[str, object], **header: Any) -> str:
    # Signed by hand: PyJWT's encoder refuses some of the malformed claims tested here.
    signing_input = f"{segment({'alg': 'RS256', 'typ': 'JWT', **header})}.{segment(payload)}"
    signature = key.private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


def refused(validator: TokenValidator, token: str) -> None:
    with pytest.raises(InvalidToken):
        validator.caller(f"Bearer {token}")


# --- accepted tokens -------------------------------------------------------------------------


def test_delegated_token(validator: TokenValidator, key: DevKey) -> None:
    token = mint(key, subject_oid=USER, scopes=["Calendars.ReadWrite", "User.Read"])
    assert validator.caller(f"Bearer {token}") == Caller(
        kind="delegated",
        object_id=USER.lower(),
        tenant_id=DEV_TENANT_ID,
        permissions=frozenset({"Calendars.ReadWrite", "User.Read"}),
    )


def test_application_token(validator: TokenValidator, key: DevKey) -> None:
    token = mint(key, subject_oid=None, app_id=APP, roles=["Calendars.ReadWrite"])
    caller = validator.caller(f"Bearer {token}")
    assert caller.kind == "application"
    assert caller.permissions == frozenset({"Calendars.ReadWrite"})
    assert caller.object_id == jwt.decode(token, options={"verify_signature": False})["oid"]
    assert caller.tenant_id == DEV_TENANT_ID


def test_application_token_without_roles_is_refused(validator: TokenValidator, key: DevKey) -> None:
    # Neither `scp` nor `roles`: Graph answers such a token with 401 too.
    refused(validator, mint(key, subject_oid=None, app_id=APP, extra_claims={"roles": None}))


def test_application_token_without_oid_is_refused(validator: TokenValidator, key: DevKey) -> None:
    # No fallback to `azp`/`appid`: the caller's object id is its service principal's `oid`.
    refused(validator, mint(key, subject_oid=None, app_id=APP, extra_claims={"oid": None}))


def test_delegated_token_does_not_need_calendars_permission(
    validator: TokenValidator, key: DevKey
) -> None:
    # The 403 for a missing Calendars.ReadWrite is the core's; here the token is simply valid.
    token = mint(key, subject_oid=USER, scopes=["User.Read"])
    assert validator.caller(f"Bearer {token}").permissions == frozenset({"User.Read"})


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
def test_scheme_is_case_insensitive(validator: TokenValidator, key: DevKey, scheme: str) -> None:
    token = mint(key, subject_oid=USER)
    assert validator.caller(f"{scheme}   {token}  ").object_id == USER.lower()


def test_tenant_compared_case_insensitively(validator: TokenValidator, key: DevKey) -> None:
    token = mint(key, subject_oid=USER, tenant_id=DEV_TENANT_ID.upper())
    assert validator.caller(f"Bearer {token}").tenant_id == DEV_TENANT_ID


def test_any_configured_issuer_and_audience(key: DevKey) -> None:
    settings = dataclasses.replace(
        AuthSettings.from_env(dev_auth_settings(key)),
        issuers=("https://sts.windows.net/x/", DEV_ISSUER),
        audiences=("api://other", "00000003-0000-0000-c000-000000000000"),
    )
    token = mint(key, subject_oid=USER, audience="00000003-0000-0000-c000-000000000000")
    assert TokenValidator(settings).caller(f"Bearer {token}").object_id == USER.lower()


def test_clock_skew_within_leeway_accepted(validator: TokenValidator, key: DevKey) -> None:
    expired_just_now = mint(key, subject_oid=USER, lifetime_seconds=-30)
    assert validator.caller(f"Bearer {expired_just_now}").object_id == USER.lower()


def test_token_without_kid_uses_the_only_key(validator: TokenValidator, key: DevKey) -> None:
    token = signed(key, claims())
    assert "kid" not in jwt.get_unverified_header(token)
    assert validator.caller(f"Bearer {token}").kind == "delegated"


# --- application or delegated: `idtyp`, else `oid` == `sub` ----------------------------------


def test_user_token_with_roles_and_no_scp_is_refused(
    validator: TokenValidator, key: DevKey
) -> None:
    # A user's token carrying app roles assigned to that user, and no scopes: it is not an
    # app-only token (its `sub` is the user's pairwise id, not its `oid`), so it must not reach
    # every mailbox as an application caller would.
    forged = claims(scp=DROP, sub=PAIRWISE_SUB, roles=["Calendars.ReadWrite"])
    refused(validator, signed(key, forged, kid=key.kid))


def test_idtyp_app_with_roles_is_application(validator: TokenValidator, key: DevKey) -> None:
    token = signed(key, app_claims(), kid=key.kid)
    assert validator.caller(f"Bearer {token}") == Caller(
        kind="application",
        object_id=SERVICE_PRINCIPAL.lower(),
        tenant_id=DEV_TENANT_ID,
        permissions=frozenset({"Calendars.ReadWrite"}),
    )


def test_idtyp_app_does_not_need_sub(validator: TokenValidator, key: DevKey) -> None:
    token = signed(key, app_claims(sub=DROP), kid=key.kid)
    assert validator.caller(f"Bearer {token}").kind == "application"


def test_idtyp_user_with_scp_is_delegated(validator: TokenValidator, key: DevKey) -> None:
    token = signed(key, claims(sub=PAIRWISE_SUB, idtyp="user"), kid=key.kid)
    assert validator.caller(f"Bearer {token}") == Caller(
        kind="delegated",
        object_id=USER.lower(),
        tenant_id=DEV_TENANT_ID,
        permissions=frozenset({"Calendars.ReadWrite"}),
    )


@pytest.mark.parametrize("scp", ["Calendars.ReadWrite", "", None])
def test_idtyp_app_with_scp_is_refused(validator: TokenValidator, key: DevKey, scp: object) -> None:
    refused(validator, signed(key, app_claims(scp=scp), kid=key.kid))


@pytest.mark.parametrize(
    "overrides",
    [
        {"scp": DROP},
        {"scp": ""},
        {"scp": "   "},
        {"scp": DROP, "roles": ["Calendars.ReadWrite"]},
        {"scp": DROP, "roles": ["Calendars.ReadWrite"], "sub": USER},
    ],
)
def test_idtyp_user_without_scp_is_refused(
    validator: TokenValidator, key: DevKey, overrides: dict[str, object]
) -> None:
    refused(validator, signed(key, claims(idtyp="user", **overrides), kid=key.kid))


@pytest.mark.parametrize("idtyp", ["device", "App", "USER", "", " app", None, 1, ["app"]])
def test_unknown_idtyp_is_refused(validator: TokenValidator, key: DevKey, idtyp: object) -> None:
    refused(validator, signed(key, app_claims(idtyp=idtyp), kid=key.kid))
    refused(validator, signed(key, claims(idtyp=idtyp), kid=key.kid))


@pytest.mark.parametrize(
    "overrides",
    [
        {"roles": DROP},
        {"roles": None},
        {"roles": "Calendars.ReadWrite"},
        {"roles": ["Calendars.ReadWrite", 3]},
        {"oid": DROP},
        {"oid": ""},
        {"oid": 7},
    ],
)
def test_idtyp_app_needs_roles_and_oid(
    validator: TokenValidator, key: DevKey, overrides: dict[str, object]
) -> None:
    refused(validator, signed(key, app_claims(**overrides), kid=key.kid))


def test_no_idtyp_roles_and_oid_equal_to_sub_is_application(
    validator: TokenValidator, key: DevKey
) -> None:
    token = signed(key, app_claims(idtyp=DROP), kid=key.kid)
    assert validator.caller(f"Bearer {token}") == Caller(
        kind="application",
        object_id=SERVICE_PRINCIPAL.lower(),
        tenant_id=DEV_TENANT_ID,
        permissions=frozenset({"Calendars.ReadWrite"}),
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"oid": DROP},
        {"sub": DROP},
        {"oid": DROP, "sub": DROP},
        {"sub": PAIRWISE_SUB},
        {"sub": SERVICE_PRINCIPAL.lower()},  # compared exactly, as Microsoft's own check does
        {"sub": ""},
        {"sub": 5},
        {"roles": DROP},
        {"roles": None},
    ],
)
def test_no_idtyp_and_no_scp_without_matching_oid_sub_and_roles_is_refused(
    validator: TokenValidator, key: DevKey, overrides: dict[str, object]
) -> None:
    refused(validator, signed(key, app_claims(idtyp=DROP, **overrides), kid=key.kid))


@pytest.mark.parametrize("idtyp", [DROP, "user"])
def test_delegated_token_with_roles_has_its_scopes_as_permissions(
    validator: TokenValidator, key: DevKey, idtyp: object
) -> None:
    # Delegated tokens may carry the user's app roles; a delegated caller's permissions are its
    # scopes, so a role never widens what it may do.
    token = signed(
        key,
        claims(sub=PAIRWISE_SUB, idtyp=idtyp, scp="User.Read", roles=["Calendars.ReadWrite"]),
        kid=key.kid,
    )
    assert validator.caller(f"Bearer {token}") == Caller(
        kind="delegated",
        object_id=USER.lower(),
        tenant_id=DEV_TENANT_ID,
        permissions=frozenset({"User.Read"}),
    )


def test_minted_tokens_say_what_they_are(validator: TokenValidator, key: DevKey) -> None:
    delegated = mint(key, subject_oid=USER, roles=["Calendars.ReadWrite"])
    assert validator.caller(f"Bearer {delegated}").kind == "delegated"
    app = mint(key, subject_oid=None, app_id=APP, roles=["Calendars.ReadWrite"])
    assert validator.caller(f"Bearer {app}").kind == "application"
    # Without `idtyp` (an API that did not ask for the optional claim) both still resolve.
    bare_app = mint(key, subject_oid=None, app_id=APP, extra_claims={"idtyp": None})
    assert validator.caller(f"Bearer {bare_app}").kind == "application"
    bare_user = mint(key, subject_oid=USER, extra_claims={"idtyp": None})
    assert validator.caller(f"Bearer {bare_user}").kind == "delegated"


# --- missing and malformed headers -----------------------------------------------------------


@pytest.mark.parametrize("header", [None, "", "   ", "Bearer", "Bearer ", "bearer    "])
def test_missing_token(validator: TokenValidator, header: str | None) -> None:
    with pytest.raises(MissingToken):
        validator.caller(header)


@pytest.mark.parametrize("scheme", ["Basic", "Token", "Bearer-", "JWT"])
def test_wrong_scheme(validator: TokenValidator, key: DevKey, scheme: str) -> None:
    token = mint(key, subject_oid=USER)
    with pytest.raises(InvalidToken):
        validator.caller(f"{scheme} {token}")


def test_token_without_scheme(validator: TokenValidator, key: DevKey) -> None:
    with pytest.raises(InvalidToken):
        validator.caller(mint(key, subject_oid=USER))


# --- refused tokens --------------------------------------------------------------------------


def test_expired(validator: TokenValidator, key: DevKey) -> None:
    token = mint(key, subject_oid=USER, now=datetime.now(UTC) - timedelta(hours=2))
    refused(validator, token)


def test_not_yet_valid(validator: TokenValidator, key: DevKey) -> None:
    refused(validator, mint(key, subject_oid=USER, now=datetime.now(UTC) + timedelta(minutes=10)))


def test_not_before_honoured_alone(validator: TokenValidator, key: DevKey) -> None:
    later = int((datetime.now(UTC) + timedelta(minutes=10)).timestamp())
    refused(validator, mint(key, subject_oid=USER, extra_claims={"nbf": later, "iat": None}))


def test_wrong_audience(validator: TokenValidator, key: DevKey) -> None:
    refused(validator, mint(key, subject_oid=USER, audience="api://someone-else"))


def test_wrong_issuer(validator: TokenValidator, key: DevKey) -> None:
    refused(validator, mint(key, subject_oid=USER, issuer="https://evil.example/v2.0"))


def test_wrong_tenant(validator: TokenValidator, key: DevKey) -> None:
    refused(
        validator, mint(key, subject_oid=USER, tenant_id="11111111-1111-4111-8111-111111111111")
    )


def test_missing_tid(validator: TokenValidator, key: DevKey) -> None:
    refused(validator, mint(key, subject_oid=USER, extra_claims={"tid": None}))


def test_missing_tid_refused_without_tenant_setting(settings: AuthSettings, key: DevKey) -> None:
    validator = TokenValidator(dataclasses.replace(settings, tenant_id=None))
    assert validator.caller(f"Bearer {mint(key, subject_oid=USER)}").kind == "delegated"
    refused(validator, mint(key, subject_oid=USER, extra_claims={"tid": None}))


@pytest.mark.parametrize("claim", ["exp", "iss", "aud"])
def test_required_claims(validator: TokenValidator, key: DevKey, claim: str) -> None:
    refused(validator, mint(key, subject_oid=USER, extra_claims={claim: None}))


def test_tampered_payload(validator: TokenValidator, key: DevKey) -> None:
    header, _, signature = mint(key, subject_oid=USER).split(".")
    forged = segment(claims(oid="99999999-9999-4999-8999-999999999999"))
    refused(validator, f"{header}.{forged}.{signature}")


def test_tampered_signature(validator: TokenValidator, key: DevKey) -> None:
    header, payload, signature = mint(key, subject_oid=USER).split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[10] ^= 0x01
    refused(validator, f"{header}.{payload}.{b64(bytes(raw))}")


def test_signed_by_another_key_with_trusted_kid(
    validator: TokenValidator, key: DevKey, other_key: DevKey
) -> None:
    impostor = dataclasses.replace(other_key, kid=key.kid)
    refused(validator, mint(impostor, subject_oid=USER))


def test_signed_by_another_key_with_its_own_kid(
    validator: TokenValidator, other_key: DevKey
) -> None:
    refused(validator, mint(other_key, subject_oid=USER))


def test_unknown_kid(validator: TokenValidator, key: DevKey) -> None:
    refused(validator, mint(dataclasses.replace(key, kid="no-such-key"), subject_oid=USER))


def test_alg_none(validator: TokenValidator, key: DevKey) -> None:
    token = f"{segment({'alg': 'none', 'typ': 'JWT', 'kid': key.kid})}.{segment(claims())}."
    assert jwt.decode(token, options={"verify_signature": False})["oid"] == USER
    refused(validator, token)


def test_hs256_with_public_key_as_secret(validator: TokenValidator, key: DevKey) -> None:
    public_pem = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{segment({'alg': 'HS256', 'typ': 'JWT', 'kid': key.kid})}.{segment(claims())}"
    for secret in (public_pem, json.dumps(key.jwks["keys"][0]).encode("utf-8")):
        mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
        refused(validator, f"{signing_input}.{b64(mac)}")


@pytest.mark.parametrize(
    "overrides",
    [
        {"scp": ["Calendars.ReadWrite"]},
        {"scp": 7},
        {"oid": DROP},
        {"oid": None},
        {"oid": 12},
        {"oid": ""},
        {"tid": None},
        {"tid": 5},
        {"tid": ""},
        {"scp": DROP, "roles": "Calendars.ReadWrite"},
        {"scp": DROP, "roles": ["Calendars.ReadWrite", 3]},
        {"scp": DROP, "roles": None},
        {"scp": DROP, "oid": DROP},
        {"scp": "", "oid": DROP},
        {"scp": DROP, "oid": DROP, "azp": ["x"]},
        {"scp": DROP, "oid": DROP, "appid": 42},
        {"exp": "later"},
        {"exp": 1e400},
        {"nbf": {"a": 1}},
        {"iat": "now"},
        {"aud": {"x": DEV_AUDIENCE}},
        {"aud": [DEV_AUDIENCE, 1]},
        {"iss": [DEV_ISSUER]},
    ],
)
def test_signed_tokens_with_bad_claims(
    validator: TokenValidator,
    key: DevKey,
    overrides: dict[str, object],
    caplog: pytest.LogCaptureFixture,
) -> None:
    refused(validator, signed(key, claims(**overrides), kid=key.kid))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_two_keys_and_no_kid_is_ambiguous(key: DevKey, other_key: DevKey, tmp_path: Path) -> None:
    both = tmp_path / "jwks.json"
    both.write_text(json.dumps({"keys": key.jwks["keys"] + other_key.jwks["keys"]}))
    settings = AuthSettings.from_env({**dev_auth_settings(key), "AUTH_JWKS_FILE": str(both)})
    validator = TokenValidator(settings)
    assert validator.caller(f"Bearer {mint(other_key, subject_oid=USER)}").kind == "delegated"
    refused(validator, signed(key, claims()))


GARBAGE = [
    "x",
    "a.b.c",
    "...",
    "e30.e30.",
    "e30.e30",
    "W10.W10.",
    "!!!!.!!!!.!!!!",
    "A" * 20_000,
    "é.é.é",
    "\x00\x00.\x00.\x00",
    "\ud800.e30.e30",
    f"{segment({'alg': 'RS256', 'kid': 123})}.e30.",
    f"{segment({'alg': 'RS256', 'crit': ['exp']})}.e30.",
    f"{segment({'alg': 'RS256'})}.{segment([1, 2])}.",
    f"{segment({'alg': 'RS256'})}.{b64(b'not json')}.",
    f"{segment({'alg': ['RS256']})}.e30.",
    f"{segment({})}.e30.",
    f"{segment({'alg': 'RS256', 'b64': False})}..",
    f"{segment({'alg': 'ES256'})}.{segment(claims())}.{b64(b'x' * 64)}",
    "[" * 5000 + "." + "e30.",
    segment("[" * 5000) + ".e30.",
]


@pytest.mark.parametrize("token", GARBAGE)
def test_garbage(validator: TokenValidator, token: str, caplog: pytest.LogCaptureFixture) -> None:
    refused(validator, token)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # all anticipated


def test_fuzz_never_escapes(
    validator: TokenValidator, key: DevKey, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random(20260101)
    real = mint(key, subject_oid=USER)
    alphabet = "ABCDEFabcdef0123456789-_.=+/ é\x00"
    for _ in range(300):
        if rng.random() < 0.5:
            token = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 200)))
        else:
            chars = list(real)
            for _ in range(rng.randint(1, 5)):
                chars[rng.randrange(len(chars))] = rng.choice(alphabet)
            token = "".join(chars)
        if token == real or not token.strip():
            continue
        refused(validator, token)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# --- key sources -----------------------------------------------------------------------------


def test_no_key_configured(key: DevKey) -> None:
    settings = AuthSettings(
        jwks_uri=None,
        jwks_file=None,
        issuers=(DEV_ISSUER,),
        audiences=(DEV_AUDIENCE,),
        tenant_id=DEV_TENANT_ID,
    )
    refused(TokenValidator(settings), mint(key, subject_oid=USER))


def test_no_issuer_or_audience_configured(settings: AuthSettings, key: DevKey) -> None:
    token = mint(key, subject_oid=USER)
    refused(TokenValidator(dataclasses.replace(settings, issuers=())), token)
    refused(TokenValidator(dataclasses.replace(settings, audiences=())), token)


def test_jwks_file_read_lazily_and_once(key: DevKey, tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    settings = AuthSettings.from_env({**dev_auth_settings(key), "AUTH_JWKS_FILE": str(path)})
    validator = TokenValidator(settings)  # the file does not exist yet: no I/O here
    token = mint(key, subject_oid=USER)
    refused(validator, token)
    path.write_text(json.dumps(key.jwks))
    assert validator.caller(f"Bearer {token}").kind == "delegated"
    path.unlink()
    assert validator.caller(f"Bearer {token}").kind == "delegated"


def test_unreadable_jwks_file(key: DevKey, tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text("{not json")
    settings = AuthSettings.from_env({**dev_auth_settings(key), "AUTH_JWKS_FILE": str(path)})
    refused(TokenValidator(settings), mint(key, subject_oid=USER))


@pytest.fixture
def jwks_server(key: DevKey) -> Iterator[tuple[str, list[str]]]:
    requests: list[str] = []
    body = json.dumps(key.jwks).encode("utf-8")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/keys", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_jwks_uri(settings: AuthSettings, key: DevKey, jwks_server: tuple[str, list[str]]) -> None:
    uri, requests = jwks_server
    validator = TokenValidator(dataclasses.replace(settings, jwks_uri=uri, jwks_file=None))
    assert requests == []  # constructing the validator fetches nothing

    token = mint(key, subject_oid=USER)
    assert validator.caller(f"Bearer {token}").object_id == USER.lower()
    assert requests == ["/keys"]
    assert validator.caller(f"Bearer {token}").kind == "delegated"
    assert requests == ["/keys"]  # the key set is cached

    refused(validator, mint(dataclasses.replace(key, kid="rotated-away"), subject_oid=USER))
    refused(validator, mint(key, subject_oid=USER, audience="api://other"))


def test_jwks_uri_unreachable(settings: AuthSettings, key: DevKey) -> None:
    unreachable = dataclasses.replace(settings, jwks_uri="http://127.0.0.1:9/keys", jwks_file=None)
    refused(TokenValidator(unreachable), mint(key, subject_oid=USER))


# --- dev tooling -----------------------------------------------------------------------------


def test_dev_key_is_stable(key: DevKey) -> None:
    again = ensure_dev_key(key.key_path.parent)
    assert again.kid == key.kid
    assert json.loads(key.jwks_path.read_text()) == key.jwks
    (jwk,) = key.jwks["keys"]
    assert {jwk["kty"], jwk["use"], jwk["alg"]} == {"RSA", "sig", "RS256"}
    assert "d" not in jwk


def test_mint_shapes(key: DevKey) -> None:
    delegated = jwt.decode(mint(key, subject_oid=USER), options={"verify_signature": False})
    assert delegated["scp"] == "Calendars.ReadWrite"
    assert delegated["ver"] == "2.0"
    assert delegated["idtyp"] == "user"
    assert {"aud", "iss", "iat", "nbf", "exp", "tid", "oid", "sub", "azp"} <= delegated.keys()
    assert delegated["oid"] == USER
    assert delegated["sub"] != delegated["oid"]  # Entra's pairwise subject
    assert "roles" not in delegated
    app = jwt.decode(
        mint(key, subject_oid=None, app_id=APP, roles=["Calendars.ReadWrite"]),
        options={"verify_signature": False},
    )
    assert app["roles"] == ["Calendars.ReadWrite"]
    assert app["idtyp"] == "app"
    assert app["azp"] == app["appid"] == APP
    assert app["sub"] == app["oid"] != APP  # the app's service principal, not its app id
    assert "scp" not in app
    assert jwt.get_unverified_header(mint(key, subject_oid=USER))["kid"] == key.kid


def test_unexpected_failure_fails_closed(
    validator: TokenValidator, key: DevKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug or library surprise")

    monkeypatch.setattr(jwt, "decode", broken)
    refused(validator, mint(key, subject_oid=USER))


# Tokens that passed are remembered ---------------------------------------------------------------


class CountingValidator(TokenValidator):
    """Counts the signature checks it makes; its clock is set by the test."""

    def __init__(self, settings: AuthSettings, now: float) -> None:
        self.now, self.checks = now, 0
        super().__init__(settings, clock=lambda: self.now)

    def _verified_claims(self, token: str) -> Mapping[str, Any]:
        self.checks += 1
        return super()._verified_claims(token)


def test_a_token_that_passed_is_not_checked_again_for_five_minutes(
    settings: AuthSettings, key: DevKey
) -> None:
    now = datetime.now(UTC).timestamp()
    validator = CountingValidator(settings, now)
    token = mint(key, subject_oid=USER, lifetime_seconds=3600)

    first = validator.caller(f"Bearer {token}")
    validator.now = now + 299
    assert validator.caller(f"Bearer {token}") == first
    assert validator.checks == 1
    validator.now = now + 301
    assert validator.caller(f"Bearer {token}") == first
    assert validator.checks == 2


def test_a_remembered_token_is_checked_again_once_it_expires(
    settings: AuthSettings, key: DevKey
) -> None:
    now = datetime.now(UTC).timestamp()
    validator = CountingValidator(settings, now)
    token = mint(key, subject_oid=USER, lifetime_seconds=120)
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]

    validator.caller(f"Bearer {token}")
    validator.now = expires + 59  # within PyJWT's leeway of 60 s: still the token it was
    validator.caller(f"Bearer {token}")
    assert validator.checks == 1
    validator.now = expires + 61
    validator.caller(f"Bearer {token}")  # checked again (real time has not moved: it passes)
    assert validator.checks == 2


def test_a_refused_token_is_never_remembered(settings: AuthSettings, other_key: DevKey) -> None:
    validator = CountingValidator(settings, datetime.now(UTC).timestamp())
    token = mint(other_key, subject_oid=USER)

    for _ in range(2):
        with pytest.raises(InvalidToken):
            validator.caller(f"Bearer {token}")
    assert validator.checks == 2


def test_only_the_newest_tokens_are_remembered(settings: AuthSettings, key: DevKey) -> None:
    validator = CountingValidator(settings, datetime.now(UTC).timestamp())
    validator.REMEMBERED = 2
    tokens = [mint(key, subject_oid=USER, lifetime_seconds=3600 + n) for n in range(3)]

    for token in (*tokens, tokens[0]):
        validator.caller(f"Bearer {token}")

    assert validator.checks == 4  # the first was pushed out by the third
