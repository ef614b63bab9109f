"""`azure.yaml` and `infra/` (Bicep) as far as they can be checked without a Bicep compiler:
the service azd deploys is the one the Bicep tags, every app setting the README names is set,
storage is reached by identity only, no secret is written into the templates, every parameter
has a value, and modules are called with parameters and outputs they have."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
PARAMETERS = INFRA / "main.parameters.json"

# The Azure Verified Modules main.bicep uses, pinned to the versions
# Azure-Samples/functions-quickstart-python-http-azd uses, with the parameters it passes them and
# the outputs it reads: nothing beyond what that sample shows working.
AVM: dict[str, tuple[set[str], set[str]]] = {
    "br/public:avm/res/managed-identity/user-assigned-identity:0.4.1": (
        {"name", "location", "tags"},
        {"resourceId", "clientId", "principalId"},
    ),
    "br/public:avm/res/web/serverfarm:0.1.1": (
        {"name", "sku", "reserved", "location", "tags"},
        {"resourceId"},
    ),
    "br/public:avm/res/operational-insights/workspace:0.7.0": (
        {"name", "location", "tags", "dataRetention"},
        {"resourceId"},
    ),
    "br/public:avm/res/insights/component:0.4.1": (
        {"name", "location", "tags", "workspaceResourceId", "disableLocalAuth"},
        {"name", "connectionString"},
    ),
}

# Azure built-in roles the app's identity holds (ids as the samples' rbac.bicep write them).
APP_ROLES = {
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
}

# Settings Flex Consumption refuses (it sets runtime and content itself).
FLEX_REFUSES = {
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_EXTENSION_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_CONTENTSHARE",
}

# What a key, a connection string, a SAS or a certificate written out would contain.
CREDENTIAL_MARKERS = (
    "AccountKey=",
    "SharedAccessSignature=",
    "sig=",
    "InstrumentationKey=",
    "DefaultEndpointsProtocol",
    "-----BEGIN",
)

STRING = re.compile(r"'(?:\\.|[^'\\])*'")
STRING_OR_COMMENT = re.compile(r"'(?:\\.|[^'\\])*'|//.*")
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
KEY = re.compile(r"^\s*'?([A-Za-z_][A-Za-z0-9_-]*)'?\s*:", re.MULTILINE)


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


def api_bicep() -> str:
    return (INFRA / "app" / "api.bicep").read_text("utf-8")


def code(text: str, *, strings: bool = False) -> str:
    """Bicep without comments and, unless `strings`, with every string literal emptied, so
    that braces and colons are syntax."""

    def keep(match: re.Match[str]) -> str:
        found = match.group(0)
        return "" if found.startswith("//") else found if strings else "''"

    return STRING_OR_COMMENT.sub(keep, text)


def block(text: str, start: int) -> str:
    """The text between the brace at or after `start` and its match."""
    open_at = text.index("{", start)
    depth = 0
    for at in range(open_at, len(text)):
        depth += {"{": 1, "}": -1}.get(text[at], 0)
        if depth == 0:
            return text[open_at + 1 : at]
    raise AssertionError("unbalanced braces")


def top_keys(body: str) -> set[str]:
    """The keys of an object literal's own level (not of the objects and arrays inside it)."""
    keys: set[str] = set()
    depth = 0
    for line in body.splitlines():
        if depth == 0 and (match := KEY.match(line)):
            keys.add(match.group(1))
        depth += line.count("{") + line.count("[") - line.count("}") - line.count("]")
    return keys


def params(text: str) -> dict[str, bool]:
    """Each `param` of a Bicep file, and whether it has a default."""
    return {
        m.group(1): m.group(2) is not None
        for m in re.finditer(r"^param\s+(\w+)\s+\w+(\s*=.*)?$", text, re.MULTILINE)
    }


def modules(text: str) -> list[tuple[str, str, set[str]]]:
    """(symbol, path or registry reference, parameter names) of each module a file calls."""
    plain = code(text)
    found: list[tuple[str, str, set[str]]] = []
    for m in re.finditer(r"^module\s+(\w+)\s+('[^']*')\s*=", text, re.MULTILINE):
        body = block(plain, plain.index(f"module {m.group(1)} "))
        params_at = re.search(r"^\s*params:\s*\{", body, re.MULTILINE)
        passed = top_keys(block(body, params_at.start())) if params_at else set()
        found.append((m.group(1), m.group(2).strip("'"), passed))
    return found


def app_settings() -> dict[str, str]:
    """Every key written in an object literal of the templates (one per line, or a one-line
    object's), with its value's text: the app settings are among them, under their own names."""
    settings: dict[str, str] = {}
    for path in bicep_files():
        for line in path.read_text("utf-8").splitlines():
            line = line.split(" //", 1)[0]
            for inline in re.finditer(r"\{\s*([A-Za-z_]\w*):\s*([^{}]*?)\s*\}", line):
                settings.setdefault(inline[1], inline[2])
            if match := re.match(r"^\s*([A-Za-z_]\w*)\s*:\s*(.*)$", line):
                settings.setdefault(match[1], match[2].strip())
    return settings


def readme_settings() -> list[str]:
    text = (ROOT / "README.md").read_text("utf-8")
    section = text.split("## Configuration (app settings)", 1)[1].split("\n## ", 1)[0]
    names: list[str] = []
    for row in section.splitlines():
        if row.startswith("| `"):
            names += re.findall(r"`([^`]+)`", row.split("|")[1])
    return names


def yaml_mapping(text: str) -> dict[str, object]:
    """The block mappings of a small YAML file (keys, scalars, nesting by indentation): all
    azure.yaml uses. PyYAML is not among the dev requirements."""
    root: dict[str, object] = {}
    stack: list[tuple[int, dict[str, object]]] = [(-1, root)]
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        key, sep, value = line.strip().partition(":")
        assert sep, f"not a mapping entry: {raw!r}"
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        if value.strip():
            parent[key] = value.strip().strip("'\"")
        else:
            child: dict[str, object] = {}
            parent[key] = child
            stack.append((indent, child))
    return root


def test_azure_yaml_deploys_this_folder_as_the_python_function_the_bicep_tags() -> None:
    project = yaml_mapping((ROOT / "azure.yaml").read_text("utf-8"))
    services = project["services"]
    assert isinstance(services, dict)
    assert services == {"api": {"project": ".", "language": "python", "host": "function"}}
    tagged = {
        tag
        for path in bicep_files()
        for tag in re.findall(r"'azd-service-name':\s*'([^']+)'", path.read_text("utf-8"))
    }
    assert tagged == set(services)
    assert "'azd-env-name': environmentName" in MAIN.read_text("utf-8")


def test_every_setting_the_readme_names_is_set_in_azure() -> None:
    names = readme_settings()
    assert {"CALENDAR_TABLE", "SWEEP_SCHEDULE", "AUTH_ISSUERS", "GRAPH_CLIENT_SECRET"} <= set(names)
    settings = app_settings()
    missing = [
        name
        for name in names
        # The host storage's forms (a connection string, identity settings of several kinds) are
        # alternatives: the identity form Azure uses is checked on its own below.
        if not name.startswith("AzureWebJobsStorage")
        and name not in settings
        and not any(key.startswith(f"{name}__") for key in settings)
    ]
    assert missing == []


def test_every_local_setting_has_its_azure_counterpart_and_none_that_flex_refuses() -> None:
    local = json.loads((ROOT / "local.settings.sample.json").read_text("utf-8"))["Values"]
    settings = app_settings()
    expected = {
        name
        for name in set(local) - FLEX_REFUSES - {"AzureWebJobsFeatureFlags"}
        if not name.startswith("AzureWebJobsStorage")  # Azurite's form locally, identity in Azure
    }
    assert expected - set(settings) == set()
    assert FLEX_REFUSES & set(settings) == set()


def test_storage_is_reached_by_the_identity_and_allows_no_account_keys() -> None:
    settings = app_settings()
    assert "AzureWebJobsStorage" not in settings
    assert settings["AzureWebJobsStorage__credential"] == "'managedidentity'"
    assert settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert {"AzureWebJobsStorage__accountName", "AzureWebJobsStorage__queueServiceUri"} <= set(
        settings
    )
    storage = (INFRA / "app" / "storage.bicep").read_text("utf-8")
    assert re.search(r"^\s*allowSharedKeyAccess: false$", storage, re.MULTILINE)
    assert re.search(r"^\s*allowBlobPublicAccess: false$", storage, re.MULTILINE)
    assert re.search(r"^\s*minimumTlsVersion: 'TLS1_2'$", storage, re.MULTILINE)
    assert "allowSharedKeyAccess: true" not in "".join(p.read_text("utf-8") for p in bicep_files())
    main = MAIN.read_text("utf-8")
    assert "'${notificationQueue}-poison'" in main
    assert re.search(
        r"^\s*runtime: \{\s*name: 'python'\s*version: '3.11'", api_bicep(), re.MULTILINE
    )


def role_assignments(text: str) -> dict[str, set[str]]:
    """For each principal (the expression its id is), the role definition ids it is given, the
    loops over a list of roles unrolled."""
    plain = code(text, strings=True)
    ids = {m[1]: m[2] for m in re.finditer(r"^var (\w+) = '([^']*)'", plain, re.MULTILINE)}
    lists = {
        m[1]: re.findall(r"\w+", m[2])
        for m in re.finditer(r"^var (\w+) = \[([^\]]*)\]", plain, re.MULTILINE)
    }
    given: dict[str, set[str]] = {}
    assignment = (
        r"^resource \w+ 'Microsoft\.Authorization/roleAssignments@[^']+' = "
        r"(?:\[for (\w+) in (\w+): )?"
    )
    for m in re.finditer(assignment, plain, re.MULTILINE):
        body = block(plain, m.end())
        principal = re.search(r"principalId: (\w+)", body)
        role = re.search(r"roleDefinitions', (\w+)\)", body)
        assert principal, body
        assert role, body
        roles = lists[m[2]] if role[1] == m[1] else [role[1]]
        given.setdefault(principal[1], set()).update(ids[name] for name in roles)
    return given


def test_the_identity_holds_the_roles_the_host_and_the_app_need() -> None:
    given = role_assignments((INFRA / "app" / "rbac.bicep").read_text("utf-8"))
    assert given["identityPrincipalId"] == set(APP_ROLES.values())
    storage_roles = {v for k, v in APP_ROLES.items() if k.startswith("Storage ")}
    assert storage_roles <= given["userPrincipalId"]  # azd deploys, the loader writes tables
    assert "identityPrincipalId: identity.outputs.principalId" in MAIN.read_text("utf-8")
    assert "userAssignedIdentityResourceId: identityId" in api_bicep()
    assert "keyVaultReferenceIdentity: identityId" in api_bicep()


def test_secrets_come_from_key_vault_and_no_secret_is_written_in_the_templates() -> None:
    settings = app_settings()
    secret_names = [n for n in settings if re.search(r"PASSWORD|SECRET", n) and n.isupper()]
    assert sorted(secret_names) == ["GRAPH_CLIENT_SECRET", "SMTP_PASSWORD"]
    for name in secret_names:
        assert settings[name].startswith("'@Microsoft.KeyVault(SecretUri=${"), name
    assert "enableRbacAuthorization: true" in (INFRA / "app" / "keyvault.bicep").read_text("utf-8")

    for path in [*bicep_files(), PARAMETERS, ROOT / "azure.yaml"]:
        text = path.read_text("utf-8")
        assert [marker for marker in CREDENTIAL_MARKERS if marker in text] == [], path.name
    for path in bicep_files():
        text = path.read_text("utf-8")
        # A @secure() parameter has no default but the empty one.
        for m in re.finditer(r"@secure\(\)\s*(?:@description\('.*'\)\s*)?param (\w+) (.*)", text):
            assert m.group(2) in ("string", "string = ''"), m.group(1)
        # No literal that looks like a key, a token or a client secret.
        for literal in STRING.findall(text):
            value = literal[1:-1]
            looks_random = (
                len(value) >= 24
                and re.fullmatch(r"[A-Za-z0-9+/=~._-]+", value)
                and re.search(r"\d", value)
                and re.search(r"[A-Z]", value)
                and re.search(r"[a-z]", value)
            )
            assert not (looks_random and not GUID.fullmatch(value)), (path.name, value)
    # Parameter values only ever name azd environment variables.
    for name, entry in json.loads(PARAMETERS.read_text("utf-8"))["parameters"].items():
        assert re.fullmatch(r"\$\{[A-Z][A-Z0-9_]*\}", entry["value"]), name


def test_every_parameter_of_main_has_a_value_or_a_default_and_no_value_is_unknown() -> None:
    declared = params(MAIN.read_text("utf-8"))
    given = json.loads(PARAMETERS.read_text("utf-8"))["parameters"]
    assert [
        name for name, has_default in declared.items() if not (has_default or name in given)
    ] == []
    assert set(given) - set(declared) == set()  # ARM refuses a value for no parameter
    # azd fills the first two; it asks for the app registration when AUTH_CLIENT_ID is not set.
    required = {name for name, has_default in declared.items() if not has_default}
    assert required == {"environmentName", "location", "authClientId"}
    assert given["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert given["location"]["value"] == "${AZURE_LOCATION}"
    assert given["principalId"]["value"] == "${AZURE_PRINCIPAL_ID}"
    assert given["authClientId"]["value"] == "${AUTH_CLIENT_ID}"


def test_modules_are_called_with_parameters_and_outputs_they_have() -> None:
    for path in bicep_files():
        text = path.read_text("utf-8")
        for symbol, ref, passed in modules(text):
            used = set(re.findall(rf"\b{symbol}\.outputs\.(\w+)", text))
            if ref.startswith("br/public:"):
                assert ref in AVM, ref
                known_params, known_outputs = AVM[ref]
                assert passed <= known_params, (symbol, passed - known_params)
                assert used <= known_outputs, (symbol, used - known_outputs)
                continue
            module = (path.parent / ref).read_text("utf-8")
            declared = params(module)
            outputs = set(re.findall(r"^output\s+(\w+)\s", module, re.MULTILINE))
            assert passed <= set(declared), (symbol, passed - set(declared))
            required = {name for name, has_default in declared.items() if not has_default}
            assert required <= passed, (symbol, required - passed)
            assert used <= outputs, (symbol, used - outputs)


def test_every_symbol_referenced_is_declared() -> None:
    for path in bicep_files():
        text = code(path.read_text("utf-8"), strings=True)
        declared = set(re.findall(r"^(?:param|var|resource|module)\s+(\w+)", text, re.MULTILINE))
        referenced = set(re.findall(r"\b(\w+)\.(?:outputs|properties|id|name)\b", text))
        assert referenced - declared == set(), path.name


def test_funcignore_keeps_the_infrastructure_and_azd_state_out_of_the_deployment_zip() -> None:
    entries = {
        line.strip().strip("/")
        for line in (ROOT / ".funcignore").read_text("utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {"infra", "azure.yaml", ".azure"} <= entries
