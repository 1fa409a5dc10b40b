"""Unit tests for adapters.settings: sources, precedence, normalisation and validation."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from adapters.errors import ConfigurationError
from adapters.settings import (
    DEFAULT_API_VERSION,
    PUBLIC_SCOPE,
    SETTINGS_KEYWORDS,
    TOKEN_CREDENTIALS_VALUES,
    Settings,
    scope_for_endpoint,
)

ENDPOINT = "https://myres.openai.azure.com"
GUID = "11111111-2222-4333-8444-555555555555"
TENANT = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
GOV_SCOPE = "https://cognitiveservices.azure.us/.default"
CHINA_SCOPE = "https://cognitiveservices.azure.cn/.default"


def error_for(environ: dict[str, str] | None = None, **overrides: object) -> str:
    """Return the ConfigurationError message raised for these inputs."""
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env(environ or {}, **overrides)
    return str(info.value)


# --- sources and precedence ------------------------------------------------------------


def test_empty_environment_gives_defaults() -> None:
    """With nothing set, every field has its default and says so in sources."""
    settings = Settings.from_env({})
    assert settings.endpoint is None
    assert settings.api_version == DEFAULT_API_VERSION
    assert settings.scope == PUBLIC_SCOPE
    assert settings.running_on_azure is False
    assert settings.token_credentials is None
    assert dict(settings.sources) == {
        "endpoint": "unset",
        "api_version": "default",
        "chat_deployment": "unset",
        "embedding_deployment": "unset",
        "scope": "default",
        "client_id": "unset",
        "tenant_id": "unset",
        "running_on_azure": "default",
        "token_credentials": "unset",
    }


def test_every_field_is_read_from_its_environment_variable() -> None:
    """Each documented variable fills its field and is named in sources."""
    settings = Settings.from_env(
        {
            "AZURE_OPENAI_ENDPOINT": ENDPOINT,
            "AZURE_OPENAI_API_VERSION": "2025-01-01-preview",
            "AZURE_OPENAI_CHAT_DEPLOYMENT": "chat-dep",
            "AZURE_OPENAI_EMBEDDING_DEPLOYMENT": "emb-dep",
            "AZURE_OPENAI_SCOPE": "api://custom/.default",
            "AZURE_CLIENT_ID": GUID,
            "AZURE_TENANT_ID": TENANT,
            "RUNNING_ON_AZURE": "true",
            "AZURE_TOKEN_CREDENTIALS": "prod",
        }
    )
    assert settings == Settings(
        endpoint=ENDPOINT,
        api_version="2025-01-01-preview",
        chat_deployment="chat-dep",
        embedding_deployment="emb-dep",
        scope="api://custom/.default",
        client_id=GUID,
        tenant_id=TENANT,
        running_on_azure=True,
        token_credentials="prod",
    )
    assert settings.sources["endpoint"] == "env AZURE_OPENAI_ENDPOINT"
    assert settings.sources["running_on_azure"] == "env RUNNING_ON_AZURE"


def test_keyword_beats_environment() -> None:
    """A keyword argument wins over the variable and is recorded as "argument"."""
    settings = Settings.from_env(
        {"AZURE_OPENAI_CHAT_DEPLOYMENT": "from-env"}, chat_deployment="from-arg"
    )
    assert settings.chat_deployment == "from-arg"
    assert settings.sources["chat_deployment"] == "argument"


@pytest.mark.parametrize("given", [None, "", "  "], ids=["none", "empty", "blank"])
def test_none_or_blank_keyword_means_not_given(given: str | None) -> None:
    """endpoint=None (or a blank string) falls through to the environment."""
    settings = Settings.from_env({"AZURE_OPENAI_ENDPOINT": ENDPOINT}, endpoint=given)
    assert settings.endpoint == ENDPOINT
    assert settings.sources["endpoint"] == "env AZURE_OPENAI_ENDPOINT"


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"], ids=["empty", "spaces", "tab-newline"])
def test_blank_environment_value_counts_as_unset(blank: str) -> None:
    """An empty or blank variable is treated as not set."""
    settings = Settings.from_env({"AZURE_OPENAI_ENDPOINT": blank, "AZURE_CLIENT_ID": blank})
    assert settings.endpoint is None
    assert settings.client_id is None
    assert settings.sources["endpoint"] == "unset"


def test_surrounding_whitespace_is_stripped() -> None:
    """Leading and trailing whitespace (a pasted newline) is dropped."""
    settings = Settings.from_env({"AZURE_OPENAI_CHAT_DEPLOYMENT": "  chat-dep\n"})
    assert settings.chat_deployment == "chat-dep"


def test_os_environ_is_read_when_no_mapping_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """environ=None reads os.environ."""
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", ENDPOINT)
    assert Settings.from_env().endpoint == ENDPOINT


@pytest.mark.parametrize(
    ("environ", "expected", "source"),
    [
        ({"OPENAI_API_VERSION": "2024-06-01"}, "2024-06-01", "env OPENAI_API_VERSION"),
        (
            {"AZURE_OPENAI_API_VERSION": "2024-08-01", "OPENAI_API_VERSION": "2024-06-01"},
            "2024-08-01",
            "env AZURE_OPENAI_API_VERSION",
        ),
        ({}, DEFAULT_API_VERSION, "default"),
    ],
    ids=["openai-fallback", "azure-wins", "default"],
)
def test_api_version_precedence(environ: dict[str, str], expected: str, source: str) -> None:
    """AZURE_OPENAI_API_VERSION, then OPENAI_API_VERSION, then the default."""
    settings = Settings.from_env(environ)
    assert (settings.api_version, settings.sources["api_version"]) == (expected, source)


def test_settings_keywords_are_the_documented_ones() -> None:
    """SETTINGS_KEYWORDS lists exactly the accepted override names."""
    assert {
        "endpoint",
        "api_version",
        "chat_deployment",
        "embedding_deployment",
        "scope",
        "client_id",
        "tenant_id",
        "running_on_azure",
        "token_credentials",
    } == SETTINGS_KEYWORDS


def test_unknown_keyword_suggests_the_closest_and_lists_all() -> None:
    """A misspelt keyword gets a "did you mean" and the accepted list."""
    message = error_for(endpont=ENDPOINT)
    assert "'endpont'" in message
    assert "did you mean 'endpoint'?" in message
    for name in SETTINGS_KEYWORDS:
        assert name in message


def test_keyword_of_the_wrong_type_is_refused() -> None:
    """A non-string override names the argument and the expected type."""
    assert "endpoint= must be a string, got int" in error_for(endpoint=42)


# --- endpoint ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("https://myres.openai.azure.com/", ENDPOINT),
        ("https://MyRes.OpenAI.Azure.com", ENDPOINT),
        ("HTTPS://myres.openai.azure.com//", ENDPOINT),
        ("https://myres.openai.azure.com:443/", "https://myres.openai.azure.com:443"),
        ("https://contoso-ai.example.org", "https://contoso-ai.example.org"),
    ],
    ids=["trailing-slash", "mixed-case", "upper-scheme", "explicit-port", "custom-domain"],
)
def test_endpoint_is_normalised(raw: str, normalised: str) -> None:
    """The endpoint is reduced to lower-case scheme://host[:port] with no trailing slash."""
    assert Settings.from_env({"AZURE_OPENAI_ENDPOINT": raw}).endpoint == normalised


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://localhost:8080",
        "http://127.0.0.1:8080/",
        "http://127.9.8.7",
        "http://[::1]:5000",
    ],
    ids=["localhost", "127.0.0.1", "127/8", "ipv6-loopback"],
)
def test_plain_http_is_allowed_for_loopback(endpoint: str) -> None:
    """Loopback emulators may use plain http."""
    assert Settings.from_env({"AZURE_OPENAI_ENDPOINT": endpoint}).endpoint == endpoint.rstrip("/")


@pytest.mark.parametrize(
    ("endpoint", "fragments"),
    [
        (
            "http://myres.openai.azure.com",
            ["plain http", "use https://", "loopback", "unencrypted"],
        ),
        ("http://10.0.0.5", ["plain http", "loopback"]),
        ("ftp://myres.openai.azure.com", ["must be an https URL", "'ftp'"]),
        (
            "myres.openai.azure.com",
            ["is not a URL", "AZURE_OPENAI_ENDPOINT=https://myres.openai.azure.com"],
        ),
        (
            "https://myres.openai.azure.com/openai/v1/",
            ["a path (/openai/v1/)", f"keep only the scheme and host, {ENDPOINT}"],
        ),
        (
            "https://myres.openai.azure.com/openai/deployments/gpt4o/chat/completions"
            "?api-version=2024-10-21",
            [
                "a path (/openai/deployments/gpt4o/chat/completions)",
                "a query string",
                "AZURE_OPENAI_CHAT_DEPLOYMENT",
                "'gpt4o'",
                "AZURE_OPENAI_API_VERSION",
            ],
        ),
        ("https://myres.openai.azure.com/?foo=bar", ["a query string", ENDPOINT]),
        ("https://myres.openai.azure.com/#section", ["a fragment", ENDPOINT]),
        ("https://", ["no host name"]),
        ("https://myres.openai.azure.com:99999", ["not a valid URL"]),
        ('"https://myres.openai.azure.com"', ["quote characters", "remove them"]),
        ("https://myres.openai .azure.com", ["whitespace"]),
    ],
    ids=[
        "http-remote",
        "http-private-ip",
        "ftp",
        "no-scheme",
        "v1-path",
        "pasted-request-url",
        "query",
        "fragment",
        "no-host",
        "bad-port",
        "shell-quotes",
        "inner-space",
    ],
)
def test_bad_endpoint_is_explained(endpoint: str, fragments: list[str]) -> None:
    """Each kind of bad endpoint gets a message naming the variable and the fix."""
    message = error_for({"AZURE_OPENAI_ENDPOINT": endpoint})
    assert message.startswith("AZURE_OPENAI_ENDPOINT")
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://myres.openai.azure.com/?api-key=s3cretvalue",
        "https://myres.openai.azure.com/openai/v1?key=s3cretvalue",
        "https://apikey:s3cretvalue@myres.openai.azure.com",
        "https://s3cretvalue@myres.openai.azure.com/",
    ],
    ids=["api-key-query", "key-query", "userinfo-password", "userinfo-user"],
)
def test_endpoint_with_embedded_credentials_is_refused_without_echoing_them(
    endpoint: str,
) -> None:
    """A key in the URL is refused, the message says keys are never used, and hides it."""
    message = error_for({"AZURE_OPENAI_ENDPOINT": endpoint})
    assert "never use" in message
    assert "remove" in message
    assert ENDPOINT in message
    assert "s3cretvalue" not in message


@pytest.mark.parametrize(
    "endpoint",
    ["https://apikey:s3cretvalue", "s3cretvalue@myres", "https://[s3cretvalue"],
    ids=["key-as-port", "no-scheme-userinfo", "broken-ipv6"],
)
def test_unparseable_endpoint_never_echoes_its_parts(endpoint: str) -> None:
    """Even malformed URLs are explained without quoting what might be a key."""
    assert "s3cretvalue" not in error_for({"AZURE_OPENAI_ENDPOINT": endpoint})


def test_endpoint_argument_is_named_as_an_argument() -> None:
    """A bad endpoint= names the argument, not the variable."""
    message = error_for(endpoint="http://example.com")
    assert message.startswith("endpoint=")
    assert "AZURE_OPENAI_ENDPOINT" not in message


# --- scope -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "scope"),
    [
        ("https://myres.openai.azure.com", PUBLIC_SCOPE),
        ("https://myres.cognitiveservices.azure.com", PUBLIC_SCOPE),
        ("https://myres.services.ai.azure.com", PUBLIC_SCOPE),
        ("https://myres.openai.azure.us", GOV_SCOPE),
        ("https://myres.cognitiveservices.azure.us/", GOV_SCOPE),
        ("https://myres.openai.azure.cn", CHINA_SCOPE),
        ("https://MYRES.OPENAI.AZURE.CN", CHINA_SCOPE),
        ("myres.openai.azure.us", GOV_SCOPE),
        ("https://ai.contoso.com", PUBLIC_SCOPE),
        ("http://127.0.0.1:8080", PUBLIC_SCOPE),
        ("https://notazure.us", PUBLIC_SCOPE),
        (None, PUBLIC_SCOPE),
    ],
    ids=[
        "openai",
        "cognitiveservices",
        "ai-services",
        "gov-openai",
        "gov-cognitive",
        "china",
        "china-upper",
        "bare-host",
        "custom-domain",
        "loopback",
        "lookalike",
        "none",
    ],
)
def test_scope_follows_the_endpoint_cloud(endpoint: str | None, scope: str) -> None:
    """Public, Government and China endpoints map to their cloud's scope."""
    assert scope_for_endpoint(endpoint) == scope


def test_scope_is_derived_from_the_endpoint() -> None:
    """Without an override the scope comes from the endpoint, and sources says so."""
    settings = Settings.from_env({"AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.us"})
    assert settings.scope == GOV_SCOPE
    assert settings.sources["scope"] == "derived from endpoint"


@pytest.mark.parametrize(
    ("environ", "overrides", "source"),
    [
        ({"AZURE_OPENAI_SCOPE": "api://custom/.default"}, {}, "env AZURE_OPENAI_SCOPE"),
        ({}, {"scope": "api://custom/.default"}, "argument"),
    ],
    ids=["env", "argument"],
)
def test_scope_override_beats_the_endpoint(
    environ: dict[str, str], overrides: dict[str, str], source: str
) -> None:
    """An explicit scope is kept even for an endpoint of another cloud."""
    environ = {"AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.us", **environ}
    settings = Settings.from_env(environ, **overrides)
    assert (settings.scope, settings.sources["scope"]) == ("api://custom/.default", source)


@pytest.mark.parametrize(
    ("scope", "suggestion"),
    [
        ("https://cognitiveservices.azure.com", PUBLIC_SCOPE),
        ("https://cognitiveservices.azure.com/", PUBLIC_SCOPE),
        ("https://cognitiveservices.azure.com/user_impersonation", PUBLIC_SCOPE),
        ("api://my-app", "api://my-app/.default"),
    ],
    ids=["no-suffix", "trailing-slash", "other-permission", "app-id-uri"],
)
def test_scope_without_default_suffix_suggests_the_fixed_value(scope: str, suggestion: str) -> None:
    """A scope not ending in /.default is refused with the corrected value."""
    message = error_for({"AZURE_OPENAI_SCOPE": scope})
    assert "must end in /.default" in message
    assert f"use AZURE_OPENAI_SCOPE={suggestion}" in message
    assert "unset AZURE_OPENAI_SCOPE" in message


# --- api version -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("2024-10-21", "2024-10-21"),
        ("2025-04-01-preview", "2025-04-01-preview"),
        ("2025-04-01-Preview", "2025-04-01-preview"),
        ("preview", "preview"),
        ("LATEST", "latest"),
    ],
    ids=["ga", "preview-suffix", "preview-case", "preview", "latest"],
)
def test_valid_api_versions_are_accepted(raw: str, value: str) -> None:
    """Dated versions, -preview versions, preview and latest are accepted, lower-cased."""
    assert Settings.from_env({"AZURE_OPENAI_API_VERSION": raw}).api_version == value


@pytest.mark.parametrize(
    ("raw", "fragments"),
    [
        ("2024-10", ["'2024-10'", "YYYY-MM-DD"]),
        ("2024-13-01", ["'2024-13-01'", "YYYY-MM-DD-preview"]),
        ("24-10-21", ["not an Azure OpenAI API version"]),
        ("2024-10-21-beta", ["not an Azure OpenAI API version"]),
        ("v1", ["v1 surface", "preview or latest"]),
    ],
    ids=["no-day", "impossible-month", "two-digit-year", "beta", "v1"],
)
def test_bad_api_version_is_explained(raw: str, fragments: list[str]) -> None:
    """A malformed API version names the variable, the formats and the default."""
    message = error_for({"AZURE_OPENAI_API_VERSION": raw})
    assert message.startswith("AZURE_OPENAI_API_VERSION=")
    assert DEFAULT_API_VERSION in message
    for fragment in fragments:
        assert fragment in message


def test_bad_openai_api_version_names_that_variable() -> None:
    """The message names OPENAI_API_VERSION when the value came from there."""
    assert error_for({"OPENAI_API_VERSION": "nope"}).startswith("OPENAI_API_VERSION='nope'")


# --- deployments -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AZURE_OPENAI_CHAT_DEPLOYMENT", "gpt-4o/chat"),
        ("AZURE_OPENAI_EMBEDDING_DEPLOYMENT", "https://x.openai.azure.com"),
        ("AZURE_OPENAI_CHAT_DEPLOYMENT", "gpt?api-version=1"),
    ],
    ids=["slash", "url", "query"],
)
def test_bad_deployment_name_is_explained(variable: str, value: str) -> None:
    """A URL or path in a deployment variable is refused with the allowed characters."""
    message = error_for({variable: value})
    assert message.startswith(variable)
    assert "is not a deployment name" in message


# --- identity ----------------------------------------------------------------------------


def test_client_id_guid_is_lower_cased() -> None:
    """A valid client id is kept (lower-cased)."""
    assert Settings.from_env({"AZURE_CLIENT_ID": GUID.upper()}).client_id == GUID


@pytest.mark.parametrize(
    ("value", "placeholder"),
    [
        ("<client-id>", True),
        ("your-client-id", True),
        ("00000000-0000-0000-0000-000000000000", True),
        ("${AZURE_CLIENT_ID}", True),
        ("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", True),
        ("my-identity", False),
        ("1111111-2222-4333-8444-555555555555", False),
    ],
    ids=["angle", "your", "all-zero", "shell-var", "x-mask", "name", "short-guid"],
)
def test_bad_client_id_says_how_to_fix_it(value: str, placeholder: bool) -> None:
    """A non-GUID client id points at the user-assigned identity's GUID or unsetting it."""
    message = error_for({"AZURE_CLIENT_ID": value})
    assert message.startswith("AZURE_CLIENT_ID")
    assert "user-assigned managed identity" in message
    assert "GUID" in message
    assert "unset AZURE_CLIENT_ID to use the system-assigned managed identity" in message
    assert ("looks like a placeholder" in message) is placeholder


def test_client_id_argument_error_names_the_argument() -> None:
    """A bad client_id= says to drop the argument rather than unset a variable."""
    message = error_for(client_id="<client-id>")
    assert message.startswith("client_id='<client-id>'")
    assert "drop the client_id= argument" in message


@pytest.mark.parametrize(
    "value",
    [TENANT, "contoso.onmicrosoft.com", "Contoso.COM"],
    ids=["guid", "onmicrosoft", "custom-domain"],
)
def test_valid_tenant_ids_are_accepted(value: str) -> None:
    """A tenant is a GUID or a domain name."""
    assert Settings.from_env({"AZURE_TENANT_ID": value}).tenant_id == value.lower()


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("<tenant-id>", "looks like a placeholder"),
        ("your-tenant-id", "looks like a placeholder"),
        ("00000000-0000-0000-0000-000000000000", "looks like a placeholder"),
        ("contoso", "neither a tenant id GUID nor a domain"),
    ],
    ids=["angle", "your", "all-zero", "bare-word"],
)
def test_bad_tenant_id_is_explained(value: str, fragment: str) -> None:
    """A placeholder or bare word in AZURE_TENANT_ID names the accepted forms."""
    message = error_for({"AZURE_TENANT_ID": value})
    assert fragment in message
    assert "contoso.onmicrosoft.com" in message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("true", True),
        ("TRUE", True),
        ("yes", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("no", False),
        ("off", False),
    ],
)
def test_running_on_azure_accepts_boolean_strings(raw: str, expected: bool) -> None:
    """RUNNING_ON_AZURE understands the usual truthy and falsy strings."""
    assert Settings.from_env({"RUNNING_ON_AZURE": raw}).running_on_azure is expected


def test_running_on_azure_argument_accepts_a_bool() -> None:
    """running_on_azure=True is accepted as is."""
    settings = Settings.from_env({"RUNNING_ON_AZURE": "0"}, running_on_azure=True)
    assert settings.running_on_azure is True
    assert settings.sources["running_on_azure"] == "argument"


def test_running_on_azure_rejects_other_strings() -> None:
    """A value that is not a boolean is refused with the accepted spellings."""
    message = error_for({"RUNNING_ON_AZURE": "maybe"})
    assert "RUNNING_ON_AZURE='maybe' is not a boolean" in message
    assert "true or false" in message


# --- AZURE_TOKEN_CREDENTIALS ------------------------------------------------------------


def test_token_credentials_is_lower_cased() -> None:
    """AZURE_TOKEN_CREDENTIALS is normalised like azure-identity does."""
    settings = Settings.from_env({"AZURE_TOKEN_CREDENTIALS": " ManagedIdentityCredential "})
    assert settings.token_credentials == "managedidentitycredential"


def test_unknown_token_credentials_lists_the_valid_values() -> None:
    """An unknown value lists every valid one and suggests the closest."""
    message = error_for({"AZURE_TOKEN_CREDENTIALS": "managedidentity"})
    assert message.startswith("AZURE_TOKEN_CREDENTIALS='managedidentity'")
    for value in TOKEN_CREDENTIALS_VALUES:
        assert value in message
    assert "Did you mean 'managedidentitycredential'?" in message


def test_token_credentials_values_match_azure_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our list equals the one azure-identity's DefaultAzureCredential accepts."""
    from azure.identity import DefaultAzureCredential

    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "not-a-credential")
    with pytest.raises(ValueError, match="Valid values are") as info:
        DefaultAzureCredential()
    listed = re.search(r"Valid values are: (.*)\.", str(info.value))
    assert listed is not None
    assert set(listed.group(1).split(", ")) == set(TOKEN_CREDENTIALS_VALUES)


# --- pasted values ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("AZURE_OPENAI_CHAT_DEPLOYMENT", "'gpt-4o'", "quote characters"),
        ("AZURE_CLIENT_ID", f'"{GUID}"', "quote characters"),
        ("AZURE_OPENAI_API_VERSION", "2024-10-21 preview", "whitespace"),
        ("AZURE_TENANT_ID", "contoso.onmicrosoft.com\nx", "whitespace"),
    ],
    ids=["single-quotes", "double-quotes", "inner-space", "inner-newline"],
)
def test_quotes_and_inner_whitespace_are_refused(variable: str, value: str, fragment: str) -> None:
    """Values pasted with shell quotes or inner whitespace say so."""
    message = error_for({variable: value})
    assert message.startswith(variable)
    assert fragment in message


def test_long_opaque_value_is_not_echoed() -> None:
    """A key pasted into the wrong variable is described, never printed."""
    key = "0123456789abcdef0123456789abcdef"
    message = error_for({"AZURE_OPENAI_API_VERSION": key})
    assert key not in message
    assert "32-character value" in message


# --- require_* ---------------------------------------------------------------------------


def test_require_endpoint_returns_the_endpoint() -> None:
    """require_endpoint returns the configured endpoint."""
    assert Settings.from_env({"AZURE_OPENAI_ENDPOINT": ENDPOINT}).require_endpoint() == ENDPOINT


def test_require_endpoint_explains_how_to_set_it() -> None:
    """Without an endpoint the message gives the variable and the argument."""
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({}).require_endpoint()
    assert str(info.value) == (
        "No Azure OpenAI endpoint: set AZURE_OPENAI_ENDPOINT=https://<resource>.openai.azure.com"
        " or pass endpoint=..."
    )


@pytest.mark.parametrize(
    ("kind", "variable"),
    [("chat", "AZURE_OPENAI_CHAT_DEPLOYMENT"), ("embedding", "AZURE_OPENAI_EMBEDDING_DEPLOYMENT")],
)
def test_require_deployment_explains_deployment_versus_model(kind: str, variable: str) -> None:
    """A missing deployment names the variable, deployment= and the model-name trap."""
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({}).require_deployment(kind)  # type: ignore[arg-type]
    message = str(info.value)
    assert f"set {variable}=" in message
    assert "deployment=" in message
    assert "not the model name" in message
    assert "DeploymentNotFound" in message


def test_require_deployment_returns_the_name() -> None:
    """require_deployment returns the configured deployment."""
    settings = Settings.from_env({"AZURE_OPENAI_EMBEDDING_DEPLOYMENT": "emb"})
    assert settings.require_deployment("embedding") == "emb"


def test_require_deployment_rejects_an_unknown_kind() -> None:
    """Only chat and embedding are deployment kinds."""
    with pytest.raises(ConfigurationError, match="'chat' or 'embedding'"):
        Settings.from_env({}).require_deployment("image")  # type: ignore[arg-type]


# --- serialisation and value semantics ---------------------------------------------------


def test_to_json_round_trips_to_dict() -> None:
    """to_json is the JSON form of to_dict, with sources as a plain object."""
    settings = Settings.from_env({"AZURE_OPENAI_ENDPOINT": ENDPOINT}, running_on_azure=True)
    data = json.loads(settings.to_json())
    assert data == settings.to_dict()
    assert data["endpoint"] == ENDPOINT
    assert data["sources"]["running_on_azure"] == "argument"


def test_secrets_in_the_environment_never_reach_settings() -> None:
    """Keys and client secrets around in the environment are not stored or shown."""
    settings = Settings.from_env(
        {
            "AZURE_OPENAI_ENDPOINT": ENDPOINT,
            "AZURE_OPENAI_API_KEY": "k3y-value",
            "AZURE_CLIENT_SECRET": "s3cret-value",
        }
    )
    for text in (repr(settings), settings.to_json()):
        assert "k3y-value" not in text
        assert "s3cret-value" not in text


def test_settings_are_frozen_and_hashable() -> None:
    """Settings are immutable values usable as dict keys; sources is read-only."""
    settings = Settings.from_env({"AZURE_OPENAI_ENDPOINT": ENDPOINT})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.endpoint = "https://other.openai.azure.com"  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings.sources["endpoint"] = "argument"  # type: ignore[index]
    assert hash(settings) == hash(Settings.from_env({}, endpoint=ENDPOINT))
