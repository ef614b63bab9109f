"""`StorageTransport`: storage calls sent over kept `http.client` connections.

Against Azurite through the SDK (tables, a transaction, the queue), and against a server in
the test process that answers as the test tells it: a connection closed while kept, one closed
as a request arrives, no answer, a short body, TLS from a CA of the test's own, a proxy."""

from __future__ import annotations

import socket
import ssl
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import (
    IncompleteReadError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.rest import HttpRequest
from azure.data.tables import TableServiceClient, TableTransactionError, UpdateMode

from devtools.azurite import Azurite
from shared.storage.http import StorageTransport, storage_options
from shared.storage.queue import queue_client
from tests.certificates import CertificateAuthority


class CountingTransport(StorageTransport):
    """Counts the connections it makes."""

    def __init__(self, connections: int = 4, **options: Any) -> None:
        super().__init__(connections, **options)
        self.made = 0

    def _connected(self, host: Any, timeout: float) -> Any:
        self.made += 1
        return super()._connected(host, timeout)


def test_tables_and_the_queue_through_the_sdk(azurite: Azurite) -> None:
    transport = CountingTransport()
    service = TableServiceClient.from_connection_string(
        azurite.connection_string, transport=transport
    )
    name = "http" + uuid.uuid4().hex[:12]
    table = service.create_table(name)
    text = "Canceled: réunion € 会议 " + "x" * 5000
    table.create_entity({"PartitionKey": "p", "RowKey": "a", "Text": text})

    assert table.get_entity("p", "a")["Text"] == text
    with pytest.raises(ResourceExistsError):
        table.create_entity({"PartitionKey": "p", "RowKey": "a"})
    with pytest.raises(ResourceNotFoundError):
        table.get_entity("p", "missing")
    table.upsert_entity({"PartitionKey": "p", "RowKey": "a", "Text": "ü"}, mode=UpdateMode.MERGE)
    table.submit_transaction(
        [
            ("create", {"PartitionKey": "p", "RowKey": "b"}),
            ("upsert", {"PartitionKey": "p", "RowKey": "a", "Text": "ended"}),
        ]
    )
    with pytest.raises(TableTransactionError):  # the batch's answer read part by part
        table.submit_transaction([("create", {"PartitionKey": "p", "RowKey": "b"})])
    rows = list(table.query_entities("PartitionKey eq 'p'", results_per_page=1))

    assert [(row["RowKey"], row.get("Text")) for row in rows] == [("a", "ended"), ("b", None)]
    assert transport.made == 1  # every call on the one kept connection

    with queue_client(azurite.connection_string, name, connections=2) as queue:
        queue.create_queue()
        queue.send_message("bonjour à tous")
        assert [m.content for m in queue.receive_messages()] == ["bonjour à tous"]


def test_the_clients_timeouts_are_the_transports() -> None:
    options = storage_options(8, connection_timeout=2, read_timeout=10, retry_total=1)
    transport = options.pop("transport")

    assert options == {"retry_total": 1}
    assert (transport.connections, transport.connection_timeout, transport.read_timeout) == (
        8,
        2.0,
        10.0,
    )
    queue = queue_client("UseDevelopmentStorage=true", "q", connections=3)
    given = getattr(queue._config, "transport", None)
    assert isinstance(given, StorageTransport)
    assert given.read_timeout == 10.0  # queue_client's own


# --- a server that answers as told -------------------------------------------------------------

Script = Callable[[Any, int], None]
"""Serves one accepted connection (and its number, from 0)."""


def request_of(connection: socket.socket) -> bytes:
    """One request's head and body (by its Content-Length); b"" when the client closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += connection.recv(65536)
    return head + b"\r\n\r\n" + body


def answer(connection: socket.socket, body: bytes = b"{}", status: str = "200 OK") -> None:
    connection.sendall(
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


@contextmanager
def scripted(script: Script, context: ssl.SSLContext | None = None) -> Iterator[list[bytes]]:
    """A server on a free port of 127.0.0.1 running `script` for each connection; yields the
    requests it read, the port kept as `scripted.port`."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        number = 0
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            if context is not None:
                try:
                    connection = context.wrap_socket(connection, server_side=True)
                except (ssl.SSLError, OSError):
                    connection.close()
                    continue

            def run(connection: socket.socket = connection, number: int = number) -> None:
                with connection:
                    script(_Recording(connection, seen), number)

            threading.Thread(target=run, daemon=True).start()
            number += 1

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    scripted.port = listener.getsockname()[1]  # type: ignore[attr-defined]
    try:
        yield seen
    finally:
        stop.set()
        listener.close()


class _Recording:
    """A server connection whose requests are kept in `seen`."""

    def __init__(self, connection: socket.socket, seen: list[bytes]) -> None:
        self.connection, self.seen = connection, seen

    def recv(self, size: int) -> bytes:
        return self.connection.recv(size)

    def sendall(self, data: bytes) -> None:
        self.connection.sendall(data)

    def close(self) -> None:
        self.connection.close()

    def shutdown(self, how: int) -> None:
        self.connection.shutdown(how)


def read(connection: Any) -> bytes:
    request = request_of(connection)
    if request:
        connection.seen.append(request)
    return request


def url(path: str = "/t()", scheme: str = "http") -> str:
    return f"{scheme}://127.0.0.1:{scripted.port}{path}"  # type: ignore[attr-defined]


def test_a_connection_the_server_closed_while_kept_is_not_used_again() -> None:
    closed = threading.Semaphore(0)

    def once_then_close(connection: Any, number: int) -> None:
        read(connection)
        answer(connection, b'{"n": %d}' % number)
        connection.shutdown(socket.SHUT_RDWR)  # kept by the client, closed by the server
        closed.release()

    transport = CountingTransport()
    with scripted(once_then_close) as seen:
        for method in ("GET", "POST", "GET"):
            response = transport.send(HttpRequest(method, url(), content=b"{}"))
            assert response.status_code == 200
            assert closed.acquire(timeout=5)  # closed before the next call, not as it goes

    assert transport.made == 3
    assert [request.split(b" ")[0] for request in seen] == [b"GET", b"POST", b"GET"]


def closed_on_the_second_request(connection: Any, number: int) -> None:
    """The first connection answers once, then reads the next request and closes without a
    word (a server's idle timeout meeting the request); later connections answer."""
    read(connection)
    answer(connection, b'{"connection": %d}' % number)
    if number == 0:
        read(connection)
        return
    while read(connection):
        answer(connection, b'{"connection": %d}' % number)


def test_an_idempotent_call_is_sent_again_on_a_new_connection_when_the_kept_one_closes() -> None:
    transport = CountingTransport()
    with scripted(closed_on_the_second_request) as seen:
        transport.send(HttpRequest("GET", url()))
        response = transport.send(HttpRequest("PUT", url(), content=b'{"a": 1}'))

    assert response.json() == {"connection": 1}
    assert transport.made == 2
    assert [request.split(b" ")[0] for request in seen] == [b"GET", b"PUT", b"PUT"]


def test_a_post_is_not_sent_twice_by_the_transport() -> None:
    transport = CountingTransport()
    with scripted(closed_on_the_second_request) as seen:
        transport.send(HttpRequest("GET", url()))
        with pytest.raises(ServiceResponseError):
            transport.send(HttpRequest("POST", url(), content=b'{"a": 1}'))
        after = transport.send(HttpRequest("GET", url()))

    assert [request.split(b" ")[0] for request in seen] == [b"GET", b"POST", b"GET"]
    assert after.json() == {"connection": 1}


def test_errors_are_the_ones_the_retry_policy_knows() -> None:
    free = socket.create_server(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    with pytest.raises(ServiceRequestError):
        StorageTransport(1, connection_timeout=1).send(
            HttpRequest("GET", f"http://127.0.0.1:{port}/t()")
        )

    def silent(connection: Any, number: int) -> None:
        read(connection)
        threading.Event().wait(2)

    with scripted(silent), pytest.raises(ServiceResponseTimeoutError):
        StorageTransport(1, read_timeout=0.3).send(HttpRequest("GET", url()))

    def short(connection: Any, number: int) -> None:
        read(connection)
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")

    with scripted(short), pytest.raises(IncompleteReadError):
        StorageTransport(1).send(HttpRequest("GET", url()))


def test_the_body_and_headers_go_as_the_sdk_made_them() -> None:
    def echo(connection: Any, number: int) -> None:
        while request := read(connection):
            answer(connection, request.partition(b"\r\n\r\n")[2] or b"{}", "201 Created")

    with scripted(echo) as seen:
        response = StorageTransport(1).send(
            HttpRequest("POST", url("/t?$format=json"), json={"Subject": "réunion"})
        )

    assert response.status_code == 201
    assert response.json() == {"Subject": "réunion"}
    head = seen[0].partition(b"\r\n\r\n")[0].decode()
    assert head.startswith("POST /t?$format=json HTTP/1.1")
    assert "Content-Type: application/json" in head


def ok(connection: Any, number: int) -> None:
    while read(connection):
        answer(connection)


@pytest.mark.parametrize("trust", ["call", "environment"])
def test_tls_is_verified_against_the_trust_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trust: str
) -> None:
    authority = CertificateAuthority(tmp_path / "ca")
    stranger = CertificateAuthority(tmp_path / "other")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(stranger.ca_file))
    with scripted(ok, authority.server_context()):
        request = HttpRequest("GET", url(scheme="https"))
        with pytest.raises(ServiceRequestError):  # the environment's CA is not the server's
            StorageTransport(1).send(request)
        assert StorageTransport(1).send(request, connection_verify=False).status_code == 200
        if trust == "call":
            verified = StorageTransport(1).send(request, connection_verify=str(authority.ca_file))
        else:
            monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(authority.ca_file))
            verified = StorageTransport(1).send(request)
        assert verified.status_code == 200


class Fallback(StorageTransport):
    """Records what it is given instead of sending it."""

    def __init__(self) -> None:
        super().__init__(1)
        self.given: list[tuple[str, dict[str, Any]]] = []

    def send(self, request: Any, **kwargs: Any) -> Any:
        self.given.append((request.url, kwargs))
        return "through requests"


def test_a_host_behind_the_environments_proxy_goes_through_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.contoso.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    fallback = Fallback()
    transport = StorageTransport(1, read_timeout=7, fallback=lambda: fallback)
    far = "https://contoso.table.core.windows.net/Calendar()"

    assert transport.send(HttpRequest("GET", far)) == "through requests"
    assert fallback.given == [(far, {"connection_timeout": 300.0, "read_timeout": 7})]
    with scripted(ok):  # a host the proxy settings leave out is reached directly
        assert transport.send(HttpRequest("GET", url())).status_code == 200
    assert len(fallback.given) == 1
