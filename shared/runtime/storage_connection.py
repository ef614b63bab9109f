"""A storage connection as the Functions host reads it: a connection string, or an identity.

A connection named `X` (`AzureWebJobsStorage` for the app's own storage; a trigger's
`connection`) is looked up as the host does (WebJobs' `GetWebJobsConnectionStringSection`):
first under the prefixed name `AzureWebJobsX`, then under `X`. Under that name it is either

- a connection string, the value of the setting itself (`UseDevelopmentStorage=true` is
  Azurite), or else
- identity-based, the settings below it (`X__property`, names matched in any letter case, as
  .NET configuration does): the service URIs `X__tableServiceUri`, `X__queueServiceUri`
  (alias `X__serviceUri` for a queue), `X__blobServiceUri`, or `X__accountName` for the
  `https://<account>.<service>.core.windows.net` endpoints of global Azure; and how the token
  is got: `X__credential` = `managedidentity` with `X__clientId` (a user-assigned identity) or
  `X__managedIdentityResourceId`, `X__tenantId` + `X__clientId` + `X__clientSecret` (a service
  principal, for local runs), otherwise `DefaultAzureCredential` (the developer's own sign-in
  locally, the managed identity in Azure; `X__clientId` names a user-assigned one).

Sources: Microsoft Learn, "Azure Functions developer guide": "Connecting to host storage with an
identity", "Common properties for identity-based connections", "Local development with
identity-based connections"; Microsoft.Extensions.Azure `ClientFactory.CreateCredential`.

Reading settings does no I/O and imports no SDK (the settings module stays light). azure-identity
is imported when the first identity-based client is made, never for a connection string (it
costs the cold start), and each identity's credential is made once per process and shared by
every client, so its token cache serves them all.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.data.tables import TableServiceClient
    from azure.storage.queue import QueueClient

HOST_STORAGE = "AzureWebJobsStorage"
PREFIX = "AzureWebJobs"
Service = Literal["table", "queue", "blob"]
SERVICES: tuple[Service, ...] = ("table", "queue", "blob")


class StorageConfigurationError(ValueError):
    """The app settings do not say how to reach storage; the message names the settings."""


@dataclass(frozen=True)
class Identity:
    """How an identity-based connection gets its token (the connection's common properties)."""

    credential: str | None = None
    client_id: str | None = None
    resource_id: str | None = None
    tenant_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class StorageConnection:
    """How to make the table service and queue clients of one connection."""

    name: str
    """The setting (for identity-based settings, their prefix) the connection was read from."""
    connection_string: str | None = field(default=None, repr=False)
    service_uris: Mapping[Service, str] = field(default_factory=dict)
    identity: Identity | None = None

    def service_uri(self, service: Service) -> str:
        """The endpoint of one service of an identity-based connection."""
        found = self.service_uris.get(service)
        if found is None:
            raise StorageConfigurationError(
                f"storage connection {self.name!r} has no {service} endpoint: set "
                f"{self.name}__{service}ServiceUri or {self.name}__accountName"
            )
        return found

    def table_service(self, **options: Any) -> TableServiceClient:
        """A table service client; `options` are the SDK's (retry policy, timeouts, transport)."""
        from azure.data.tables import TableServiceClient

        if self.connection_string is not None:
            return TableServiceClient.from_connection_string(self.connection_string, **options)
        return TableServiceClient(
            self.service_uri("table"), credential=self.credential(), **options
        )

    def queue(self, queue_name: str, **options: Any) -> QueueClient:
        """A client of one queue; `options` are the SDK's (encoding, retry policy, timeouts)."""
        from azure.storage.queue import QueueClient

        if self.connection_string is not None:
            return QueueClient.from_connection_string(self.connection_string, queue_name, **options)
        return QueueClient(
            self.service_uri("queue"), queue_name, credential=self.credential(), **options
        )

    def credential(self) -> TokenCredential:
        """The identity's credential, made on first use and shared by every client of it."""
        if self.identity is None:
            raise StorageConfigurationError(
                f"storage connection {self.name!r} is a connection string, not an identity"
            )
        return shared_credential(self.identity)


def storage_connection(env: Mapping[str, str], name: str = HOST_STORAGE) -> StorageConnection:
    """The connection `name` as the Functions host reads it from the app settings `env`.

    Raises StorageConfigurationError, naming the settings to set, when neither form is there.
    """
    settings = _Settings(env)
    for candidate in (f"{PREFIX}{name}", name):
        value = settings.value(candidate)
        if value:
            return StorageConnection(candidate, connection_string=value)
        properties = settings.properties(candidate)
        if properties:
            return _identity_based(candidate, properties)
    named = name if name.lower().startswith(PREFIX.lower()) else f"{PREFIX}{name}"
    also = "" if named == name else f" (or {name})"
    raise StorageConfigurationError(
        f"storage connection {name!r} is not configured: set {named}{also} to a connection "
        f"string, or identity-based settings: {named}__accountName, or {named}__tableServiceUri "
        f"and {named}__queueServiceUri, with {named}__credential=managedidentity and "
        f"{named}__clientId for a user-assigned managed identity"
    )


class _Settings:
    """App settings with names matched in any letter case, as .NET configuration does."""

    def __init__(self, env: Mapping[str, str]) -> None:
        # `:` is the section separator .NET reads `__` as, so both name the same setting.
        self._folded = {key.replace(":", "__").casefold(): value for key, value in env.items()}

    def value(self, name: str) -> str:
        return self._folded.get(name.casefold(), "").strip()

    def properties(self, name: str) -> dict[str, str]:
        """The non-empty settings `name__property`, by property name in lower case."""
        prefix = f"{name}__".casefold()
        return {
            key[len(prefix) :]: value.strip()
            for key, value in self._folded.items()
            if key.startswith(prefix) and value.strip()
        }


def _identity_based(name: str, properties: Mapping[str, str]) -> StorageConnection:
    account = properties.get("accountname")
    uris: dict[Service, str] = {}
    for service in SERVICES:
        uri = properties.get(f"{service}serviceuri")
        if uri is None and service == "queue":
            uri = properties.get("serviceuri")  # the queue extension's alias
        if uri is not None:
            uris[service] = _https_uri(f"{name}__{service}ServiceUri", uri)
        elif account:
            uris[service] = f"https://{account}.{service}.core.windows.net"
    if not uris:
        raise StorageConfigurationError(
            f"storage connection {name!r} has identity settings but no endpoint: set "
            f"{name}__accountName, or {name}__tableServiceUri and {name}__queueServiceUri"
        )
    identity = Identity(
        credential=properties.get("credential"),
        client_id=properties.get("clientid"),
        resource_id=properties.get("managedidentityresourceid"),
        tenant_id=properties.get("tenantid"),
        client_secret=properties.get("clientsecret"),
    )
    kind = (identity.credential or "").lower()
    if kind not in ("", "managedidentity"):
        raise StorageConfigurationError(
            f"{name}__credential={identity.credential!r} is not supported: use managedidentity, "
            "or leave it unset for DefaultAzureCredential"
        )
    if kind and identity.client_id and identity.resource_id:
        raise StorageConfigurationError(
            f"set {name}__clientId or {name}__managedIdentityResourceId, not both"
        )
    return StorageConnection(name, service_uris=uris, identity=identity)


def _https_uri(setting: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme.lower() != "https" or not parts.netloc:
        raise StorageConfigurationError(
            f"{setting} must be an https:// URI (a token is only sent over TLS), not {value!r}"
        )
    return value.rstrip("/")


_credentials: dict[Identity, TokenCredential] = {}
_credentials_lock = threading.Lock()


def shared_credential(identity: Identity) -> TokenCredential:
    """One credential per identity per process: its token cache then serves every client."""
    with _credentials_lock:
        found = _credentials.get(identity)
        if found is None:
            found = _credentials[identity] = make_credential(identity)
        return found


def make_credential(identity: Identity) -> TokenCredential:
    """The azure-identity credential the host would make for these settings."""
    from azure import identity as azure_identity

    if (identity.credential or "").lower() == "managedidentity":
        if identity.resource_id:
            return azure_identity.ManagedIdentityCredential(
                identity_config={"resource_id": identity.resource_id}
            )
        return azure_identity.ManagedIdentityCredential(client_id=identity.client_id)
    if identity.tenant_id and identity.client_id and identity.client_secret:
        return azure_identity.ClientSecretCredential(
            identity.tenant_id, identity.client_id, identity.client_secret
        )
    return azure_identity.DefaultAzureCredential(managed_identity_client_id=identity.client_id)
