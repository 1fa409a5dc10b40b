"""Keyless ``openai`` SDK clients for Azure OpenAI.

```python
from adapters.openai import client

llm = client()  # openai.AzureOpenAI, Entra ID bearer token, refreshed forever, no key
llm.chat.completions.create(model="my-gpt-4o-deployment", messages=[...])
```

Two surfaces, sync and async each:

* the deployment-scoped surface (``{endpoint}/openai/deployments/{deployment}/...``,
  ``?api-version=``): [`client`][adapters.openai.client] and
  [`async_client`][adapters.openai.async_client] return ``openai.AzureOpenAI`` /
  ``openai.AsyncAzureOpenAI``;
* the Azure v1 surface (``{endpoint}/openai/v1/``, no dated API version):
  [`v1_client`][adapters.openai.v1_client] and
  [`async_v1_client`][adapters.openai.async_v1_client] return plain ``openai.OpenAI`` /
  ``openai.AsyncOpenAI`` whose ``api_key`` is the token provider.

Every client in the process shares one token provider per scope and identity
([`get_provider`][adapters.get_provider]): the provider is called on each request and retry
and answers from its cache, so a token is fetched once per lifetime, not once per request.
Only ``Authorization: Bearer`` is ever sent: ``AZURE_OPENAI_API_KEY``, ``OPENAI_API_KEY``,
``AZURE_OPENAI_AD_TOKEN`` and auth lines in ``OPENAI_CUSTOM_HEADERS`` are ignored, with one
warning on the ``adapters`` logger. Works with openai 2.x and 3.x.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from adapters import _framework
from adapters.errors import ConfigurationError

if TYPE_CHECKING:
    import openai
    from azure.core.credentials import TokenCredential
    from azure.core.credentials_async import AsyncTokenCredential

__all__ = ["async_client", "async_v1_client", "client", "v1_client"]


def client(
    *,
    endpoint: str | None = None,
    deployment: str | None = None,
    api_version: str | None = None,
    credential: TokenCredential | AsyncTokenCredential | None = None,
    scope: str | None = None,
    client_id: str | None = None,
    tenant_id: str | None = None,
    **kwargs: Any,
) -> openai.AzureOpenAI:
    """Return a keyless ``openai.AzureOpenAI`` for the deployment-scoped surface.

    The deployment is the name you gave the model deployment on your resource, not the
    model's name (a model name there gets 404 ``DeploymentNotFound``). Leave
    ``deployment`` unset to pass it per call as ``model=`` (the SDK puts ``model`` into the
    URL: one client then serves chat and embedding deployments); set it to bind every call
    to that deployment.

    Args:
        endpoint: ``https://<resource>.openai.azure.com``; default ``AZURE_OPENAI_ENDPOINT``.
        deployment: Deployment bound into the URL; default none (use ``model=`` per call).
        api_version: Default ``AZURE_OPENAI_API_VERSION`` or ``OPENAI_API_VERSION``, else
            the settings default.
        credential: A token credential to use instead of the environment's choice (sync or
            ``azure.identity.aio``).
        scope: Token scope; default derived from the endpoint's cloud.
        client_id: A user-assigned managed identity or app registration (``AZURE_CLIENT_ID``).
        tenant_id: The Entra ID tenant (``AZURE_TENANT_ID``).
        **kwargs: Other settings keywords (``running_on_azure``, ``token_credentials``,
            ``async_credential``) and ``openai.AzureOpenAI`` keywords (``timeout``,
            ``max_retries``, ``http_client``, ``default_headers``...).

    Returns:
        The client; its copies (``with_options``) stay keyless.

    Raises:
        ConfigurationError: A key or token was passed (``api_key=``, ``azure_ad_token=``...),
            or a setting is missing or invalid.
        MissingExtraError: openai is not installed.
    """
    _framework.import_extra("openai", "openai")
    config = _framework.configure(
        "client",
        dict(
            endpoint=endpoint,
            deployment=deployment,
            api_version=api_version,
            credential=credential,
            scope=scope,
            client_id=client_id,
            tenant_id=tenant_id,
            **kwargs,
        ),
        kind=None,
    )
    return _framework.azure_client(
        config.provider,
        endpoint=config.endpoint,
        deployment=config.deployment,
        api_version=config.api_version,
        **config.passthrough,
    )


def async_client(
    *,
    endpoint: str | None = None,
    deployment: str | None = None,
    api_version: str | None = None,
    credential: TokenCredential | AsyncTokenCredential | None = None,
    scope: str | None = None,
    client_id: str | None = None,
    tenant_id: str | None = None,
    **kwargs: Any,
) -> openai.AsyncAzureOpenAI:
    """Return a keyless ``openai.AsyncAzureOpenAI`` for the deployment-scoped surface.

    Tokens come from the provider's async face, so a refresh never blocks the event loop
    (an ``azure.identity.aio`` credential is awaited, a sync one runs in a worker thread).
    ``deployment`` is the deployment name, as in [`client`][adapters.openai.client].

    Args:
        endpoint: ``https://<resource>.openai.azure.com``; default ``AZURE_OPENAI_ENDPOINT``.
        deployment: Deployment bound into the URL; default none (use ``model=`` per call).
        api_version: Default ``AZURE_OPENAI_API_VERSION`` or ``OPENAI_API_VERSION``, else
            the settings default.
        credential: A token credential to use instead of the environment's choice.
        scope: Token scope; default derived from the endpoint's cloud.
        client_id: A user-assigned managed identity or app registration (``AZURE_CLIENT_ID``).
        tenant_id: The Entra ID tenant (``AZURE_TENANT_ID``).
        **kwargs: Other settings keywords and ``openai.AsyncAzureOpenAI`` keywords.

    Returns:
        The client.

    Raises:
        ConfigurationError: A key or token was passed, or a setting is missing or invalid.
        MissingExtraError: openai is not installed.
    """
    _framework.import_extra("openai", "openai")
    config = _framework.configure(
        "async_client",
        dict(
            endpoint=endpoint,
            deployment=deployment,
            api_version=api_version,
            credential=credential,
            scope=scope,
            client_id=client_id,
            tenant_id=tenant_id,
            **kwargs,
        ),
        kind=None,
    )
    return _framework.async_azure_client(
        config.provider,
        endpoint=config.endpoint,
        deployment=config.deployment,
        api_version=config.api_version,
        **config.passthrough,
    )


def _refuse_v1_deployment(function: str, kwargs: dict[str, Any]) -> None:
    named = [k for k in ("deployment", "azure_deployment", "deployment_name") if kwargs.get(k)]
    if named:
        raise ConfigurationError(
            f"{function}() got {named[0]}=: on the v1 surface the deployment name goes into "
            "each call as model= (client.chat.completions.create(model=<deployment>, ...)); "
            "use client() to bind a deployment."
        )


def _v1_api_version(function: str, config: _framework.AdapterConfig) -> str | None:
    """The v1 surface takes no dated version: send only ``preview``/``latest``."""
    value = config.settings.api_version
    if value in ("preview", "latest"):
        return value
    if config.settings.sources.get("api_version") == "argument":
        raise ConfigurationError(
            f"{function}(api_version={value!r}): the v1 surface (/openai/v1/) takes no dated "
            "API version: pass api_version='preview' for preview features, or drop it."
        )
    return None  # a dated version from the environment is meant for client()


def v1_client(
    *,
    endpoint: str | None = None,
    api_version: str | None = None,
    credential: TokenCredential | AsyncTokenCredential | None = None,
    scope: str | None = None,
    client_id: str | None = None,
    tenant_id: str | None = None,
    **kwargs: Any,
) -> openai.OpenAI:
    """Return a keyless ``openai.OpenAI`` for the Azure v1 surface (``{endpoint}/openai/v1/``).

    The token provider is the client's callable ``api_key``, so the SDK asks it for a token
    on every request and retry. On the v1 surface the deployment name goes into each call
    as ``model=`` (``client.chat.completions.create(model="my-gpt-4o-deployment", ...)``,
    ``client.responses.create(...)``); the client binds none.

    Args:
        endpoint: ``https://<resource>.openai.azure.com``; default ``AZURE_OPENAI_ENDPOINT``.
        api_version: ``"preview"`` (or ``"latest"``) to send ``?api-version=``; default
            none. A dated version in the environment is left to the other clients.
        credential: A token credential to use instead of the environment's choice.
        scope: Token scope; default derived from the endpoint's cloud.
        client_id: A user-assigned managed identity or app registration (``AZURE_CLIENT_ID``).
        tenant_id: The Entra ID tenant (``AZURE_TENANT_ID``).
        **kwargs: Other settings keywords and ``openai.OpenAI`` keywords (``timeout``,
            ``max_retries``, ``http_client``...).

    Returns:
        The client; ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` play no part.

    Raises:
        ConfigurationError: A key, a deployment or a dated ``api_version=`` was passed,
            or a setting is missing or invalid.
        MissingExtraError: openai is not installed.
    """
    _framework.import_extra("openai", "openai")
    _refuse_v1_deployment("v1_client", kwargs)
    config = _framework.configure(
        "v1_client",
        dict(
            endpoint=endpoint,
            api_version=api_version,
            credential=credential,
            scope=scope,
            client_id=client_id,
            tenant_id=tenant_id,
            **kwargs,
        ),
        kind=None,
    )
    return _framework.v1_client(
        config.provider,
        endpoint=config.endpoint,
        api_version=_v1_api_version("v1_client", config),
        **config.passthrough,
    )


def async_v1_client(
    *,
    endpoint: str | None = None,
    api_version: str | None = None,
    credential: TokenCredential | AsyncTokenCredential | None = None,
    scope: str | None = None,
    client_id: str | None = None,
    tenant_id: str | None = None,
    **kwargs: Any,
) -> openai.AsyncOpenAI:
    """Return a keyless ``openai.AsyncOpenAI`` for the Azure v1 surface.

    Its ``api_key`` is ``provider.async_provider``, a coroutine function (``AsyncOpenAI``
    awaits it; a sync callable would fail there). Pass the deployment name per call as
    ``model=``, as with [`v1_client`][adapters.openai.v1_client].

    Args:
        endpoint: ``https://<resource>.openai.azure.com``; default ``AZURE_OPENAI_ENDPOINT``.
        api_version: ``"preview"`` (or ``"latest"``) to send ``?api-version=``; default none.
        credential: A token credential to use instead of the environment's choice.
        scope: Token scope; default derived from the endpoint's cloud.
        client_id: A user-assigned managed identity or app registration (``AZURE_CLIENT_ID``).
        tenant_id: The Entra ID tenant (``AZURE_TENANT_ID``).
        **kwargs: Other settings keywords and ``openai.AsyncOpenAI`` keywords.

    Returns:
        The client.

    Raises:
        ConfigurationError: A key, a deployment or a dated ``api_version=`` was passed,
            or a setting is missing or invalid.
        MissingExtraError: openai is not installed.
    """
    _framework.import_extra("openai", "openai")
    _refuse_v1_deployment("async_v1_client", kwargs)
    config = _framework.configure(
        "async_v1_client",
        dict(
            endpoint=endpoint,
            api_version=api_version,
            credential=credential,
            scope=scope,
            client_id=client_id,
            tenant_id=tenant_id,
            **kwargs,
        ),
        kind=None,
    )
    return _framework.async_v1_client(
        config.provider,
        endpoint=config.endpoint,
        api_version=_v1_api_version("async_v1_client", config),
        **config.passthrough,
    )
