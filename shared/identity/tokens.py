"""Bearer token validation: who is calling (DESIGN.md section 6).

Signature and standard claims are checked by PyJWT; this module only picks the key, enforces
the tenant and turns Entra's claims into a `Caller`. Every refusal is `MissingToken` or
`InvalidToken`; which permission the caller needs is the core's decision, not this module's.

Application or delegated is decided as Microsoft tells an API to, never by `scp` alone: a user's
token may carry `roles` too (app roles assigned to that user), and taken for an app-only token
it would reach every mailbox.

- `idtyp`, when present, decides: "The value is `app` when the token is an app-only token. This
  claim is the most accurate way for an API to determine if a token is an app token or an
  app+user token." (and `include_user_token` "Emits the `idtyp` claim for users token."):
  https://learn.microsoft.com/entra/identity-platform/optional-claims-reference
  `app` must come with `roles` and without `scp`, `user` with `scp`; any other value, or a
  contradiction, is refused.
- Without `idtyp`, a non-empty `scp` is delegated (`scp`: "Only included for user tokens."):
  https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference
  Without `scp`, the token is app-only only when it has `roles` and `oid` == `sub`: "If you want
  only daemon apps to call your web API, add the condition that the token is an app-only token
  when you validate the app role.", followed by
  `bool isAppOnly = oid != null && sub != null && oid == sub;`:
  https://learn.microsoft.com/entra/identity-platform/scenario-protected-web-api-verification-scope-app-roles
  A user's `sub` is pairwise per application, never its `oid`.

A delegated caller's permissions are its scopes; the `roles` it may also carry are ignored.
An application caller's object id is its service principal's `oid`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jwt
from jwt.types import Options

from shared.calendar.errors import InvalidToken, MissingToken
from shared.calendar.model import Caller
from shared.identity.settings import AuthSettings

_log = logging.getLogger(__name__)

# Only RS256: an allow-list of one asymmetric algorithm is what refuses `alg: none` and
# HS256 tokens "signed" with the public key.
_ALGORITHMS = ["RS256"]
_OPTIONS: Options = {
    "require": ["exp", "iss", "aud"],
    "verify_signature": True,
    "enforce_minimum_key_length": True,
}


class TokenValidator:
    """Validates Entra-style access tokens against one JWKS (URI, else file).

    Keys are loaded on the first token, never at construction, so importing and wiring the
    app does no I/O. The JWKS client and the key file are created or read once and reused.

    A token that passed is remembered (the newest `REMEMBERED`) until it expires, for at most
    `REMEMBER_SECONDS`, the JWK set's own lifespan: a client sends the same token for an hour,
    and checking its signature again is most of what authentication costs a request.
    """

    REMEMBERED = 1024
    REMEMBER_SECONDS = 300.0

    def __init__(
        self,
        settings: AuthSettings,
        *,
        leeway_seconds: float = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._leeway = leeway_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._client: jwt.PyJWKClient | None = None
        self._file_keys: jwt.PyJWKSet | None = None
        self._passed: OrderedDict[str, tuple[float, Caller]] = OrderedDict()

    def challenge(self) -> str:
        """The `WWW-Authenticate` of a 401, as Graph words it: where to get a token, for whom."""
        settings = self._settings
        authorize = f"{settings.authority}/{settings.tenant_id or 'common'}/oauth2/authorize"
        return f'Bearer realm="", authorization_uri="{authorize}", client_id="{settings.client_id}"'

    def caller(self, authorization: str | None) -> Caller:
        token, now = _bearer_token(authorization), self._clock()
        with self._lock:
            passed = self._passed.get(token)
            if passed is not None and now < passed[0]:
                self._passed.move_to_end(token)
                return passed[1]
        claims = self._verified_claims(token)
        caller = _caller_from(claims, self._settings.tenant_id)
        expires = claims["exp"] + self._leeway  # PyJWT's own limit for `exp`
        with self._lock:
            self._passed[token] = (min(expires, now + self.REMEMBER_SECONDS), caller)
            while len(self._passed) > self.REMEMBERED:
                self._passed.popitem(last=False)
        return caller

    def _verified_claims(self, token: str) -> Mapping[str, Any]:
        try:
            return jwt.decode(
                token,
                key=self._signing_key(token),
                algorithms=_ALGORITHMS,
                options=_OPTIONS,
                audience=self._settings.audiences,
                issuer=self._settings.issuers,
                leeway=self._leeway,
            )
        except InvalidToken:
            raise
        except jwt.PyJWTError as error:
            _log.debug("bearer token refused: %s", error)
            raise InvalidToken() from None
        except Exception:
            # Fail closed: whatever a hostile token provokes is a 401, never a 500.
            _log.exception("unexpected error while validating a bearer token")
            raise InvalidToken() from None

    def _signing_key(self, token: str) -> jwt.PyJWK:
        kid = jwt.get_unverified_header(token).get("kid")
        if self._settings.jwks_uri:
            client = self._jwks_client(self._settings.jwks_uri)
            if kid is None:
                return _only_key(client.get_signing_keys())
            return client.get_signing_key(kid)
        if self._settings.jwks_file:
            keys = self._key_file(self._settings.jwks_file)
            if kid is None:
                return _only_key(keys.keys)
            try:
                return keys[kid]
            except KeyError:
                raise InvalidToken() from None
        _log.warning("no JWKS configured (AUTH_JWKS_URI or AUTH_JWKS_FILE): refusing all tokens")
        raise InvalidToken()

    def _jwks_client(self, uri: str) -> jwt.PyJWKClient:
        with self._lock:
            if self._client is None:
                # Only the JWK set is cached (with a lifespan): PyJWKClient's per-kid cache
                # never expires, which would keep trusting keys Entra has rotated out.
                self._client = jwt.PyJWKClient(uri, cache_jwk_set=True, lifespan=300, timeout=10)
            return self._client

    def _key_file(self, path: str) -> jwt.PyJWKSet:
        with self._lock:
            if self._file_keys is None:
                try:
                    self._file_keys = jwt.PyJWKSet.from_json(Path(path).read_text("utf-8"))
                except Exception:
                    # Not cached, so a fixed file is picked up without a restart.
                    _log.exception("cannot load JWKS file %s", path)
                    raise InvalidToken() from None
            return self._file_keys


def _bearer_token(authorization: str | None) -> str:
    parts = (authorization or "").split(None, 1)
    if not parts:
        raise MissingToken()
    if parts[0].lower() != "bearer":
        raise InvalidToken()
    token = parts[1].strip() if len(parts) > 1 else ""
    if not token:
        raise MissingToken()
    # A JWS compact token is base64url and dots; anything else cannot be one (and a lone
    # surrogate would otherwise fail inside PyJWT's UTF-8 encoding).
    if not token.isascii():
        raise InvalidToken()
    return token


def _only_key(keys: list[jwt.PyJWK]) -> jwt.PyJWK:
    # A token without `kid` is only unambiguous when there is a single key to try.
    if len(keys) != 1:
        raise InvalidToken()
    return keys[0]


def _caller_from(claims: Mapping[str, Any], tenant_id: str | None) -> Caller:
    tid = claims.get("tid")
    if not isinstance(tid, str) or not tid:
        raise InvalidToken()
    if tenant_id is not None and tid.lower() != tenant_id.lower():
        raise InvalidToken()

    scp = claims.get("scp")
    if scp is not None and not isinstance(scp, str):
        raise InvalidToken()
    scopes = scp.split() if scp else []

    # Presence, not truthiness: an `idtyp` of null or "" is an unknown type, not a missing one,
    # and an app-only token carries no `scp` at all (not even an empty one).
    if "idtyp" in claims:
        idtyp = claims["idtyp"]
        if idtyp == "user" and scopes:
            return _delegated(claims, tid, scopes)
        if idtyp == "app" and "scp" not in claims:
            return _application(claims, tid)
        raise InvalidToken()

    if scopes:
        return _delegated(claims, tid, scopes)
    if "roles" in claims and _string_claim(claims, "oid") == _string_claim(claims, "sub"):
        return _application(claims, tid)
    raise InvalidToken()


def _delegated(claims: Mapping[str, Any], tid: str, scopes: list[str]) -> Caller:
    return Caller(
        kind="delegated",
        object_id=_string_claim(claims, "oid").lower(),
        tenant_id=tid.lower(),
        permissions=frozenset(scopes),
    )


def _application(claims: Mapping[str, Any], tid: str) -> Caller:
    roles = claims.get("roles")
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise InvalidToken()
    return Caller(
        kind="application",
        object_id=_string_claim(claims, "oid").lower(),
        tenant_id=tid.lower(),
        permissions=frozenset(roles),
    )


def _string_claim(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidToken()
    return value
