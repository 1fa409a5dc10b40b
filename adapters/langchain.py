"""Keyless LangChain chat models and embeddings for Azure OpenAI.

```python
from adapters.langchain import chat_model, embeddings

llm = chat_model(temperature=0)  # AzureChatOpenAI, Entra ID token, refreshed forever
llm.invoke("Hello")
await llm.ainvoke("Hello")       # the async path awaits the provider: no loop blocking
```

Both the sync and the async token provider are set, so ``invoke``, ``stream``, ``batch``
and tool calling use the sync face and ``ainvoke``, ``astream`` and ``abatch`` the async
one, from one shared cache. The openai clients LangChain builds are then made keyless:
a stray ``AZURE_OPENAI_API_KEY`` or ``OPENAI_API_KEY`` is never sent and
``AZURE_OPENAI_AD_TOKEN`` never replaces the provider (one warning on the ``adapters``
logger names what was ignored). Serialized forms (``model_dump``,
``langchain_core.load.dumps``) show the provider's ``repr``, never a token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from adapters import _framework
from adapters.errors import KeylessError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.credentials_async import AsyncTokenCredential
    from langchain_openai import AzureChatOpenAI, AzureOpenAIEmbeddings

__all__ = ["chat_model", "embeddings"]


def _langchain_openai() -> Any:
    return _framework.import_extra("langchain_openai", "langchain")


def _keyless_fields(config: _framework.AdapterConfig) -> dict[str, Any]:
    return {
        "azure_endpoint": config.endpoint,
        "azure_deployment": config.deployment,
        "api_version": config.api_version,
        # Explicit None: the fields' defaults read AZURE_OPENAI_API_KEY / OPENAI_API_KEY /
        # AZURE_OPENAI_AD_TOKEN into the model, where model_dump() would carry them.
        "api_key": None,
        "azure_ad_token": None,
        "azure_ad_token_provider": config.provider,
        "azure_ad_async_token_provider": config.provider.async_provider,
    }


def _harden(model: Any) -> None:
    """Make the openai clients LangChain built keyless (openai 2 read the key variables).

    The chat model keeps them in ``root_client``/``root_async_client``; the embeddings only
    as ``client``/``async_client`` resources, whose ``_client`` is the openai client.
    """
    candidates = [getattr(model, "root_client", None), getattr(model, "root_async_client", None)]
    for name in ("client", "async_client"):
        candidates.append(getattr(getattr(model, name, None), "_client", None))
    found = {id(client): client for client in candidates if client is not None}
    if not found:
        raise KeylessError(
            f"{type(model).__name__} holds no openai client keyless-adapters recognises; "
            "this langchain-openai version is not supported"
        )
    for client in found.values():
        _framework.harden(client)


def chat_model(
    *,
    endpoint: str | None = None,
    deployment: str | None = None,
    api_version: str | None = None,
    credential: TokenCredential | AsyncTokenCredential | None = None,
    scope: str | None = None,
    client_id: str | None = None,
    tenant_id: str | None = None,
    **kwargs: Any,
) -> AzureChatOpenAI:
    """Return a keyless ``langchain_openai.AzureChatOpenAI``.

    ``deployment`` is the name of the model deployment on your Azure OpenAI resource: it
    goes into the URL and picks the model. ``model=`` (passed through) is only metadata
    for LangChain (tracing, token counting, model profiles); Azure ignores it. A model name
    given as the deployment gets 404 ``DeploymentNotFound`` unless you named the
    deployment after the model.

    Args:
        endpoint: ``https://<resource>.openai.azure.com``; default ``AZURE_OPENAI_ENDPOINT``.
        deployment: The chat deployment name; default ``AZURE_OPENAI_CHAT_DEPLOYMENT``.
            ``azure_deployment=`` and ``deployment_name=`` are accepted as aliases.
        api_version: Default ``AZURE_OPENAI_API_VERSION`` or ``OPENAI_API_VERSION``, else
            the settings default.
        credential: A token credential to use instead of the environment's choice (sync or
            ``azure.identity.aio``).
        scope: Token scope; default derived from the endpoint's cloud.
        client_id: A user-assigned managed identity or app registration (``AZURE_CLIENT_ID``).
        tenant_id: The Entra ID tenant (``AZURE_TENANT_ID``).
        **kwargs: Other settings keywords (``running_on_azure``, ``token_credentials``,
            ``async_credential``) and ``AzureChatOpenAI`` keywords (``model``,
            ``temperature``, ``max_tokens``, ``timeout``, ``max_retries``, ``callbacks``...).

    Returns:
        The chat model.

    Raises:
        ConfigurationError: A key or token was passed (``api_key=``, ``azure_ad_token=``,
            ``azure_ad_token_provider=``...), no deployment is configured, or a setting is
            invalid.
        MissingExtraError: langchain-openai is not installed.
    """
    module = _langchain_openai()
    config = _framework.configure(
        "chat_model",
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
        kind="chat",
    )
    model = module.AzureChatOpenAI(**_keyless_fields(config), **config.passthrough)
    _harden(model)
    return model  # type: ignore[no-any-return]


def embeddings(
    *,
    endpoint: str | None = None,
    deployment: str | None = None,
    api_version: str | None = None,
    credential: TokenCredential | AsyncTokenCredential | None = None,
    scope: str | None = None,
    client_id: str | None = None,
    tenant_id: str | None = None,
    **kwargs: Any,
) -> AzureOpenAIEmbeddings:
    """Return keyless ``langchain_openai.AzureOpenAIEmbeddings``.

    ``deployment`` is the embedding deployment's name on your resource; ``model=`` is only
    LangChain metadata (it also picks the tiktoken encoding when
    ``check_embedding_ctx_length`` is on, which downloads the encoding on first use).

    Args:
        endpoint: ``https://<resource>.openai.azure.com``; default ``AZURE_OPENAI_ENDPOINT``.
        deployment: The embedding deployment name; default
            ``AZURE_OPENAI_EMBEDDING_DEPLOYMENT``. ``azure_deployment=`` is an alias.
        api_version: Default ``AZURE_OPENAI_API_VERSION`` or ``OPENAI_API_VERSION``, else
            the settings default.
        credential: A token credential to use instead of the environment's choice.
        scope: Token scope; default derived from the endpoint's cloud.
        client_id: A user-assigned managed identity or app registration (``AZURE_CLIENT_ID``).
        tenant_id: The Entra ID tenant (``AZURE_TENANT_ID``).
        **kwargs: Other settings keywords and ``AzureOpenAIEmbeddings`` keywords
            (``model``, ``dimensions``, ``chunk_size``, ``check_embedding_ctx_length``,
            ``timeout``, ``max_retries``...).

    Returns:
        The embeddings.

    Raises:
        ConfigurationError: A key or token was passed, no deployment is configured, or a
            setting is invalid.
        MissingExtraError: langchain-openai is not installed.
    """
    module = _langchain_openai()
    config = _framework.configure(
        "embeddings",
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
        kind="embedding",
    )
    model = module.AzureOpenAIEmbeddings(**_keyless_fields(config), **config.passthrough)
    _harden(model)
    return model  # type: ignore[no-any-return]
