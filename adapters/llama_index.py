"""Keyless LlamaIndex LLMs and embeddings for Azure OpenAI.

```python
from adapters.llama_index import embedding, llm

Settings.llm = llm(model="gpt-4o")   # LlamaIndex AzureOpenAI, Entra ID token, no key
Settings.embed_model = embedding()
```

LlamaIndex's own Entra ID support (``use_azure_ad``) freezes a token into ``api_key``,
sends it as an ``api-key`` header next to the bearer token, has no async provider, and
shows the token in ``to_dict()``. These adapters leave it off: the returned objects are
thin subclasses of LlamaIndex's ``AzureOpenAI`` / ``AzureOpenAIEmbedding`` whose openai
clients are keyless clients built with the deployment and the shared token provider
(the async client awaits its async face). Both ``reuse_client`` settings work (with
``reuse_client=False`` every call gets a fresh client, still fed from the one token
cache), ``model_copy()`` and ``copy.deepcopy`` share the provider and clients, a pickled
copy (as LlamaIndex sends to worker processes) finds the shared provider again from its
settings, and ``to_dict()``/``to_json()`` hold no key and no token.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from adapters import _framework
from adapters.errors import ConfigurationError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.credentials_async import AsyncTokenCredential
    from llama_index.embeddings.azure_openai import AzureOpenAIEmbedding
    from llama_index.llms.azure_openai import AzureOpenAI

    from adapters._provider import TokenProvider

__all__ = ["embedding", "llm"]

_SHARED_PRIVATE = ("_keyless_provider", "_client", "_aclient", "_http_client", "_async_http_client")


class _KeylessClients:
    """Mixin for the LlamaIndex classes: openai clients from the provider, never from keys.

    LlamaIndex builds its clients in ``_get_client``/``_get_aclient`` from
    ``_get_credential_kwargs`` (``api_key``, or ``use_azure_ad``'s frozen token); these
    overrides build keyless clients instead, per call when ``reuse_client`` is false.
    """

    def _keyless_client(self, *, is_async: bool) -> Any:
        this: Any = self
        provider = this._keyless_provider
        if provider is None:
            provider = this._keyless_provider = self._provider_after_unpickling()
        # The LLM's deployment is its ``engine``; the embedding's its ``azure_deployment``.
        deployment = this.engine if "engine" in type(this).model_fields else this.azure_deployment
        factory = _framework.async_azure_client if is_async else _framework.azure_client
        return factory(
            provider,
            endpoint=this.azure_endpoint,
            deployment=deployment,
            api_version=this.api_version,
            max_retries=this.max_retries,
            timeout=this.timeout,
            default_headers=this.default_headers,
            http_client=this._async_http_client if is_async else this._http_client,
        )

    def _provider_after_unpickling(self) -> TokenProvider:
        """The shared provider again, for a copy that crossed a pickle (worker processes).

        The provider holds locks and cannot be pickled, so LlamaIndex drops it; the
        settings that chose it can, and in the same environment they choose the same
        identity. A credential passed as ``credential=`` cannot be recovered.
        """
        from adapters._provider import get_provider
        from adapters.settings import Settings

        this: Any = self
        identity = this._keyless_identity
        if identity is None:
            raise ConfigurationError(
                f"this {type(self).__name__} was unpickled without its credential (one passed "
                "as credential= does not survive pickling): build a new one with "
                "adapters.llama_index.llm() or embedding() in this process"
            )
        return get_provider(Settings.from_env(**identity))

    def __setstate__(self, state: dict[str, Any]) -> None:
        # LlamaIndex unpickles through __init__, which resets private attributes.
        super().__setstate__(state)  # type: ignore[misc]
        this: Any = self
        this._keyless_identity = (state.get("__pydantic_private__") or {}).get("_keyless_identity")

    def _get_client(self) -> Any:
        this: Any = self
        if not this.reuse_client:
            return self._keyless_client(is_async=False)  # LlamaIndex closes it after use
        if this._client is None:
            this._client = self._keyless_client(is_async=False)
        return this._client

    def _get_aclient(self) -> Any:
        this: Any = self
        if not this.reuse_client:
            return self._keyless_client(is_async=True)
        if this._aclient is None:
            this._aclient = self._keyless_client(is_async=True)
        return this._aclient

    def _get_credential_kwargs(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise ConfigurationError(
            f"{type(self).__name__} builds keyless clients only; it never produces "
            "key-based client arguments"
        )

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Any:
        # Share the provider and the thread-safe openai/httpx clients (their locks cannot
        # be copied); everything else is copied as pydantic does.
        memo = {} if memo is None else memo
        private = getattr(self, "__pydantic_private__", None) or {}
        for name in _SHARED_PRIVATE:
            value = private.get(name)
            if value is not None:
                memo[id(value)] = value
        return super().__deepcopy__(memo)  # type: ignore[misc]


@functools.cache
def _llm_class() -> type[Any]:
    module = _framework.import_extra("llama_index.llms.azure_openai", "llama-index")
    from llama_index.core.bridge.pydantic import PrivateAttr

    class KeylessAzureOpenAI(_KeylessClients, module.AzureOpenAI):  # type: ignore[misc,name-defined]
        """LlamaIndex ``AzureOpenAI`` whose openai clients send only fresh bearer tokens."""

        _keyless_provider: Any = PrivateAttr(default=None)
        _keyless_identity: Any = PrivateAttr(default=None)

    KeylessAzureOpenAI.__module__ = __name__
    KeylessAzureOpenAI.__qualname__ = "KeylessAzureOpenAI"
    return KeylessAzureOpenAI


@functools.cache
def _embedding_class() -> type[Any]:
    module = _framework.import_extra("llama_index.embeddings.azure_openai", "llama-index")
    from llama_index.core.bridge.pydantic import PrivateAttr

    class KeylessAzureOpenAIEmbedding(_KeylessClients, module.AzureOpenAIEmbedding):  # type: ignore[misc,name-defined]
        """LlamaIndex ``AzureOpenAIEmbedding`` whose openai clients send only bearer tokens."""

        _keyless_provider: Any = PrivateAttr(default=None)
        _keyless_identity: Any = PrivateAttr(default=None)

    KeylessAzureOpenAIEmbedding.__module__ = __name__
    KeylessAzureOpenAIEmbedding.__qualname__ = "KeylessAzureOpenAIEmbedding"
    return KeylessAzureOpenAIEmbedding


def __getattr__(name: str) -> Any:
    # Pickle finds the classes by name; they are built on first use (lazy imports).
    if name == "KeylessAzureOpenAI":
        return _llm_class()
    if name == "KeylessAzureOpenAIEmbedding":
        return _embedding_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _finish(obj: Any, config: _framework.AdapterConfig) -> Any:
    """Attach the provider and pre-build the shared clients (``reuse_client=True``)."""
    obj._keyless_provider = config.provider
    choice = config.provider.choice
    if choice is not None and choice.kind != "passed":
        # Enough to find the same provider again after pickling (see _KeylessClients).
        settings = config.settings
        obj._keyless_identity = {
            name: getattr(settings, name)
            for name in ("endpoint", "api_version", "scope", "client_id", "tenant_id")
            if getattr(settings, name) is not None
        } | {
            "running_on_azure": settings.running_on_azure,
            "token_credentials": settings.token_credentials,
        }
    # api_key="" was passed so that OPENAI_API_KEY / AZURE_OPENAI_API_KEY stay out of the
    # model (and of to_dict()); LlamaIndex may still have copied the legacy openai.api_key.
    obj.api_key = ""
    if obj.reuse_client:
        obj._get_client()
        obj._get_aclient()
    return obj


def llm(
    *,
    endpoint: str | None = None,
    deployment: str | None = None,
    api_version: str | None = None,
    credential: TokenCredential | AsyncTokenCredential | None = None,
    scope: str | None = None,
    client_id: str | None = None,
    tenant_id: str | None = None,
    **kwargs: Any,
) -> AzureOpenAI:
    """Return a keyless LlamaIndex ``AzureOpenAI`` LLM.

    ``deployment`` (LlamaIndex's ``engine``) is the name of the model deployment on your
    resource: it goes into the URL. ``model=`` (passed through, LlamaIndex defaults to
    ``"gpt-35-turbo"``) is only metadata: LlamaIndex derives the context window and
    function-calling support from it, so pass the deployed model's name there.

    Args:
        endpoint: ``https://<resource>.openai.azure.com``; default ``AZURE_OPENAI_ENDPOINT``.
        deployment: The chat deployment name; default ``AZURE_OPENAI_CHAT_DEPLOYMENT``.
            ``engine=``, ``deployment_name=`` and ``azure_deployment=`` are aliases.
        api_version: Default ``AZURE_OPENAI_API_VERSION`` or ``OPENAI_API_VERSION``, else
            the settings default.
        credential: A token credential to use instead of the environment's choice (sync or
            ``azure.identity.aio``).
        scope: Token scope; default derived from the endpoint's cloud.
        client_id: A user-assigned managed identity or app registration (``AZURE_CLIENT_ID``).
        tenant_id: The Entra ID tenant (``AZURE_TENANT_ID``).
        **kwargs: Other settings keywords (``running_on_azure``, ``token_credentials``,
            ``async_credential``) and LlamaIndex ``AzureOpenAI`` keywords (``model``,
            ``temperature``, ``max_tokens``, ``timeout``, ``max_retries``,
            ``reuse_client``, ``callback_manager``...).

    Returns:
        The LLM (a subclass of ``llama_index.llms.azure_openai.AzureOpenAI``).

    Raises:
        ConfigurationError: A key or token was passed (``api_key=``, ``use_azure_ad=``,
            ``azure_ad_token_provider=``...), no deployment is configured, or a setting is
            invalid.
        MissingExtraError: llama-index-llms-azure-openai is not installed.
    """
    cls = _llm_class()
    config = _framework.configure(
        "llm",
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
    obj = cls(
        engine=config.deployment,
        azure_deployment=config.deployment,
        azure_endpoint=config.endpoint,
        api_version=config.api_version,
        api_key="",
        use_azure_ad=False,
        **config.passthrough,
    )
    return _finish(obj, config)


def embedding(
    *,
    endpoint: str | None = None,
    deployment: str | None = None,
    api_version: str | None = None,
    credential: TokenCredential | AsyncTokenCredential | None = None,
    scope: str | None = None,
    client_id: str | None = None,
    tenant_id: str | None = None,
    **kwargs: Any,
) -> AzureOpenAIEmbedding:
    """Return a keyless LlamaIndex ``AzureOpenAIEmbedding``.

    ``deployment`` is the embedding deployment's name on your resource; ``model=`` is only
    metadata (LlamaIndex defaults to ``text-embedding-ada-002``).

    Args:
        endpoint: ``https://<resource>.openai.azure.com``; default ``AZURE_OPENAI_ENDPOINT``.
        deployment: The embedding deployment name; default
            ``AZURE_OPENAI_EMBEDDING_DEPLOYMENT``. ``deployment_name=`` and
            ``azure_deployment=`` are aliases.
        api_version: Default ``AZURE_OPENAI_API_VERSION`` or ``OPENAI_API_VERSION``, else
            the settings default.
        credential: A token credential to use instead of the environment's choice.
        scope: Token scope; default derived from the endpoint's cloud.
        client_id: A user-assigned managed identity or app registration (``AZURE_CLIENT_ID``).
        tenant_id: The Entra ID tenant (``AZURE_TENANT_ID``).
        **kwargs: Other settings keywords and ``AzureOpenAIEmbedding`` keywords (``model``,
            ``dimensions``, ``embed_batch_size``, ``timeout``, ``max_retries``,
            ``reuse_client``...).

    Returns:
        The embedding model (a subclass of
        ``llama_index.embeddings.azure_openai.AzureOpenAIEmbedding``).

    Raises:
        ConfigurationError: A key or token was passed, no deployment is configured, or a
            setting is invalid.
        MissingExtraError: llama-index-embeddings-azure-openai is not installed.
    """
    cls = _embedding_class()
    config = _framework.configure(
        "embedding",
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
    obj = cls(
        azure_deployment=config.deployment,
        azure_endpoint=config.endpoint,
        api_version=config.api_version,
        api_key="",
        use_azure_ad=False,
        **config.passthrough,
    )
    return _finish(obj, config)
