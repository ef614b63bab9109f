"""Use it from your app: the official SDK and azure-identity pointed at the product (README).

`make_client` is the README's snippet, verbatim. Here the credential is a stand-in for
azure-identity's that mints dev tokens shaped as Entra issues them for the product's own API
(`api://<client id>`), and the product is a dev host that trusts only that API's audiences.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from azure.core.credentials import AccessToken, TokenCredential
from azure.core.credentials_async import AsyncTokenCredential
from kiota_authentication_azure._exceptions import HTTPError
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from kiota_http.httpx_request_adapter import HttpxRequestAdapter
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.users.item.events.item.cancel.cancel_post_request_body import (
    CancelPostRequestBody,
)
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_service_client import GraphServiceClient

from devtools.azurite import Azurite
from devtools.tokens import (
    DEV_API_APP_ID,
    DEV_CLIENT_APP_ID,
    DEV_ISSUER,
    DEV_TENANT_ID,
    DevKey,
    mint,
)
from tests.e2e.conftest import Stack, app_settings, start_host, stop_host

# kiota's httpx adapter leaves the connection of an error response open past the client's close
# (see test_graph_sdk.py); its ResourceWarning surfaces at garbage collection.
pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

ADELE = "AdeleV@contoso.example"
APP_ID = DEV_API_APP_ID  # the product's app registration: its client id
SCOPE = f"api://{APP_ID}/.default"
V1_ISSUER = f"https://sts.windows.net/{DEV_TENANT_ID}/"


# --- the README's snippet ------------------------------------------------------------------------


def make_client(
    base_url: str, credential: TokenCredential | AsyncTokenCredential, app_id: str
) -> GraphServiceClient:
    """The Graph SDK's client for the product at `base_url`
    (`https://<your app>.azurewebsites.net/v1.0`), with tokens from `credential` (any
    azure-identity credential, sync or async) for the product's own API, sent to its host only.
    """
    auth = AzureIdentityAuthenticationProvider(
        credential,
        scopes=[f"api://{app_id}/.default"],
        allowed_hosts=[urlsplit(base_url).hostname or ""],
    )
    adapter = GraphRequestAdapter(auth)
    adapter.base_url = base_url
    return GraphServiceClient(request_adapter=adapter)


# --- a credential that stands in for azure-identity's --------------------------------------------


class DevCredential:
    """Adele's tokens, for the resource a `<resource>/.default` scope names, as Entra issues
    them: v1 (what an app registration gets unless its manifest asks for v2) has the App ID URI
    as audience and the sts.windows.net issuer; v2 has the API's client id and the v2.0 issuer."""

    def __init__(self, key: DevKey, oid: str, version: str) -> None:
        self.key, self.oid, self.version = key, oid, version
        self.asked: list[tuple[str, ...]] = []
        self.given: list[str] = []

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        self.asked.append(scopes)
        (scope,) = scopes
        resource = scope.removesuffix("/.default")
        if self.version == "1.0":
            token = mint(
                self.key,
                subject_oid=self.oid,
                issuer=V1_ISSUER,
                audience=resource,
                extra_claims={"ver": "1.0", "appid": DEV_CLIENT_APP_ID},
            )
        else:
            audience = APP_ID if resource == f"api://{APP_ID}" else resource
            token = mint(self.key, subject_oid=self.oid, audience=audience)
        self.given.append(token)
        return AccessToken(token, int(time.time()) + 3600)


class AsyncDevCredential(DevCredential):
    """The same, as azure.identity.aio's credentials are."""

    async def get_token(  # type: ignore[override]
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return DevCredential.get_token(self, *scopes, claims=claims, enable_cae=enable_cae)

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> AsyncDevCredential:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        pass


# --- the product, trusting the API's audiences and both issuers ----------------------------------


@pytest.fixture(scope="module")
def product(azurite: Azurite, dev_key: DevKey) -> Iterator[str]:
    """A dev host set up as the README's app registration says; its `/v1.0` base URL."""
    env = app_settings(
        azurite,
        dev_key,
        AUTH_AUDIENCES=f"api://{APP_ID},{APP_ID}",
        AUTH_ISSUERS=f"{V1_ISSUER},{DEV_ISSUER}",
        AUTH_CLIENT_ID=APP_ID,
    )
    process, url = start_host(env)
    yield url.removesuffix("/api") + "/v1.0"
    stop_host(process)


def run(
    base_url: str,
    credential: DevCredential,
    request: Callable[[GraphServiceClient], Awaitable[Any]],
    *,
    client_for: Callable[..., GraphServiceClient] = make_client,
) -> Any:
    """`request` with a client made as the README makes it, closed afterwards. An
    `ODataError` is returned as its status, so its traceback does not pin the connection."""

    async def go() -> Any:
        client = client_for(base_url, credential, APP_ID)
        adapter = client.request_adapter
        assert isinstance(adapter, HttpxRequestAdapter)
        try:
            return await request(client)
        except ODataError as error:
            return error.response_status_code
        finally:
            await adapter._http_client.aclose()

    try:
        return asyncio.run(go())
    finally:
        gc.collect()


# --- tests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.0", "2.0"])
@pytest.mark.parametrize("credential_type", [DevCredential, AsyncDevCredential])
def test_your_app_lists_and_cancels_as_the_signed_in_user(
    stack: Stack, product: str, dev_key: DevKey, credential_type: type[DevCredential], version: str
) -> None:
    owner, event_id = stack.event("planning")
    credential = credential_type(dev_key, stack.user(ADELE), version)
    comment = "Cancelling for this week due to all hands"

    async def list_then_cancel(client: GraphServiceClient) -> list[str]:
        events = await client.me.events.get()
        assert events is not None
        assert events.value is not None
        body = CancelPostRequestBody(comment=comment)
        await client.me.events.by_event_id(event_id).cancel.post(body)
        return [str(event.id) for event in events.value]

    graph_view = stack.get("me/events", stack.token(ADELE)).json()["value"]

    listed = run(product, credential, list_then_cancel)

    # the credential was asked for the product's API, once per request, and its tokens sufficed
    assert credential.asked == [(SCOPE,), (SCOPE,)]
    audience = jwt.decode(credential.given[0], options={"verify_signature": False})["aud"]
    assert audience == (f"api://{APP_ID}" if version == "1.0" else APP_ID)
    assert listed == [event["id"] for event in graph_view]
    assert event_id in listed
    assert owner == stack.user(ADELE)
    outbox = stack.row(owner, f"outbox|{event_id}")
    assert outbox is not None
    assert f'"comment":"{comment}"' in outbox["Notification"]
    event_row = stack.row(owner, f"event|{event_id}")
    assert event_row is not None
    assert event_row["Folder"] == "deleteditems"


def test_the_token_is_sent_to_the_products_host_only(
    stack: Stack, product: str, dev_key: DevKey
) -> None:
    credential = DevCredential(dev_key, stack.user(ADELE), "2.0")
    elsewhere = product.replace("127.0.0.1", "localhost")  # the same server by another name

    status = run(
        product, credential, lambda c: c.me.events.with_url(f"{elsewhere}/me/events").get()
    )

    assert status == 401
    assert credential.asked == []


def test_a_token_for_graph_itself_is_refused(stack: Stack, product: str, dev_key: DevKey) -> None:
    credential = DevCredential(dev_key, stack.user(ADELE), "2.0")

    def graph_scoped(base_url: str, cred: DevCredential, app_id: str) -> GraphServiceClient:
        auth = AzureIdentityAuthenticationProvider(
            cred, scopes=["https://graph.microsoft.com/.default"], allowed_hosts=["127.0.0.1"]
        )
        adapter = GraphRequestAdapter(auth)
        adapter.base_url = base_url
        return GraphServiceClient(request_adapter=adapter)

    status = run(product, credential, lambda c: c.me.events.get(), client_for=graph_scoped)

    assert status == 401
    assert credential.asked == [("https://graph.microsoft.com/.default",)]


def test_plain_http_is_refused_before_anything_is_sent_except_to_this_machine(
    dev_key: DevKey,
) -> None:
    credential = DevCredential(dev_key, "00000000-0000-4000-8000-000000000001", "2.0")

    with pytest.raises(HTTPError, match="Only https is supported"):
        run("http://product.example/v1.0", credential, lambda c: c.me.events.get())

    assert credential.asked == []
