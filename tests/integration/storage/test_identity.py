"""Storage by identity against Azurite with OAuth over HTTPS: a real bearer token on the wire.

This Azurite serves HTTPS with a certificate from a test CA and runs `--oauth basic`: it takes
a bearer token whose issuer looks like Entra ID's (`https://sts.windows.net/…`), whose audience
is storage's (`https://storage.azure.com`) and whose lifetime holds; it does not check the
signature (Azurite's README, "OAuth Configuration", and its `TableTokenAuthenticator`). The
clients here are given no account key, so every request that succeeds went with the token.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import azure.functions as func
import jwt
import pytest
import requests
from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from devtools.azurite import Azurite
from devtools.host import DevHost
from devtools.load import DEMO_TENANT, build
from shared.calendar.model import AnyCalendar, Caller, Me, NotificationPointer
from shared.runtime import services as composition
from shared.runtime import settings as app_settings
from shared.runtime import storage_connection as connections
from shared.runtime.settings import Settings
from shared.runtime.storage_connection import StorageConnection
from shared.storage.queue import StorageQueue, decode, queue_client
from shared.storage.tables import TableCalendars, TableDirectory, upsert_rows
from shared.use_cases.cancellation import CancelEvent, cancel_event
from tests.certificates import CertificateAuthority

ADELE = "6e7b768e-07e2-4810-8459-485f84f8f204"
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
STORAGE_AUDIENCE = "https://storage.azure.com"
TENANT = "00000000-0000-4000-8000-00000000dec0"


def mint(
    audience: str = STORAGE_AUDIENCE,
    issuer: str = f"https://sts.windows.net/{TENANT}/",
    lifetime: int = 3600,
) -> str:
    """A token shaped like Entra ID's for storage; signed with a key nobody checks."""
    now = int(time.time())
    claims = {
        "aud": audience,
        "iss": issuer,
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + lifetime,
        "oid": str(uuid.uuid4()),
        "tid": TENANT,
    }
    return jwt.encode(claims, "azurite checks no signature in basic mode", algorithm="HS256")


@dataclass
class StaticToken:
    """A TokenCredential: what the SDK asks for, and the token it is given."""

    token: str = field(default_factory=mint)
    scopes: list[tuple[str, ...]] = field(default_factory=list)

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        claims = jwt.decode(self.token, options={"verify_signature": False})
        return AccessToken(self.token, int(claims["exp"]))


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority(tmp_path_factory.mktemp("storage-ca"))


@pytest.fixture(scope="module")
def oauth_azurite(authority: CertificateAuthority) -> Iterator[Azurite]:
    """Azurite over HTTPS (a certificate for 127.0.0.1 from the test CA) with OAuth on."""
    cert, key = server_certificate(authority)
    with Azurite(cert=cert, key=key, oauth=True) as emulator:
        yield emulator


def server_certificate(authority: CertificateAuthority) -> tuple[Path, Path]:
    """The CA's server certificate and key as the two PEM files Azurite reads."""
    before = set(authority.folder.glob("server-*.pem"))
    authority.server_context()
    (chain,) = set(authority.folder.glob("server-*.pem")) - before
    text = chain.read_text()
    found = re.search(r"-----BEGIN PRIVATE KEY-----.+?-----END PRIVATE KEY-----\n", text, re.S)
    assert found is not None
    cert, key = authority.folder / "azurite-cert.pem", authority.folder / "azurite-key.pem"
    key.write_text(found[0])
    cert.write_text(text.replace(found[0], ""))
    return cert, key


@pytest.fixture(autouse=True)
def fresh_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no credential made yet (they are shared per process)."""
    monkeypatch.setattr(connections, "_credentials", {})


def identity_env(azurite: Azurite, **more: str) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:10]
    return {
        "AzureWebJobsStorage__tableServiceUri": azurite.service_uri("table"),
        "AzureWebJobsStorage__queueServiceUri": azurite.service_uri("queue"),
        "AzureWebJobsStorage__blobServiceUri": azurite.service_uri("blob"),
        "CALENDAR_TABLE": f"calendar{suffix}",
        "DIRECTORY_TABLE": f"directory{suffix}",
        "NOTIFICATION_QUEUE": f"cancellations-{suffix}",
        **more,
    }


@dataclass
class Trusting:
    """The connection's clients, verifying TLS against the test CA (per client: the process's
    REQUESTS_CA_BUNDLE stays as it is and does not override it)."""

    connection: StorageConnection
    ca_file: Path

    def table_service(self) -> TableServiceClient:
        return self.connection.table_service(connection_verify=str(self.ca_file))

    def queue(self, queue_name: str, **options: Any) -> QueueClient:
        return self.connection.queue(queue_name, connection_verify=str(self.ca_file), **options)


def load_demo_tenant(tables: TableServiceClient, settings: Settings) -> str:
    """The demo tenant's rows, written with the token too; the id of Adele's planning meeting."""
    loaded, directory_rows, calendar_rows = build(json.loads(DEMO_TENANT.read_text()))
    for name, rows in (
        (settings.directory_table, directory_rows),
        (settings.calendar_table, calendar_rows),
    ):
        upsert_rows(tables.create_table(name), rows)
    mailbox, event_id = loaded.events["planning"]
    assert mailbox == ADELE
    return event_id


def cancel(
    directory: TableDirectory, calendars: TableCalendars, queue: StorageQueue, event_id: str
) -> None:
    """One cancel: the point read of the event, its transaction, the queue put."""
    cancel_event(
        CancelEvent(Me(), AnyCalendar(), event_id, "Moved to January"),
        Caller("delegated", ADELE, TENANT, frozenset({"Calendars.ReadWrite"})),
        directory=directory,
        calendars=calendars,
        queue=queue,
        now=lambda: NOW,
    )


def queued_pointers(client: QueueClient) -> list[NotificationPointer | None]:
    return [decode(base64.b64decode(m.content).decode()) for m in client.peek_messages(32)]


def test_a_point_read_a_transaction_and_a_queue_put_go_with_a_bearer_token(
    oauth_azurite: Azurite, authority: CertificateAuthority, monkeypatch: pytest.MonkeyPatch
) -> None:
    credential = StaticToken()
    made: list[connections.Identity] = []

    def make(identity: connections.Identity) -> StaticToken:
        made.append(identity)
        return credential

    monkeypatch.setattr(connections, "make_credential", make)
    settings = Settings.from_env(identity_env(oauth_azurite))
    assert settings.storage.connection_string is None
    assert settings.storage_connection == ""
    trusted = Trusting(settings.storage, authority.ca_file)

    with trusted.table_service() as tables:
        event_id = load_demo_tenant(tables, settings)
        calendar = tables.get_table_client(settings.calendar_table)
        calendars = TableCalendars(calendar)
        before = calendars.find_event(ADELE, event_id)  # a point read
        with queue_client(trusted, settings.notification_queue) as notifications:
            cancel(  # a point read, the transaction, the queue put
                TableDirectory(tables.get_table_client(settings.directory_table)),
                calendars,
                StorageQueue(notifications),
                event_id,
            )
        after = calendars.find_event(ADELE, event_id)
        event_row = calendar.get_entity(ADELE, f"event|{event_id}")
        outbox_row = calendar.get_entity(ADELE, f"outbox|{event_id}")

    assert before is not None
    assert not before.event.is_cancelled
    assert after is None  # the transaction moved it to Deleted Items, with its outbox row
    assert event_row["Folder"] == "deleteditems"
    assert outbox_row["Status"] == "pending"
    with trusted.queue(settings.notification_queue) as raw:
        assert queued_pointers(raw) == [NotificationPointer(ADELE, event_id)]
    # One credential, made once for the identity and shared by the table and queue clients,
    # asked for storage's scope; no account key anywhere.
    assert made == [connections.Identity()]
    assert set(credential.scopes) == {(f"{STORAGE_AUDIENCE}/.default",)}


@pytest.mark.parametrize(
    ("token", "refusal"),
    [
        (None, ("AuthorizationFailure", "AuthenticationFailed")),
        (mint(audience="https://vault.azure.net"), ("Invalid token audience.",) * 2),
        (mint(issuer="https://login.example.com/tenant/"), ("Invalid token issuer.",) * 2),
        (mint(lifetime=-120), ("The token is expired.",) * 2),
    ],
    ids=["no token", "another audience", "another issuer", "expired"],
)
def test_azurite_refuses_a_request_without_a_valid_token(
    oauth_azurite: Azurite,
    authority: CertificateAuthority,
    token: str | None,
    refusal: tuple[str, str],
) -> None:
    """OAuth is on: what is refused is the token (the same requests with a good one are served,
    below); a client with no account key and no token gets nothing."""
    name = f"refused{uuid.uuid4().hex[:8]}"
    table, queue = create_table_and_queue(oauth_azurite, authority, name, token)
    assert (table.status_code, queue.status_code) == (403, 403)
    assert refusal[0] in table.text
    assert refusal[1] in queue.text
    if token is not None:  # and through the SDK, as the app would meet it
        with (
            TableServiceClient(
                oauth_azurite.service_uri("table"),
                credential=StaticToken(token),
                connection_verify=str(authority.ca_file),
            ) as tables,
            pytest.raises(HttpResponseError) as refused,
        ):
            tables.create_table(name)
        assert refused.value.status_code == 403
        assert refusal[0] in str(refused.value)


def test_the_same_requests_with_a_valid_token_are_served(
    oauth_azurite: Azurite, authority: CertificateAuthority
) -> None:
    name = f"accepted{uuid.uuid4().hex[:8]}"
    table, queue = create_table_and_queue(oauth_azurite, authority, name, mint())
    assert (table.status_code, queue.status_code) == (201, 201), (table.text, queue.text)


def create_table_and_queue(
    azurite: Azurite, authority: CertificateAuthority, name: str, token: str | None
) -> tuple[requests.Response, requests.Response]:
    """Create Table and Create Queue, by hand: the Authorization header is the test's alone."""
    bearer = {} if token is None else {"Authorization": f"Bearer {token}"}
    with requests.Session() as session:
        session.trust_env = False  # REQUESTS_CA_BUNDLE would override `verify` otherwise
        session.verify = str(authority.ca_file)
        table = session.post(
            f"{azurite.service_uri('table')}/Tables",
            json={"TableName": name},
            headers={
                "x-ms-version": "2019-02-02",
                "Accept": "application/json;odata=nometadata",
                **bearer,
            },
            timeout=10,
        )
        queue = session.put(
            f"{azurite.service_uri('queue')}/{name}",
            headers={"x-ms-version": "2025-11-05", **bearer},
            timeout=10,
        )
    return table, queue


@dataclass
class IdentityEndpoint:
    """The managed identity endpoint App Service and Azure Functions give an app
    (`IDENTITY_ENDPOINT`, `IDENTITY_HEADER`), answering with a storage token."""

    header: str = field(default_factory=lambda: uuid.uuid4().hex)
    requests: list[tuple[dict[str, list[str]], Mapping[str, str]]] = field(default_factory=list)

    def serve(self) -> ThreadingHTTPServer:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                endpoint.requests.append((query, dict(self.headers)))
                if self.headers.get("X-IDENTITY-HEADER") != endpoint.header:
                    self.send_error(401)
                    return
                body = json.dumps(
                    {
                        "access_token": mint(audience=query["resource"][0]),
                        "expires_on": str(int(time.time()) + 3600),
                        "resource": query["resource"][0],
                        "token_type": "Bearer",
                        "client_id": query.get("client_id", [""])[0],
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture
def identity_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[IdentityEndpoint]:
    endpoint = IdentityEndpoint()
    server = endpoint.serve()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"http://127.0.0.1:{server.server_port}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", endpoint.header)
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def app_environment(
    monkeypatch: pytest.MonkeyPatch, authority: CertificateAuthority
) -> Iterator[Callable[[Mapping[str, str]], None]]:
    """The process's app settings for the composition root, whose clients trust the test CA
    through REQUESTS_CA_BUNDLE (no per-client option there); its caches cleared around."""
    caches: list[Any] = [
        app_settings.settings,
        app_settings.mail_settings,
        composition.services,
        composition.delivery_services,
    ]

    def apply(env: Mapping[str, str]) -> None:
        monkeypatch.delenv("AzureWebJobsStorage", raising=False)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(authority.ca_file))
        for name, value in env.items():
            monkeypatch.setenv(name, value)

    for cache in caches:
        cache.cache_clear()
    try:
        yield apply
    finally:
        for cache in caches:
            cache.cache_clear()


def test_the_http_path_and_the_worker_get_one_token_from_the_managed_identity(
    oauth_azurite: Azurite,
    identity_endpoint: IdentityEndpoint,
    app_environment: Callable[[Mapping[str, str]], None],
    tmp_path: Path,
) -> None:
    client_id = str(uuid.uuid4())
    env = identity_env(
        oauth_azurite,
        AzureWebJobsStorage__credential="managedidentity",
        AzureWebJobsStorage__clientId=client_id,
        MAIL_MAILDIR=str(tmp_path / "maildir"),
    )
    app_environment(env)
    config = app_settings.settings()
    with config.storage.table_service() as tables:
        event_id = load_demo_tenant(tables, config)

    http = composition.services()  # the HTTP functions' adapters, quick retry policy
    cancel(http.directory, http.calendars, http.queue, event_id)
    worker = composition.delivery_services()  # the mail worker's, the SDK's patient default
    entry = worker.outbox.find(NotificationPointer(ADELE, event_id))

    assert entry is not None
    assert entry.status == "pending"
    assert entry.notification.comment == "Moved to January"
    with config.storage.queue(config.notification_queue) as raw:
        assert queued_pointers(raw) == [NotificationPointer(ADELE, event_id)]
    # ManagedIdentityCredential(client_id=…) asked the identity endpoint once, as the
    # user-assigned identity, for storage; its token served every client of both paths.
    assert len(identity_endpoint.requests) == 1
    query, headers = identity_endpoint.requests[0]
    assert query["client_id"] == [client_id]
    assert query["resource"] == [STORAGE_AUDIENCE]
    assert headers["X-IDENTITY-HEADER"] == identity_endpoint.header
    assert type(config.storage.credential()).__name__ == "ManagedIdentityCredential"


def test_the_dev_host_queue_trigger_reads_an_identity_based_connection(
    oauth_azurite: Azurite,
    identity_endpoint: IdentityEndpoint,
    app_environment: Callable[[Mapping[str, str]], None],
) -> None:
    queue_name = f"devhost-{uuid.uuid4().hex[:12]}"
    seen: list[bytes] = []
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="%WORK_QUEUE%", connection="Storage")
    def worker(msg: func.QueueMessage) -> None:
        seen.append(msg.get_body())

    # `Storage` is read as AzureWebJobsStorage, here identity-based settings only.
    env = {
        "AzureWebJobsStorage__queueServiceUri": oauth_azurite.service_uri("queue"),
        "AzureWebJobsStorage__credential": "managedidentity",
        "WORK_QUEUE": queue_name,
    }
    app_environment({})  # REQUESTS_CA_BUNDLE: the host's clients are made without options
    connection = connections.storage_connection(env, "Storage")
    with connection.queue(queue_name, message_encode_policy=TextBase64EncodePolicy()) as sender:
        sender.create_queue()
        sender.send_message("by identity")
        with DevHost(app, {}, env, port=0):
            deadline = time.monotonic() + 15
            while not seen or list(sender.peek_messages()):
                assert time.monotonic() < deadline, "the message was not processed in time"
                time.sleep(0.1)
    assert seen == [b"by identity"]
    # The test's sender and the host's poller share the identity's one credential and token.
    ((query, _),) = identity_endpoint.requests
    assert "client_id" not in query  # no __clientId: the system-assigned identity
