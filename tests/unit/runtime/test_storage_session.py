"""The storage clients' requests session: the environment's proxy settings read once per host,
and the settings merged exactly as requests merges them."""

from __future__ import annotations

from typing import Any

import pytest
from requests import Session

from shared.storage import http as services
from shared.storage.http import StorageSession, pooled_session

URLS = [
    "https://contoso.table.core.windows.net/Calendar(PartitionKey='a',RowKey='b')",
    "http://127.0.0.1:10002/devstoreaccount1/Calendar()",
    "https://internal.contoso.example/x",
]


def settings(session: Session, url: str, **given: Any) -> dict[str, Any]:
    options = {"proxies": {}, "stream": None, "verify": None, "cert": None} | given
    return session.merge_environment_settings(url, **options)


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("verify", [None, True, False, "/etc/own-ca.pem"])
def test_the_settings_are_requests_own(
    monkeypatch: pytest.MonkeyPatch, url: str, verify: object
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.contoso.example:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.contoso.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.contoso.example,127.0.0.1")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/bundle.pem")

    for _ in range(2):  # the second time from what was kept
        assert settings(StorageSession(), url, verify=verify) == settings(
            Session(), url, verify=verify
        )
    ours = pooled_session(32)
    assert [settings(ours, url, verify=verify) for _ in range(2)] == [
        settings(Session(), url, verify=verify)
    ] * 2


def test_the_environment_is_asked_once_per_host(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    from requests.utils import get_environ_proxies as real

    def counting(url: str, no_proxy: str | None = None) -> dict[str, str]:
        asked.append(url)
        return dict(real(url, no_proxy=no_proxy))

    monkeypatch.setattr(services, "get_environ_proxies", counting)
    session = StorageSession()
    for _ in range(3):
        settings(session, URLS[0])
        settings(session, URLS[0].replace("RowKey='b'", "RowKey='c'"))
    settings(session, URLS[1])

    assert asked == [URLS[0], URLS[1]]


def test_without_trust_in_the_environment_it_is_not_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.contoso.example:3128")
    session = StorageSession()
    session.trust_env = False

    assert settings(session, URLS[0])["proxies"] == {}
