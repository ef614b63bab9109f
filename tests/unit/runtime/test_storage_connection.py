"""`AzureWebJobsStorage` (and any other connection) read as the Functions host reads it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import azure.functions as func
import azure.identity
import pytest

from devtools.host import DevHost
from devtools.host_routes import HostConfigurationError
from devtools.host_triggers import QueuePoller
from shared.runtime import storage_connection as connections
from shared.runtime.settings import Settings
from shared.runtime.storage_connection import (
    Identity,
    StorageConfigurationError,
    StorageConnection,
    storage_connection,
)

REPO = Path(__file__).resolve().parents[3]
AZURITE = "UseDevelopmentStorage=true"
CLIENT_ID = "0b5c7a3e-4f8d-4f1e-9a42-3c7e2d1f0a11"


class Recorded:
    """Stands in for an azure-identity credential class: how it was made."""

    made: ClassVar[list[tuple[str, tuple[Any, ...], dict[str, Any]]]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        Recorded.made.append((type(self).__name__, args, kwargs))

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise AssertionError("no token is asked for in these tests: making clients is no I/O")


class ManagedIdentityCredential(Recorded):
    pass


class DefaultAzureCredential(Recorded):
    pass


class ClientSecretCredential(Recorded):
    pass


@pytest.fixture(autouse=True)
def recorded_credentials(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any, Any]]:
    """azure-identity's classes replaced by recorders; no credential shared across tests."""
    Recorded.made = []
    for kind in (ManagedIdentityCredential, DefaultAzureCredential, ClientSecretCredential):
        monkeypatch.setattr(azure.identity, kind.__name__, kind)
    monkeypatch.setattr(connections, "_credentials", {})
    return Recorded.made


def credential_of(env: dict[str, str]) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    storage_connection(env).credential()
    (made,) = Recorded.made
    return made


# A connection string


def test_a_connection_string_is_used_as_it_is() -> None:
    connection = storage_connection({"AzureWebJobsStorage": AZURITE})
    assert connection == StorageConnection("AzureWebJobsStorage", connection_string=AZURITE)
    with connection.table_service() as tables, connection.queue("work") as queue:
        assert tables.url == "http://127.0.0.1:10002/devstoreaccount1"
        assert queue.url == "http://127.0.0.1:10001/devstoreaccount1/work"
    with pytest.raises(StorageConfigurationError, match="connection string, not an identity"):
        connection.credential()


def test_a_connection_string_wins_over_identity_settings_beside_it() -> None:
    env = {"AzureWebJobsStorage": AZURITE, "AzureWebJobsStorage__accountName": "contoso"}
    assert storage_connection(env).connection_string == AZURITE


def test_an_empty_connection_string_counts_as_unset() -> None:
    env = {"AzureWebJobsStorage": " ", "AzureWebJobsStorage__accountName": "contoso"}
    connection = storage_connection(env)
    assert connection.connection_string is None
    assert connection.service_uri("table") == "https://contoso.table.core.windows.net"


# Identity-based: where


def test_an_account_name_gives_the_global_azure_endpoints() -> None:
    connection = storage_connection({"AzureWebJobsStorage__accountName": "contoso"})
    assert connection.name == "AzureWebJobsStorage"
    assert connection.connection_string is None
    assert connection.service_uris == {
        "table": "https://contoso.table.core.windows.net",
        "queue": "https://contoso.queue.core.windows.net",
        "blob": "https://contoso.blob.core.windows.net",
    }
    assert connection.identity == Identity()


def test_service_uris_name_each_service_and_win_over_the_account_name() -> None:
    connection = storage_connection(
        {
            "AzureWebJobsStorage__tableServiceUri": "https://tables.contoso.example/",
            "AzureWebJobsStorage__queueServiceUri": "https://contoso.queue.core.usgovcloudapi.net",
            "AzureWebJobsStorage__accountName": "contoso",
        }
    )
    assert connection.service_uris == {
        "table": "https://tables.contoso.example",
        "queue": "https://contoso.queue.core.usgovcloudapi.net",
        "blob": "https://contoso.blob.core.windows.net",
    }


def test_setting_names_match_in_any_letter_case_and_with_a_colon() -> None:
    connection = storage_connection(
        {
            "azurewebjobsstorage__TABLESERVICEURI": "https://t.example",
            "AzureWebJobsStorage:queueServiceUri": "https://q.example",
            "AZUREWEBJOBSSTORAGE__Credential": "ManagedIdentity",
        }
    )
    assert connection.service_uris == {"table": "https://t.example", "queue": "https://q.example"}
    assert connection.identity == Identity(credential="ManagedIdentity")


def test_the_queue_extensions_service_uri_alias_names_the_queue() -> None:
    connection = storage_connection({"Work__serviceUri": "https://q.example"}, "Work")
    assert connection.service_uris == {"queue": "https://q.example"}


def test_a_service_uri_must_be_https() -> None:
    with pytest.raises(StorageConfigurationError, match="AzureWebJobsStorage__tableServiceUri"):
        storage_connection({"AzureWebJobsStorage__tableServiceUri": "http://127.0.0.1:10002/x"})
    with pytest.raises(StorageConfigurationError, match="https://"):
        storage_connection({"AzureWebJobsStorage__queueServiceUri": "contoso.queue"})


def test_a_service_without_an_endpoint_is_named_when_its_client_is_asked_for() -> None:
    connection = storage_connection({"AzureWebJobsStorage__queueServiceUri": "https://q.example"})
    with pytest.raises(StorageConfigurationError) as missing:
        connection.table_service()
    assert "AzureWebJobsStorage__tableServiceUri" in str(missing.value)
    assert "AzureWebJobsStorage__accountName" in str(missing.value)


# Identity-based: who


def test_managed_identity_with_a_client_id_is_that_user_assigned_identity() -> None:
    env = {
        "AzureWebJobsStorage__accountName": "contoso",
        "AzureWebJobsStorage__credential": "managedidentity",
        "AzureWebJobsStorage__clientId": CLIENT_ID,
    }
    assert storage_connection(env).identity == Identity("managedidentity", CLIENT_ID)
    assert credential_of(env) == ("ManagedIdentityCredential", (), {"client_id": CLIENT_ID})


def test_managed_identity_alone_is_the_system_assigned_identity() -> None:
    env = {
        "AzureWebJobsStorage__accountName": "c",
        "AzureWebJobsStorage__credential": "managedidentity",
    }
    assert credential_of(env) == ("ManagedIdentityCredential", (), {"client_id": None})


def test_managed_identity_by_resource_id() -> None:
    resource = (
        "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity"
        "/userAssignedIdentities/i"
    )
    env = {
        "AzureWebJobsStorage__accountName": "contoso",
        "AzureWebJobsStorage__credential": "managedidentity",
        "AzureWebJobsStorage__managedIdentityResourceId": resource,
    }
    assert credential_of(env) == (
        "ManagedIdentityCredential",
        (),
        {"identity_config": {"resource_id": resource}},
    )
    with pytest.raises(StorageConfigurationError, match="not both"):
        storage_connection({**env, "AzureWebJobsStorage__clientId": CLIENT_ID})


def test_without_a_credential_setting_it_is_the_default_chain() -> None:
    env = {"AzureWebJobsStorage__accountName": "contoso"}
    assert credential_of(env) == (
        "DefaultAzureCredential",
        (),
        {"managed_identity_client_id": None},
    )
    Recorded.made.clear()
    connections._credentials.clear()
    assert credential_of({**env, "AzureWebJobsStorage__clientId": CLIENT_ID}) == (
        "DefaultAzureCredential",
        (),
        {"managed_identity_client_id": CLIENT_ID},
    )


def test_a_service_principal_for_local_runs() -> None:
    env = {
        "AzureWebJobsStorage__accountName": "contoso",
        "AzureWebJobsStorage__tenantId": "tenant",
        "AzureWebJobsStorage__clientId": CLIENT_ID,
        "AzureWebJobsStorage__clientSecret": "s3cret",
    }
    connection = storage_connection(env)
    assert "s3cret" not in repr(connection)
    assert credential_of(env) == ("ClientSecretCredential", ("tenant", CLIENT_ID, "s3cret"), {})


def test_another_credential_kind_is_refused_by_name() -> None:
    with pytest.raises(StorageConfigurationError, match="AzureWebJobsStorage__credential"):
        storage_connection(
            {
                "AzureWebJobsStorage__accountName": "contoso",
                "AzureWebJobsStorage__credential": "managedidentityasfederatedidentity",
            }
        )


def test_one_credential_per_identity_serves_every_client(
    recorded_credentials: list[tuple[str, Any, Any]],
) -> None:
    """Made on the first client, not when settings are read, and then shared (its token cache
    with it): the HTTP path's clients and the worker's, the table service and the queue."""
    env = {
        "AzureWebJobsStorage__accountName": "contoso",
        "AzureWebJobsStorage__credential": "managedidentity",
        "AzureWebJobsStorage__clientId": CLIENT_ID,
    }
    http, worker = storage_connection(env), storage_connection(dict(env))
    assert recorded_credentials == []
    with (
        http.table_service(retry_total=1) as tables,
        worker.table_service() as worker_tables,
        http.queue("work") as queue,
    ):
        assert tables.url == "https://contoso.table.core.windows.net"
        assert queue.url == "https://contoso.queue.core.windows.net/work"
        assert tables.credential is worker_tables.credential is queue.credential
    assert http.credential() is worker.credential()
    assert len(recorded_credentials) == 1


# Missing, and which name is read


def test_no_storage_settings_is_an_error_naming_them() -> None:
    with pytest.raises(StorageConfigurationError) as missing:
        storage_connection({"AzureWebJobsStorage__unrelated": ""})
    message = str(missing.value)
    for setting in (
        "set AzureWebJobsStorage ",
        "AzureWebJobsStorage__accountName",
        "AzureWebJobsStorage__tableServiceUri",
        "AzureWebJobsStorage__queueServiceUri",
        "AzureWebJobsStorage__credential=managedidentity",
        "AzureWebJobsStorage__clientId",
    ):
        assert setting in message
    with pytest.raises(ValueError, match="AzureWebJobsStorage"):
        Settings.from_env({})


def test_identity_settings_without_an_endpoint_are_an_error_naming_them() -> None:
    with pytest.raises(StorageConfigurationError, match="AzureWebJobsStorage__accountName"):
        storage_connection({"AzureWebJobsStorage__credential": "managedidentity"})


def test_a_connection_name_is_read_with_the_azurewebjobs_prefix_first() -> None:
    env = {"AzureWebJobsStorage": AZURITE, "Storage__accountName": "other"}
    assert storage_connection(env, "Storage").name == "AzureWebJobsStorage"
    connection = storage_connection({"Storage__accountName": "other"}, "Storage")
    assert connection.name == "Storage"
    assert connection.service_uri("queue") == "https://other.queue.core.windows.net"
    with pytest.raises(StorageConfigurationError, match=r"AzureWebJobsStorage \(or Storage\)"):
        storage_connection({}, "Storage")


def test_settings_keep_the_connection_string_for_those_who_read_it() -> None:
    settings = Settings.from_env({"AzureWebJobsStorage": AZURITE})
    assert settings.storage_connection == AZURITE
    assert settings.storage.connection_string == AZURITE
    identity = Settings.from_env({"AzureWebJobsStorage__accountName": "contoso"})
    assert identity.storage_connection == ""
    assert identity.storage.service_uri("table") == "https://contoso.table.core.windows.net"


# The dev host's queue trigger reads it the same way


def queue_app(connection: str) -> func.FunctionApp:
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="work", connection=connection)
    def worker(msg: func.QueueMessage) -> None:
        return None

    return app


def test_the_dev_host_queue_trigger_takes_identity_based_settings() -> None:
    env = {
        "AzureWebJobsStorage__queueServiceUri": "https://contoso.queue.core.windows.net",
        "AzureWebJobsStorage__credential": "managedidentity",
    }
    host = DevHost(queue_app("Storage"), {}, env, port=0)
    (poller,) = host.background
    assert isinstance(poller, QueuePoller)
    assert poller.connection == storage_connection(env)
    assert connections._credentials == {}  # nothing made until the poller runs
    with pytest.raises(HostConfigurationError, match=r"worker: .*AzureWebJobsStorage__accountName"):
        DevHost(queue_app("Storage"), {}, {"AzureWebJobsStorage__credential": "x"}, port=0)
    with pytest.raises(HostConfigurationError, match=r"AzureWebJobsOther \(or Other\)"):
        DevHost(queue_app("Other"), {}, env, port=0)


def test_a_connection_string_never_loads_azure_identity() -> None:
    """The HTTP path's cold start: a connection string's clients import nothing of it."""
    probe = (
        "import sys\n"
        "from shared.runtime.services import services\n"
        "services()\n"
        "print(sorted(m for m in sys.modules if m.startswith(('azure.identity', 'msal'))))\n"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AzureWebJobs")},
        "AzureWebJobsStorage": AZURITE,
    }
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
