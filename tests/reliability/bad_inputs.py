"""Malformed settings, environments and arguments, and the error each one must produce.

The table is data: ``test_bad_inputs.py`` checks every row against the library, and
``python -m tests.reliability.bad_inputs`` prints it as the Markdown table committed as
``docs/snippets/bad-inputs.md`` (included by the troubleshooting page). A test fails when
the committed snippet and this table differ; regenerate it with::

    uv run python -m tests.reliability.bad_inputs > docs/snippets/bad-inputs.md
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from adapters.errors import ConfigurationError, TokenRefreshError

ENDPOINT = "https://contoso.openai.azure.com"
SECRET = "sk-planted-secret-0123456789abcdef"
"""A fake key planted in some inputs: it must never appear in the error message."""


@dataclass(frozen=True)
class BadInput:
    """One bad input and the error it must produce.

    Attributes:
        where: What kind of input it is (an environment variable, a keyword...).
        given: The input, as a user would write it (shown in the docs).
        call: Feeds the input to the library.
        error: The exception type expected.
        fragment: Text the message must contain, exactly.
        env: Environment variables set for the call (on top of a clean environment).
        secret: A value of the input that the message must not repeat.
    """

    where: str
    given: str
    call: Callable[[], Any] = field(repr=False, compare=False)
    error: type[Exception]
    fragment: str
    env: Mapping[str, str] = field(default_factory=dict)
    secret: str | None = None

    @property
    def id(self) -> str:
        """A short test id."""
        return f"{self.where.split()[0]}:{self.given}"[:60]


def _settings(**environ: str) -> Callable[[], Any]:
    def call() -> Any:
        from adapters import Settings

        return Settings.from_env(environ)

    return call


def _settings_kw(**keywords: Any) -> Callable[[], Any]:
    def call() -> Any:
        from adapters import Settings

        return Settings.from_env({}, **keywords)

    return call


def _adapter(module: str, function: str, **keywords: Any) -> Callable[[], Any]:
    def call() -> Any:
        import importlib

        return getattr(importlib.import_module(f"adapters.{module}"), function)(**keywords)

    return call


def _first_token() -> Any:
    from adapters import get_provider

    return get_provider()()


def _token_provider(**keywords: Any) -> Callable[[], Any]:
    def call() -> Any:
        from adapters import TokenProvider

        class Credential:
            def get_token(self, *scopes: str, **kwargs: Any) -> Any:
                raise AssertionError("never called")

        credential = keywords.pop("credential", Credential())
        return TokenProvider(credential, **keywords)

    return call


def _no_credential() -> Any:
    from adapters import TokenProvider

    return TokenProvider()


def _policy() -> Any:
    from adapters import RefreshPolicy

    return RefreshPolicy(advisory_window=10, mandatory_window=60)


def _provider_both() -> Any:
    from adapters import Settings, get_provider

    return get_provider(Settings.from_env({}), scope="https://cognitiveservices.azure.com/.default")


ENV = "environment variable"
KEYWORD = "Settings keyword"
ADAPTER = "adapter keyword"
CORE = "core argument"
SETUP = "environment"

BAD_INPUTS: tuple[BadInput, ...] = (
    BadInput(
        ENV,
        "AZURE_OPENAI_ENDPOINT=contoso.openai.azure.com",
        _settings(AZURE_OPENAI_ENDPOINT="contoso.openai.azure.com"),
        ConfigurationError,
        "AZURE_OPENAI_ENDPOINT is not a URL: it needs the https:// scheme",
    ),
    BadInput(
        ENV,
        "AZURE_OPENAI_ENDPOINT=http://contoso.openai.azure.com",
        _settings(AZURE_OPENAI_ENDPOINT="http://contoso.openai.azure.com"),
        ConfigurationError,
        "uses plain http://contoso.openai.azure.com: use https://",
    ),
    BadInput(
        ENV,
        f"AZURE_OPENAI_ENDPOINT={ENDPOINT}/?api-key={SECRET}",
        _settings(AZURE_OPENAI_ENDPOINT=f"{ENDPOINT}/?api-key={SECRET}"),
        ConfigurationError,
        "carries a key in its query string (api-key=...)",
        secret=SECRET,
    ),
    BadInput(
        ENV,
        f"AZURE_OPENAI_ENDPOINT=https://me:{SECRET}@contoso.openai.azure.com",
        _settings(AZURE_OPENAI_ENDPOINT=f"https://me:{SECRET}@contoso.openai.azure.com"),
        ConfigurationError,
        "contains credentials before the host (user:password@)",
        secret=SECRET,
    ),
    BadInput(
        ENV,
        f"AZURE_OPENAI_ENDPOINT={ENDPOINT}/openai/deployments/gpt-4o/chat/completions",
        _settings(AZURE_OPENAI_ENDPOINT=f"{ENDPOINT}/openai/deployments/gpt-4o/chat/completions"),
        ConfigurationError,
        "The deployment name goes in AZURE_OPENAI_CHAT_DEPLOYMENT or "
        "AZURE_OPENAI_EMBEDDING_DEPLOYMENT (here 'gpt-4o'), not in the URL.",
    ),
    BadInput(
        ENV,
        f'AZURE_OPENAI_ENDPOINT="{ENDPOINT}" (quotes included)',
        _settings(AZURE_OPENAI_ENDPOINT=f'"{ENDPOINT}"'),
        ConfigurationError,
        "AZURE_OPENAI_ENDPOINT contains quote characters: remove them",
    ),
    BadInput(
        ENV,
        "AZURE_OPENAI_API_VERSION=v1",
        _settings(AZURE_OPENAI_API_VERSION="v1"),
        ConfigurationError,
        "The v1 surface (/openai/v1/) needs no dated version",
    ),
    BadInput(
        ENV,
        "OPENAI_API_VERSION=2024-13-45",
        _settings(OPENAI_API_VERSION="2024-13-45"),
        ConfigurationError,
        "OPENAI_API_VERSION='2024-13-45' is not an Azure OpenAI API version",
    ),
    BadInput(
        ENV,
        "AZURE_OPENAI_CHAT_DEPLOYMENT=deployments/gpt-4o",
        _settings(AZURE_OPENAI_CHAT_DEPLOYMENT="deployments/gpt-4o"),
        ConfigurationError,
        "is not a deployment name (it contains '/')",
    ),
    BadInput(
        ENV,
        "AZURE_OPENAI_SCOPE=https://cognitiveservices.azure.com",
        _settings(AZURE_OPENAI_SCOPE="https://cognitiveservices.azure.com"),
        ConfigurationError,
        "must end in /.default",
    ),
    BadInput(
        ENV,
        "AZURE_CLIENT_ID=<your-client-id>",
        _settings(AZURE_CLIENT_ID="<your-client-id>"),
        ConfigurationError,
        "AZURE_CLIENT_ID='<your-client-id>' looks like a placeholder",
    ),
    BadInput(
        ENV,
        "AZURE_CLIENT_ID=my-app-identity",
        _settings(AZURE_CLIENT_ID="my-app-identity"),
        ConfigurationError,
        "AZURE_CLIENT_ID is not a client id (a GUID)",
    ),
    BadInput(
        ENV,
        "AZURE_TENANT_ID=00000000-0000-0000-0000-000000000000",
        _settings(AZURE_TENANT_ID="00000000-0000-0000-0000-000000000000"),
        ConfigurationError,
        "looks like a placeholder: set AZURE_TENANT_ID to your Microsoft Entra tenant",
    ),
    BadInput(
        ENV,
        "AZURE_TOKEN_CREDENTIALS=AzureCliCredentail",
        _settings(AZURE_TOKEN_CREDENTIALS="AzureCliCredentail"),
        ConfigurationError,
        "Did you mean 'azureclicredential'?",
    ),
    BadInput(
        ENV,
        "RUNNING_ON_AZURE=maybe",
        _settings(RUNNING_ON_AZURE="maybe"),
        ConfigurationError,
        "is not a boolean: use true or false (1 or 0)",
    ),
    BadInput(
        KEYWORD,
        f'Settings.from_env(endpont="{ENDPOINT}")',
        _settings_kw(endpont=ENDPOINT),
        ConfigurationError,
        "Unknown setting 'endpont' (did you mean 'endpoint'?)",
    ),
    BadInput(
        KEYWORD,
        "Settings.from_env(scope=123)",
        _settings_kw(scope=123),
        ConfigurationError,
        "scope= must be a string, got int",
    ),
    BadInput(
        KEYWORD,
        'Settings.from_env(scope="api://my-app")',
        _settings_kw(scope="api://my-app"),
        ConfigurationError,
        "scope='api://my-app' must end in /.default",
    ),
    BadInput(
        ADAPTER,
        f'openai.client(api_key="{SECRET}")',
        _adapter("openai", "client", endpoint=ENDPOINT, api_key=SECRET),
        ConfigurationError,
        "client() got api_key=: keyless-adapters supplies authentication itself",
        secret=SECRET,
    ),
    BadInput(
        ADAPTER,
        "langchain.chat_model(azure_ad_token_provider=my_provider)",
        _adapter(
            "langchain",
            "chat_model",
            endpoint=ENDPOINT,
            deployment="chat",
            azure_ad_token_provider=lambda: "token",
        ),
        ConfigurationError,
        "chat_model() got azure_ad_token_provider=",
    ),
    BadInput(
        ADAPTER,
        "llama_index.llm(use_azure_ad=True)",
        _adapter("llama_index", "llm", endpoint=ENDPOINT, deployment="chat", use_azure_ad=True),
        ConfigurationError,
        "llm() got use_azure_ad=",
    ),
    BadInput(
        ADAPTER,
        f'openai.client(base_url="{ENDPOINT}/openai")',
        _adapter("openai", "client", endpoint=ENDPOINT, base_url=f"{ENDPOINT}/openai"),
        ConfigurationError,
        "so base_url= cannot be used: pass endpoint= instead.",
    ),
    BadInput(
        ADAPTER,
        f'openai.client(default_headers={{"api-key": "{SECRET}"}})',
        _adapter("openai", "client", endpoint=ENDPOINT, default_headers={"api-key": SECRET}),
        ConfigurationError,
        "client() got default_headers with api-key",
        secret=SECRET,
    ),
    BadInput(
        ADAPTER,
        f'openai.client(credential="{SECRET}")',
        _adapter("openai", "client", endpoint=ENDPOINT, credential=SECRET),
        ConfigurationError,
        "credential= must be a token credential",
        secret=SECRET,
    ),
    BadInput(
        ADAPTER,
        'openai.client(deployment="a", azure_deployment="b")',
        _adapter("openai", "client", endpoint=ENDPOINT, deployment="a", azure_deployment="b"),
        ConfigurationError,
        "got both deployment= and azure_deployment= with different values",
    ),
    BadInput(
        ADAPTER,
        'openai.v1_client(api_version="2024-10-21")',
        _adapter("openai", "v1_client", endpoint=ENDPOINT, api_version="2024-10-21"),
        ConfigurationError,
        "the v1 surface (/openai/v1/) takes no dated API version",
    ),
    BadInput(
        ADAPTER,
        "openai.client() with no AZURE_OPENAI_ENDPOINT",
        _adapter("openai", "client"),
        ConfigurationError,
        "No Azure OpenAI endpoint: set AZURE_OPENAI_ENDPOINT=",
    ),
    BadInput(
        ADAPTER,
        "langchain.chat_model() with no AZURE_OPENAI_CHAT_DEPLOYMENT",
        _adapter("langchain", "chat_model", endpoint=ENDPOINT),
        ConfigurationError,
        "No chat deployment: set AZURE_OPENAI_CHAT_DEPLOYMENT=<deployment name>",
    ),
    BadInput(
        CORE,
        'TokenProvider(credential, scope="https://cognitiveservices.azure.com")',
        _token_provider(scope="https://cognitiveservices.azure.com"),
        ConfigurationError,
        "must end in '/.default'",
    ),
    BadInput(
        CORE,
        "TokenProvider()",
        _no_credential,
        ConfigurationError,
        "TokenProvider needs a credential (sync or aio)",
    ),
    BadInput(
        CORE,
        "RefreshPolicy(advisory_window=10, mandatory_window=60)",
        _policy,
        ValueError,
        "RefreshPolicy needs 0 <= mandatory_window <= advisory_window",
    ),
    BadInput(
        CORE,
        "get_provider(settings, scope=...)",
        _provider_both,
        TypeError,
        "pass either settings= or settings keywords, not both",
    ),
    BadInput(
        SETUP,
        "AZURE_FEDERATED_TOKEN_FILE set, AZURE_CLIENT_ID and AZURE_TENANT_ID not",
        _first_token,
        ConfigurationError,
        "but AZURE_CLIENT_ID and AZURE_TENANT_ID are not",
        env={"AZURE_FEDERATED_TOKEN_FILE": "/var/run/secrets/azure/tokens/azure-identity-token"},
    ),
    BadInput(
        SETUP,
        "AZURE_CLIENT_SECRET set, AZURE_TENANT_ID and AZURE_CLIENT_ID not",
        _first_token,
        ConfigurationError,
        "but AZURE_TENANT_ID and AZURE_CLIENT_ID are not",
        env={"AZURE_CLIENT_SECRET": SECRET},
        secret=SECRET,
    ),
    BadInput(
        SETUP,
        "no identity configured and neither az nor azd on PATH",
        _first_token,
        TokenRefreshError,
        "neither the Azure CLI (`az`) nor the Azure Developer CLI (`azd`) is installed",
        env={"PATH": "/nonexistent/keyless-adapters-no-cli"},
    ),
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{_cell(text)}{pad}{fence}"


def render() -> str:
    """The table as Markdown, as committed in ``docs/snippets/bad-inputs.md``."""
    lines = [
        "<!-- Generated by `python -m tests.reliability.bad_inputs`; do not edit. -->",
        "",
        "| Input | Kind | Error | The message says |",
        "|---|---|---|---|",
    ]
    for row in BAD_INPUTS:
        lines.append(
            f"| {_code(row.given)} | {row.where} | `{row.error.__name__}` | {_cell(row.fragment)} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
