"""Real servers in the test process for the mail transports to talk to.

- `SmtpSink`: an aiosmtpd SMTP server that keeps what it accepts; it can require STARTTLS and a
  login, refuse chosen recipients, or hold a message unanswered (to kill a worker mid-send).
- `GraphStub`: Entra ID's OpenID configuration and token endpoint, and Graph's `sendMail`, over
  HTTPS with a certificate from `tests.certificates.CertificateAuthority`, so MSAL makes its
  real token request.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from devtools.azurite import free_port
from tests.certificates import CertificateAuthority


@dataclass(frozen=True)
class Received:
    sender: str
    recipients: tuple[str, ...]
    data: bytes
    tls: bool
    login: str | None
    peer: object = None
    """The client's address and port: one per connection."""

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class SmtpSink:
    """An SMTP server (aiosmtpd) on a free port that keeps every message it accepts."""

    def __init__(
        self,
        *,
        tls: ssl.SSLContext | None = None,
        login: tuple[str, str] | None = None,
        idle_timeout: float | None = None,
    ) -> None:
        self.port = free_port()
        self.refuse: dict[str, str] = {}
        """Lower-cased address -> the reply its RCPT TO gets, e.g. `451 4.3.0 Try later`."""
        self.hold_after: int | None = None
        """Once this many messages are accepted, the next DATA is never answered."""
        self.holding = threading.Event()
        self._received: list[Received] = []
        self._lock = threading.Lock()
        self._login = login
        kwargs: dict[str, Any] = {}
        if tls is not None:
            kwargs.update(tls_context=tls, require_starttls=True)
        if login is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True)
        if idle_timeout is not None:  # a client idle this long is hung up on (421)
            kwargs.update(timeout=idle_timeout)
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **kwargs)

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.controller.stop()

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def count(self, address: str) -> int:
        return sum(
            1
            for message in self.received
            for to in message.recipients
            if to.lower() == address.lower()
        )

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        good = isinstance(data, LoginPassword) and self._login == (
            data.login.decode(),
            data.password.decode(),
        )
        return AuthResult(success=good, handled=False, auth_data=data)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self.refuse.get(address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            hold = self.hold_after is not None and len(self._received) >= self.hold_after
        if hold:
            self.holding.set()
            await asyncio.Event().wait()  # never answered: the client dies waiting
        login = session.auth_data
        received = Received(
            sender=str(envelope.mail_from),
            recipients=tuple(envelope.rcpt_tos),
            data=bytes(envelope.original_content or b""),
            tls=session.ssl is not None,
            login=login.login.decode() if isinstance(login, LoginPassword) else None,
            peer=session.peer,
        )
        with self._lock:
            self._received.append(received)
        return "250 2.0.0 Accepted"


@dataclass(frozen=True)
class SentMail:
    organizer: str
    token: str
    mime: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.mime, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class GraphStub:
    """Entra ID and Graph's sendMail over HTTPS, as far as the graph transport uses them."""

    tenant = "7d3e1b2a-0000-4000-8000-00000000c0de"
    client_id = "5f0c2d1e-0000-4000-8000-0000000000a1"
    client_secret = "test-secret"

    def __init__(self, authority: CertificateAuthority) -> None:
        self.token_requests: list[dict[str, list[str]]] = []
        self.discovery_requests = 0
        self.sent: list[SentMail] = []
        self.issued: set[str] = set()
        self.replies: list[tuple[int, dict[str, Any]]] = []
        """Replies to give the next sendMail calls instead of 202, first one first."""
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.server.socket = authority.server_context().wrap_socket(
            self.server.socket, server_side=True
        )
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> GraphStub:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.server.shutdown()
        self.server.server_close()

    def openid_configuration(self) -> dict[str, Any]:
        base = f"{self.origin}/{self.tenant}"
        return {
            "issuer": f"{base}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
        }

    def token(self, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.token_requests.append(form)
            number = len(self.token_requests)
        credentials = (form.get("client_id"), form.get("client_secret"))
        if credentials != ([self.client_id], [self.client_secret]):
            return 401, {"error": "invalid_client", "error_description": "AADSTS7000215"}
        if form.get("grant_type") != ["client_credentials"]:
            return 400, {"error": "unsupported_grant_type"}
        token = f"app-token-{number}"
        with self._lock:
            self.issued.add(token)
        return 200, {"token_type": "Bearer", "expires_in": 3599, "access_token": token}

    def send_mail(self, organizer: str, headers: Any, body: bytes) -> tuple[int, dict[str, Any]]:
        token = str(headers.get("Authorization", "")).removeprefix("Bearer ")
        if token not in self.issued:
            return 401, {"error": {"code": "InvalidAuthenticationToken", "message": "bad token"}}
        if headers.get("Content-Type") != "text/plain":
            return 400, {"error": {"code": "ErrorMimeContentInvalid", "message": "not MIME"}}
        with self._lock:
            if self.replies:
                return self.replies.pop(0)
            self.sent.append(SentMail(organizer, token, base64.b64decode(body, validate=True)))
        return 202, {}


def _handler(stub: GraphStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode() if body else b""
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            if data:
                self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if urlsplit(self.path).path == f"/{stub.tenant}/v2.0/.well-known/openid-configuration":
                stub.discovery_requests += 1
                self._reply(200, stub.openid_configuration())
            else:
                self._reply(404, {"error": "not_found"})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = urlsplit(self.path).path
            if path == f"/{stub.tenant}/oauth2/v2.0/token":
                self._reply(*stub.token(parse_qs(body.decode())))
            elif path.startswith("/v1.0/users/") and path.endswith("/sendMail"):
                organizer = unquote(path.removeprefix("/v1.0/users/").removesuffix("/sendMail"))
                self._reply(*stub.send_mail(organizer, self.headers, body))
            else:
                self._reply(404, {"error": {"code": "NotFound", "message": path}})

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
