"""Storage calls over `http.client`: the transport every storage client of the app is given.

azure-core's default transport sends each call through requests and urllib3: against Azurite,
a Tables call took 5.4 ms, 3.5 ms of it Python, where the same request sent over a kept
`http.client` connection took 1.3 ms (0.4 ms of Python). `StorageTransport` is an azure-core
`HttpTransport` (the SDK's documented `transport=` option) that sends a call on a kept
connection of its own, so the SDK's pipeline (signing, retries, errors, parsing) is unchanged
and only the sending is cheaper: 2.2-3.3 ms a call, half the Python.

It sends what storage clients send: `azure.core.rest` requests with a body in memory, answered
with a body read whole. A call it is not for goes through requests as before
(`pooled_session`): a host the environment's proxy settings send through a proxy, a client
certificate, a streamed body, a request of azure-core's older kind.

- Connections are kept per host (scheme, host, port, trust), at most `connections` idle; one
  the server has closed meanwhile is found closed before it is used again and dropped.
- Trust as requests has it: a call's `connection_verify` (True by default; a client's own
  option goes only to azure-core's default transport) True is the CA bundle
  `REQUESTS_CA_BUNDLE` or `CURL_CA_BUNDLE` names, else certifi's; a path is a CA file (or
  directory); False verifies nothing.
- Errors as azure-core's requests transport maps them, so the retry policy treats them alike:
  a connection that could not be made is a `ServiceRequestError` (its timeout
  `ServiceRequestTimeoutError`), one that failed after the request went a
  `ServiceResponseError` (`ServiceResponseTimeoutError`, `IncompleteReadError` for a short
  body). A kept connection the server closed as the request went (it sent nothing back) is
  tried once more on a new one when the method is idempotent (GET, HEAD, PUT, DELETE,
  OPTIONS); a POST or PATCH is not sent twice by the transport.
"""

from __future__ import annotations

import http.client
import os
import select
import ssl
import threading
import weakref
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from azure.core.exceptions import (
    IncompleteReadError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest as RestHttpRequest
from azure.core.rest._http_response_impl import RestHttpClientTransportResponse
from requests import Session
from requests.adapters import HTTPAdapter
from requests.sessions import merge_setting
from requests.utils import get_environ_proxies
from urllib3.util.retry import Retry

DEFAULT_TIMEOUT = 300.0
"""azure-core's own default for connecting and for reading, in seconds."""

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})

AnyTransport = HttpTransport[Any, Any]

_Host = tuple[str, str, int, str]
"""scheme, host, port, and the trust its TLS is verified with ("" for plain HTTP)."""


class _Closed(Exception):
    """A kept connection the server had closed: nothing came back."""


class StorageTransport(HttpTransport):  # type: ignore[type-arg]
    """One storage client's transport: kept connections, at most `connections` idle per host;
    the timeouts are the client's (`storage_options`), a call's own passed with it win."""

    def __init__(
        self,
        connections: int,
        *,
        connection_timeout: float = DEFAULT_TIMEOUT,
        read_timeout: float = DEFAULT_TIMEOUT,
        fallback: Callable[[], AnyTransport] | None = None,
    ) -> None:
        self.connections = max(1, connections)
        self.connection_timeout = connection_timeout
        self.read_timeout = read_timeout
        self._make_fallback = fallback or (lambda: _requests_transport(self.connections))
        self._fallback: AnyTransport | None = None
        self._idle: dict[_Host, list[http.client.HTTPConnection]] = {}
        self._proxied: dict[str, bool] = {}
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()
        # A client dropped without being closed closes its connections when collected, as
        # urllib3's pools do.
        weakref.finalize(self, _close_idle, self._idle)

    def __enter__(self) -> StorageTransport:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()

    def open(self) -> None:
        pass

    def close(self) -> None:
        with self._lock:
            _close_idle(self._idle)
            fallback, self._fallback = self._fallback, None
        if fallback is not None:
            fallback.close()

    def send(self, request: Any, **kwargs: Any) -> Any:
        parts = urlsplit(request.url)
        body = request.content if isinstance(request, RestHttpRequest) else None
        if (
            not isinstance(request, RestHttpRequest)
            or not (body is None or isinstance(body, (bytes, str)))
            or kwargs.get("connection_cert") is not None
            or kwargs.get("proxies")
            or parts.scheme not in ("http", "https")
            or self._through_proxy(parts.scheme, parts.netloc, request.url)
        ):
            return self._through_requests(request, **kwargs)
        connect = kwargs.pop("connection_timeout", self.connection_timeout)
        read = kwargs.pop("read_timeout", self.read_timeout)
        verify = kwargs.pop("connection_verify", True)
        host = self._host(parts.scheme, parts.hostname or "", parts.port, verify)
        target = parts.path or "/"
        if parts.query:
            target = f"{target}?{parts.query}"
        if isinstance(body, str):
            body = body.encode("utf-8")
        headers = dict(request.headers)
        try:
            response, content = self._exchange(
                host, request.method, target, body, headers, connect, read
            )
        except _Closed as closed:
            if request.method not in IDEMPOTENT:
                raise ServiceResponseError(closed.__cause__ or closed, error=closed) from closed
            response, content = self._exchange(
                host, request.method, target, body, headers, connect, read, fresh=True
            )
        answer = RestHttpClientTransportResponse(  # type: ignore[no-untyped-call]
            request=request, internal_response=response
        )
        answer._content = content  # read whole: the connection is free for the next call
        return answer

    def _exchange(
        self,
        host: _Host,
        method: str,
        target: str,
        body: bytes | None,
        headers: dict[str, str],
        connect: float,
        read: float,
        fresh: bool = False,
    ) -> tuple[http.client.HTTPResponse, bytes]:
        connection = None if fresh else self._kept(host)
        kept = connection is not None
        if connection is None:
            connection = self._connected(host, connect)
        connection.timeout = read
        if connection.sock is not None:
            connection.sock.settimeout(read)
        answered = False
        try:
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            answered = True
            content = response.read()
        except Exception as error:
            connection.close()
            if kept and not answered and isinstance(error, _CLOSED_BY_PEER):
                raise _Closed() from error
            raise _response_error(error) from error
        except BaseException:
            connection.close()
            raise
        if response.will_close:
            connection.close()
        else:
            self._keep(host, connection)
        return response, content

    def _connected(self, host: _Host, timeout: float) -> http.client.HTTPConnection:
        scheme, name, port, trust = host
        connection: http.client.HTTPConnection
        if scheme == "https":
            context = self._context(trust)
            connection = http.client.HTTPSConnection(name, port, timeout=timeout, context=context)
        else:
            connection = http.client.HTTPConnection(name, port, timeout=timeout)
        try:
            connection.connect()
        except TimeoutError as error:
            connection.close()
            raise ServiceRequestTimeoutError(error, error=error) from error
        except OSError as error:
            connection.close()
            raise ServiceRequestError(error, error=error) from error
        return connection

    def _kept(self, host: _Host) -> http.client.HTTPConnection | None:
        while True:
            with self._lock:
                kept = self._idle.get(host)
                connection = kept.pop() if kept else None
            if connection is None:
                return None
            if _open(connection):
                return connection
            connection.close()

    def _keep(self, host: _Host, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            kept = self._idle.setdefault(host, [])
            if len(kept) < self.connections:
                kept.append(connection)
                return
        connection.close()

    def _host(self, scheme: str, name: str, port: int | None, verify: object) -> _Host:
        if scheme == "http":
            return scheme, name, port or 80, ""
        if verify is False:
            trust = "-"
        elif isinstance(verify, str):
            trust = verify
        else:
            trust = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or ""
        return scheme, name, port or 443, trust

    def _context(self, trust: str) -> ssl.SSLContext:
        with self._lock:
            context = self._contexts.get(trust)
        if context is not None:
            return context
        if trust == "-":
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            where = trust or _certifi()
            if os.path.isdir(where):
                context = ssl.create_default_context(capath=where)
            else:
                context = ssl.create_default_context(cafile=where)
        with self._lock:
            return self._contexts.setdefault(trust, context)

    def _through_proxy(self, scheme: str, netloc: str, url: str) -> bool:
        """Whether the environment's proxy settings send this host's calls through a proxy
        (asked once per host: a worker's environment does not change)."""
        key = f"{scheme}://{netloc}"
        found = self._proxied.get(key)
        if found is None:
            proxies = get_environ_proxies(url)
            found = self._proxied[key] = bool(proxies.get(scheme) or proxies.get("all"))
        return found

    def _through_requests(self, request: Any, **kwargs: Any) -> Any:
        with self._lock:
            if self._fallback is None:
                self._fallback = self._make_fallback()
            fallback = self._fallback
        kwargs.setdefault("connection_timeout", self.connection_timeout)
        kwargs.setdefault("read_timeout", self.read_timeout)
        return fallback.send(request, **kwargs)


_CLOSED_BY_PEER = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


def _close_idle(idle: dict[_Host, list[http.client.HTTPConnection]]) -> None:
    for kept in list(idle.values()):
        for connection in kept:
            connection.close()
    idle.clear()


def _response_error(error: Exception) -> Exception:
    if isinstance(error, http.client.IncompleteRead):
        return IncompleteReadError(error, error=error)
    if isinstance(error, TimeoutError):
        return ServiceResponseTimeoutError(error, error=error)
    if isinstance(error, (OSError, http.client.HTTPException)):
        return ServiceResponseError(error, error=error)
    return error


def _open(connection: http.client.HTTPConnection) -> bool:
    """A kept connection still open: nothing to read on it (a server that closed it has sent
    its end, which reads as ready)."""
    sock = connection.sock
    if sock is None:
        return False
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return not poller.poll(0)
        readable, _, _ = select.select([sock], [], [], 0)
        return not readable
    except (OSError, ValueError):
        return False


def _certifi() -> str:
    import certifi

    return str(certifi.where())


class StorageSession(Session):
    """A requests session that reads the environment's proxy settings once per host.

    requests asks the environment for every request (`get_environ_proxies`: each proxy
    variable, and `no_proxy` matched against the host), which cost 0.7 ms of a storage call's
    3.4 ms of Python time; the environment of a worker process does not change, so the answer
    for a host is kept. Everything else is requests' own `merge_environment_settings`."""

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple[str, str | None], dict[str, str]] = {}

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        if not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        no_proxy = proxies.get("no_proxy") if proxies is not None else None
        parts = urlsplit(url)
        host = (f"{parts.scheme}://{parts.netloc}", no_proxy)
        found = self._environment.get(host)
        if found is None:
            found = self._environment[host] = dict(get_environ_proxies(url, no_proxy=no_proxy))
        if proxies is not None:
            for key, value in found.items():
                proxies.setdefault(key, value)
        if verify is True or verify is None:
            verify = (
                os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or verify
            )
        return {
            "proxies": merge_setting(proxies, self.proxies),
            "stream": merge_setting(stream, self.stream),
            "verify": merge_setting(verify, self.verify),
            "cert": merge_setting(cert, self.cert),
        }


def pooled_session(connections: int) -> Session:
    """A requests session for one storage client, as azure-core makes its own (no retries of
    its own: the SDK's retry policy retries) but keeping up to `connections` per host, and
    reading the environment's proxies once per host (`StorageSession`)."""
    session = StorageSession()
    adapter = HTTPAdapter(
        pool_maxsize=connections,
        max_retries=Retry(total=False, redirect=False, raise_on_status=False),
    )
    for prefix in ("http://", "https://"):
        session.mount(prefix, adapter)
    return session


def _requests_transport(connections: int) -> AnyTransport:
    from azure.core.pipeline.transport import RequestsTransport

    transport: AnyTransport = RequestsTransport(
        session=pooled_session(connections), session_owner=True
    )
    return transport


def storage_options(connections: int, **options: Any) -> dict[str, Any]:
    """A storage client's options with `StorageTransport` sending its calls: the timeouts among
    `options` (`connection_timeout`, `read_timeout`) are the transport's."""
    rest = dict(options)
    transport = StorageTransport(
        connections,
        connection_timeout=float(rest.pop("connection_timeout", DEFAULT_TIMEOUT)),
        read_timeout=float(rest.pop("read_timeout", DEFAULT_TIMEOUT)),
    )
    return {**rest, "transport": transport}
