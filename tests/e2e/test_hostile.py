"""What a hostile or unlucky caller meets over HTTP: bounded windows and dates, ids it sent
that are not echoed, and storage that is down answered quickly with a 503."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from devtools.azurite import connection_string, free_port
from devtools.tokens import DevKey, dev_auth_settings, mint
from tests.e2e.conftest import Stack, start_host, stop_host
from tests.e2e.test_recurring import ADELE, add_series

WINDOW_SENTENCE = "The time window must lie between 1601-01-01T00:00:00Z and 9999-12-31T00:00:00Z."
TOO_LONG = (
    "Your request can't be completed. The range between the start and end dates is greater "
    "than the allowed range. Maximum number of days: 1825"
)


def error_of(response: requests.Response) -> dict[str, Any]:
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()["error"]
    assert body["innerError"]["request-id"] == response.headers["request-id"]
    return dict(body)


@pytest.fixture
def daily(stack: Stack) -> str:
    """A daily series without end, in a zone 8 hours behind UTC."""
    return add_series(
        stack,
        "daily",
        {"type": "daily"},
        {"type": "noEnd", "startDate": "2027-01-01"},
        tz="Pacific Standard Time",
    )


@pytest.mark.parametrize(
    ("start", "end", "status", "code", "message"),
    [
        ("2027-01-01T00:00:00Z", "9999-12-31T23:59:59Z", 400, "ErrorInvalidParameter", None),
        ("0001-01-01T00:00:00Z", "0001-01-02T00:00:00Z", 400, "ErrorInvalidParameter", None),
        ("0001-01-01T00:00:00+05:00", "2027-01-02T00:00:00Z", 400, "ErrorInvalidParameter", None),
        ("9999-12-30T00:00:00Z", "9999-12-31T23:59:59-12:00", 400, "ErrorInvalidParameter", None),
        ("2027-01-01T00:00:00Z", "2037-01-01T00:00:00Z", 400, "ErrorInvalidRequest", TOO_LONG),
        ("2027-01-01T00:00:00Z", "2031-12-31T00:00:00Z", 200, None, None),
        ("9999-12-01T00:00:00Z", "9999-12-31T00:00:00Z", 200, None, None),
    ],
)
def test_instances_windows_at_the_calendar_s_edges_are_answered_never_500(
    stack: Stack,
    daily: str,
    start: str,
    end: str,
    status: int,
    code: str | None,
    message: str | None,
) -> None:
    before = stack.snapshot()
    query = f"startDateTime={start}&endDateTime={end}".replace("+", "%2B")

    response = stack.get(f"me/events/{daily}/instances?{query}", stack.token(ADELE))

    assert response.status_code == status, response.text
    if code is not None:
        error = error_of(response)
        assert error["code"] == code
        assert error["message"] == (message or WINDOW_SENTENCE)
    else:
        assert response.json()["value"]
    assert stack.snapshot() == before


def test_the_calendar_s_last_day_is_an_occurrence_and_the_day_after_is_not(
    stack: Stack, daily: str
) -> None:
    token = stack.token(ADELE)

    last = stack.get(f"me/events/OID.{daily}.9999-12-30", token)
    assert last.status_code == 200, last.text
    assert last.json()["originalStart"] == "9999-12-30T17:00:00Z"
    for day in ("9999-12-31", "0001-01-01", "1600-12-31", "2026-12-31"):
        refused = stack.get(f"me/events/OID.{daily}.{day}", token)
        assert refused.status_code == 404, (day, refused.text)
        assert error_of(refused)["code"] == "ErrorItemNotFound"
    assert stack.post(f"me/events/OID.{daily}.9999-12-30/cancel", token).status_code == 202
    assert stack.get(f"me/events/OID.{daily}.9999-12-30", token).status_code == 404


@pytest.mark.parametrize(
    "sent",
    ["bad\x00id", "bell\x07", "tab\tinside", "x" * 60_000, "\x7f"],
    ids=["nul", "bell", "tab", "60kb", "del"],
)
def test_a_client_request_id_that_is_not_sane_is_not_echoed(stack: Stack, sent: str) -> None:
    response = stack.post(
        "me/events/AAMkNoSuchEvent/cancel", stack.token(ADELE), headers={"client-request-id": sent}
    )

    assert response.status_code == 404
    request_id = response.headers["request-id"]
    assert response.headers["client-request-id"] == request_id
    assert error_of(response)["innerError"]["client-request-id"] == request_id
    assert len(response.content) < 1000


class ClosingListener:
    """A TCP port that accepts each connection and closes it at once: storage that is down
    in the way a crashed process or a reset load balancer is. Counts the attempts."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", free_port()))
        self.port = int(self.server.getsockname()[1])
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.accepted += 1
            connection.close()

    def __enter__(self) -> ClosingListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.close()


@pytest.fixture
def storage_down(dev_key: DevKey) -> Iterator[tuple[str, ClosingListener]]:
    with ClosingListener() as listener:
        port = listener.port
        env = {
            "AzureWebJobsStorage": connection_string(port, port, port),
            **dev_auth_settings(dev_key),
        }
        process, url = start_host(env)
        try:
            yield url, listener
        finally:
            stop_host(process)


def test_storage_that_is_down_is_a_503_after_one_quick_retry(
    storage_down: tuple[str, ClosingListener], dev_key: DevKey
) -> None:
    url, listener = storage_down
    token = mint(dev_key, subject_oid="0f6e3e8a-1111-4222-8333-444455556666")
    with requests.Session() as http:
        http.trust_env = False
        response = http.post(
            f"{url}/me/events/AAMkAnyEvent/cancel",
            data=json.dumps({}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=60,
        )

    assert response.status_code == 503
    assert error_of(response)["code"] == "ServiceNotAvailable"
    assert response.headers["Retry-After"] == "5"
    assert listener.accepted == 2  # the point read and one retry; the SDK's default makes 11
