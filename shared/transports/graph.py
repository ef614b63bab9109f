"""The Graph transport: each message sent with `sendMail` as its organizer, in MIME form.

Graph's `POST /users/{id}/sendMail` takes a whole MIME message (base64, `Content-Type:
text/plain`), so the iCalendar part goes out exactly as built. The app token comes from
MSAL's confidential client (client credentials); the client, and so its token cache, lives as
long as the transport, which the composition root keeps across invocations.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import msal  # type: ignore[import-untyped]
import requests

from shared.messages.imip import Mail
from shared.use_cases.ports import Envelope, Outgoing, RecipientRefused, TransportError


@dataclass(frozen=True)
class GraphSettings:
    tenant_id: str
    client_id: str
    client_secret: str
    authority_host: str = "https://login.microsoftonline.com"
    base_url: str = "https://graph.microsoft.com/v1.0"
    timeout: float = 30.0

    @property
    def scope(self) -> str:
        """`<Graph's origin>/.default`: the app's granted permissions, on any national cloud."""
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}/.default"


class GraphTransport:
    def __init__(self, settings: GraphSettings, http: requests.Session | None = None) -> None:
        missing = [
            name
            for name, value in (
                ("GRAPH_TENANT_ID", settings.tenant_id),
                ("GRAPH_CLIENT_ID", settings.client_id),
                ("GRAPH_CLIENT_SECRET", settings.client_secret),
            )
            if not value
        ]
        if missing:
            raise ValueError(f"the graph transport needs {', '.join(missing)}")
        self.settings = settings
        self.http = http or requests.Session()
        self._client: Any = None

    def _confidential_client(self) -> Any:
        # Built on first use: MSAL reads the authority's OpenID configuration when created.
        if self._client is None:
            self._client = msal.ConfidentialClientApplication(
                self.settings.client_id,
                client_credential=self.settings.client_secret,
                authority=f"{self.settings.authority_host}/{self.settings.tenant_id}",
                instance_discovery=False,  # the authority is configured, not looked up
                http_client=self.http,
                timeout=self.settings.timeout,
            )
        return self._client

    def token(self) -> str:
        """An app token for Graph, from MSAL's cache while it is valid."""
        try:
            result = self._confidential_client().acquire_token_for_client([self.settings.scope])
        except (requests.RequestException, ValueError) as error:
            raise TransportError(f"graph token: {error}") from error
        if "access_token" not in result:
            error_code = result.get("error", "no token")
            raise TransportError(f"graph token: {error_code}: {result.get('error_description')}")
        return str(result["access_token"])

    @contextmanager
    def session(self) -> Iterator[Outgoing]:
        yield _GraphSession(self, self.token())


class _GraphSession:
    def __init__(self, transport: GraphTransport, token: str) -> None:
        self.transport, self.token = transport, token

    def send(self, mail: Mail, envelope: Envelope) -> None:
        settings = self.transport.settings
        url = f"{settings.base_url}/users/{quote(envelope.sender, safe='@')}/sendMail"
        try:
            response = self.transport.http.post(
                url,
                data=base64.b64encode(mail.data),
                headers={"Authorization": f"Bearer {self.token}", "Content-Type": "text/plain"},
                timeout=settings.timeout,
            )
        except requests.RequestException as error:
            raise TransportError(f"graph sendMail: {error}") from error
        if response.status_code == 202:
            return
        reason = f"graph sendMail {response.status_code}: {_graph_error(response)}"
        # Graph refuses a message it cannot route with 400 ErrorInvalidRecipients; a 4xx is about
        # this message, anything else (401, 429, 5xx) about the service.
        if 400 <= response.status_code < 500 and response.status_code not in (401, 403, 429):
            raise RecipientRefused(reason)
        raise TransportError(reason)


def _graph_error(response: requests.Response) -> str:
    try:
        error = response.json()["error"]
        return f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return response.text[:200]
