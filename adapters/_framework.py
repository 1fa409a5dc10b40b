"""Plumbing shared by the framework adapters: keywords, settings, keyless openai clients.

Every adapter function does the same three things, here: split its keywords into settings
and pass-through, refuse any attempt to hand it a key, and get the process-wide provider.
It then builds the framework's object around openai clients that can only ever send
``Authorization: Bearer <fresh token>``.

How the clients are made keyless, on openai 2.x and 3.x alike (see
``reference/sdk-behaviors.md``):

* ``api_key`` is the SDK's own "no key" sentinel: openai 2 would otherwise read
  ``AZURE_OPENAI_API_KEY`` and send it as ``api-key`` next to the bearer token.
* ``_azure_ad_token`` is cleared after construction: openai 2 reads
  ``AZURE_OPENAI_AD_TOKEN`` and then never calls the provider.
* ``api-key`` is an :class:`openai.Omit` default header and any ``Authorization`` default
  header is dropped: both SDK majors parse ``OPENAI_CUSTOM_HEADERS`` into default headers,
  and a client-level ``Authorization`` would override the v1 client's bearer token.
* The clients are small subclasses whose ``copy()``/``with_options()`` repeat those fixes,
  because copies are rebuilt through ``__init__`` and would read the environment again.

openai 3 no longer consults the Azure variables when a provider is passed, and raises on
more than one credential; the fixes are harmless there and keep one code path.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

from adapters.errors import ConfigurationError, KeylessError, MissingExtraError
from adapters.settings import SETTINGS_KEYWORDS, Settings

if TYPE_CHECKING:
    import openai

    from adapters._provider import TokenProvider

__all__ = [
    "AdapterConfig",
    "async_azure_client",
    "async_v1_client",
    "azure_client",
    "configure",
    "harden",
    "import_extra",
    "v1_client",
]

logger = logging.getLogger("adapters")

# Keywords through which a caller could hand a framework its own authentication.
AUTH_KEYWORDS = (
    "api_key",
    "openai_api_key",
    "azure_ad_token",
    "azure_ad_token_provider",
    "azure_ad_async_token_provider",
    "use_azure_ad",
)
# Keywords that would replace the URL or the clients the adapter builds.
_REPLACING_KEYWORDS = {
    "base_url": "endpoint=",
    "api_base": "endpoint=",
    "openai_api_base": "endpoint=",
    "client": None,
    "async_client": None,
    "root_client": None,
    "root_async_client": None,
    "openai_client": None,
    "async_openai_client": None,
}
# Framework spellings accepted for our own keywords.
_ALIASES = {
    "azure_endpoint": "endpoint",
    "azure_deployment": "deployment",
    "deployment_name": "deployment",
    "deployment_id": "deployment",
    "engine": "deployment",
    "openai_api_version": "api_version",
}
# Variables the SDKs would read as a key or a static token (all ignored here).
_KEY_VARIABLES = ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_AD_TOKEN", "OPENAI_API_KEY")
_AUTH_HEADERS = frozenset({"api-key", "authorization"})


def import_extra(module: str, extra: str) -> ModuleType:
    """Import an optional framework module, or say which extra installs it.

    Args:
        module: The module to import, e.g. ``"langchain_openai"``.
        extra: The keyless-adapters extra that provides it, e.g. ``"langchain"``.

    Returns:
        The imported module.

    Raises:
        MissingExtraError: The module (or one of its dependencies) is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{module} is not installed (needed by adapters.{extra.replace('-', '_')}): "
            f'pip install "keyless-adapters[{extra}]"'
        ) from exc


@dataclass(frozen=True)
class AdapterConfig:
    """What an adapter function resolved from its keywords and the environment.

    Attributes:
        settings: The validated settings.
        provider: The process-wide token provider for the settings' scope and identity.
        endpoint: The Azure OpenAI endpoint, ``https://<resource>.openai.azure.com``.
        deployment: The deployment name, or ``None`` where none is needed.
        api_version: The API version for the deployment-scoped surface.
        passthrough: Keywords for the framework constructor.
    """

    settings: Settings
    provider: TokenProvider
    endpoint: str
    deployment: str | None
    api_version: str
    passthrough: dict[str, Any]


def configure(
    function: str,
    kwargs: Mapping[str, Any],
    *,
    kind: Literal["chat", "embedding"] | None,
) -> AdapterConfig:
    """Resolve an adapter function's keywords into settings, a provider and pass-through.

    Args:
        function: The public function's name, for messages (``"chat_model"``).
        kwargs: Every keyword the caller passed.
        kind: Which deployment the function needs, or ``None`` when a deployment is
            optional (``deployment=`` is then used only if given).

    Returns:
        The resolved configuration.

    Raises:
        ConfigurationError: A key or token was passed, a keyword conflicts with what the
            adapter builds, or a setting is missing or invalid.
    """
    from adapters._provider import get_provider

    rest = dict(kwargs)
    _refuse_auth(function, rest)
    for name, instead in _REPLACING_KEYWORDS.items():
        if rest.pop(name, None) is not None:
            hint = f"pass {instead} instead" if instead else "drop it"
            raise ConfigurationError(
                f"{function}() builds its own keyless clients and URL, so {name}= cannot be "
                f"used: {hint}."
            )
    headers = rest.get("default_headers")
    if headers:
        named = sorted(h for h in headers if h.lower() in _AUTH_HEADERS)
        if named:
            raise ConfigurationError(
                f"{function}() got default_headers with {', '.join(named)}: keyless-adapters "
                "supplies authentication (a fresh Microsoft Entra ID bearer token per "
                "request) and never sends keys; remove those headers."
            )

    for alias, name in _ALIASES.items():
        value = rest.pop(alias, None)
        if value is None:
            continue
        if rest.get(name) is not None and rest[name] != value:
            raise ConfigurationError(
                f"{function}() got both {name}= and {alias}= with different values: "
                f"pass only {name}=."
            )
        rest[name] = value

    credential = rest.pop("credential", None)
    async_credential = rest.pop("async_credential", None)
    deployment = rest.pop("deployment", None)
    overrides = {name: rest.pop(name) for name in list(rest) if name in SETTINGS_KEYWORDS}
    if deployment is not None:
        overrides[f"{kind or 'chat'}_deployment"] = deployment

    settings = Settings.from_env(**overrides)
    endpoint = settings.require_endpoint()
    resolved: str | None
    if kind is not None:
        resolved = settings.require_deployment(kind)
    else:
        resolved = settings.chat_deployment if deployment is not None else None
    provider = get_provider(settings, credential=credential, async_credential=async_credential)
    warn_ignored_environment(function)
    return AdapterConfig(
        settings=settings,
        provider=provider,
        endpoint=endpoint,
        deployment=resolved,
        api_version=settings.api_version,
        passthrough=rest,
    )


def _refuse_auth(function: str, kwargs: dict[str, Any]) -> None:
    """Raise if a key, token or provider was passed; drop the harmless ``None``/``False``."""
    given = [name for name in AUTH_KEYWORDS if kwargs.pop(name, None) not in (None, False)]
    if given:
        names = ", ".join(f"{name}=" for name in given)
        raise ConfigurationError(
            f"{function}() got {names}: keyless-adapters supplies authentication itself (a "
            "fresh Microsoft Entra ID bearer token from the shared provider on every request) "
            "and never sends keys or static tokens; remove it. To choose the identity, pass "
            "credential=, client_id= or tenant_id=."
        )


def ignored_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """Name the set environment variables that would put a key or static token on the wire.

    Args:
        environ: The environment to inspect; ``os.environ`` when ``None``.

    Returns:
        The variable names, in a fixed order; values are never read into messages.
    """
    env = os.environ if environ is None else environ
    found = [name for name in _KEY_VARIABLES if env.get(name, "").strip()]
    custom = env.get("OPENAI_CUSTOM_HEADERS", "")
    if any(line.partition(":")[0].strip().lower() in _AUTH_HEADERS for line in custom.split("\n")):
        found.append("OPENAI_CUSTOM_HEADERS")
    return found


def warn_ignored_environment(function: str) -> None:
    """Log one warning naming the key variables this client will ignore, if any are set."""
    found = ignored_variables()
    if not found:
        return
    variables = [name for name in found if name != "OPENAI_CUSTOM_HEADERS"]
    fixes = [f"unset {' and '.join(variables)}"] if variables else []
    if "OPENAI_CUSTOM_HEADERS" in found:
        fixes.append("drop the api-key/Authorization lines from OPENAI_CUSTOM_HEADERS")
    logger.warning(
        "%s(): ignoring %s: keyless-adapters authenticates with Microsoft Entra ID bearer "
        "tokens only and never sends keys or static tokens; %s to silence this warning.",
        function,
        ", ".join(found),
        ", and ".join(fixes),
    )


# ---------------------------------------------------------------------------------------
# Keyless openai clients


def _omit_auth_headers(headers: Mapping[str, Any] | None) -> dict[str, Any]:
    import openai

    cleaned = {k: v for k, v in (headers or {}).items() if k.lower() not in _AUTH_HEADERS}
    cleaned["api-key"] = openai.Omit()
    return cleaned


def harden(client: Any) -> None:
    """Make an openai client (built by us or by a framework) send only the provider's token.

    Clears what the environment may have put into the client (``AZURE_OPENAI_API_KEY``,
    ``AZURE_OPENAI_AD_TOKEN``, ``OPENAI_ADMIN_KEY``, ``OPENAI_CUSTOM_HEADERS``) and gives
    it the keyless subclass, so that its copies stay keyless too.

    Args:
        client: An ``openai.AzureOpenAI``, ``AsyncAzureOpenAI``, ``OpenAI`` or
            ``AsyncOpenAI`` whose authentication is a token provider or callable api_key.

    Raises:
        KeylessError: The client has no token provider to authenticate with, or is of a
            class this module does not know.
    """
    from openai.lib.azure import API_KEY_SENTINEL, BaseAzureClient

    is_azure = isinstance(client, BaseAzureClient)  # a bool: keeps ``client`` typed Any
    if is_azure:
        if client._azure_ad_token_provider is None:
            raise KeylessError("an Azure client without a token provider cannot be keyless")
        client._azure_ad_token = None
        client.api_key = API_KEY_SENTINEL
    elif getattr(client, "_api_key_provider", None) is None:
        raise KeylessError("an OpenAI client without a callable api_key cannot be keyless")
    if getattr(client, "admin_api_key", None) is not None:
        client.admin_api_key = None
    client._custom_headers = _omit_auth_headers(client._custom_headers)
    classes = _keyless_classes()
    if type(client) in classes:
        client.__class__ = classes[type(client)]
    elif type(client) not in classes.values():
        raise KeylessError(f"cannot make a {type(client).__name__} keyless")


def _keyless_subclass(base: type[Any], name: str, doc: str) -> type[Any]:
    """Subclass an openai client so that its copies are keyless too.

    ``copy()``/``with_options()`` rebuild the client through ``__init__``, which reads the
    environment again; the override refuses keys and repeats :func:`harden`. A single base
    and no new slots keep the layout identical, so ``harden`` can give a client built by a
    framework this class in place.
    """

    def copy(self: Any, **kwargs: Any) -> Any:
        _refuse_auth(f"{name}.copy", kwargs)  # also drops api_key=None and the like
        copied = base.copy(self, **kwargs)
        harden(copied)
        return copied

    copy.__doc__ = "Like the SDK's ``copy()``, refusing keys; the copy stays keyless."
    namespace = {
        "__slots__": (),
        "__doc__": doc,
        "__module__": __name__,
        "__qualname__": name,
        "copy": copy,
        "with_options": copy,
    }
    return type(name, (base,), namespace)


@functools.cache
def _keyless_classes() -> dict[type[Any], type[Any]]:
    """The openai client classes and their keyless subclasses (built once, on first use)."""
    import openai

    return {
        openai.AzureOpenAI: _keyless_subclass(
            openai.AzureOpenAI,
            "KeylessAzureOpenAI",
            "An ``openai.AzureOpenAI`` that authenticates only with its token provider.",
        ),
        openai.AsyncAzureOpenAI: _keyless_subclass(
            openai.AsyncAzureOpenAI,
            "AsyncKeylessAzureOpenAI",
            "An ``openai.AsyncAzureOpenAI`` that authenticates only with its token provider.",
        ),
        openai.OpenAI: _keyless_subclass(
            openai.OpenAI,
            "KeylessOpenAI",
            "An ``openai.OpenAI`` whose only key is the callable token provider.",
        ),
        openai.AsyncOpenAI: _keyless_subclass(
            openai.AsyncOpenAI,
            "AsyncKeylessOpenAI",
            "An ``openai.AsyncOpenAI`` whose only key is the async token provider.",
        ),
    }


def _openai() -> ModuleType:
    return import_extra("openai", "openai")


def _azure_kwargs(
    provider_callable: Any,
    *,
    endpoint: str,
    deployment: str | None,
    api_version: str,
    kwargs: Mapping[str, Any],
) -> dict[str, Any]:
    from openai.lib.azure import API_KEY_SENTINEL

    options = {k: v for k, v in kwargs.items() if v is not None}
    return {
        **options,
        "azure_endpoint": endpoint,
        "azure_deployment": deployment,
        "api_version": api_version,
        "api_key": API_KEY_SENTINEL,
        "azure_ad_token_provider": provider_callable,
        "default_headers": _omit_auth_headers(options.get("default_headers")),
    }


def azure_client(
    provider: TokenProvider,
    *,
    endpoint: str,
    deployment: str | None,
    api_version: str,
    **kwargs: Any,
) -> openai.AzureOpenAI:
    """Build a keyless ``openai.AzureOpenAI`` for the deployment-scoped surface.

    Args:
        provider: The shared token provider; called on every request and retry.
        endpoint: ``https://<resource>.openai.azure.com``.
        deployment: Bound into the URL when given; otherwise each call's ``model=`` is used
            as the deployment name.
        api_version: Sent as ``?api-version=`` on every request.
        **kwargs: Other ``openai.AzureOpenAI`` keywords (``timeout``, ``max_retries``,
            ``http_client``...); ``None`` values are dropped.

    Returns:
        The client.
    """
    openai = _openai()
    classes = _keyless_classes()
    client = classes[openai.AzureOpenAI](
        **_azure_kwargs(
            provider,
            endpoint=endpoint,
            deployment=deployment,
            api_version=api_version,
            kwargs=kwargs,
        )
    )
    harden(client)
    return client  # type: ignore[no-any-return]


def async_azure_client(
    provider: TokenProvider,
    *,
    endpoint: str,
    deployment: str | None,
    api_version: str,
    **kwargs: Any,
) -> openai.AsyncAzureOpenAI:
    """Build a keyless ``openai.AsyncAzureOpenAI``; its provider never blocks the loop.

    Args:
        provider: The shared token provider; its async face is awaited on every request.
        endpoint: ``https://<resource>.openai.azure.com``.
        deployment: Bound into the URL when given; otherwise each call's ``model=``.
        api_version: Sent as ``?api-version=`` on every request.
        **kwargs: Other ``openai.AsyncAzureOpenAI`` keywords; ``None`` values are dropped.

    Returns:
        The client.
    """
    openai = _openai()
    classes = _keyless_classes()
    client = classes[openai.AsyncAzureOpenAI](
        **_azure_kwargs(
            provider.async_provider,
            endpoint=endpoint,
            deployment=deployment,
            api_version=api_version,
            kwargs=kwargs,
        )
    )
    harden(client)
    return client  # type: ignore[no-any-return]


def _v1_kwargs(
    api_key: Any, *, endpoint: str, api_version: str | None, kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    options = {k: v for k, v in kwargs.items() if v is not None}
    if api_version:
        options["default_query"] = {
            **(options.get("default_query") or {}),
            "api-version": api_version,
        }
    return {
        **options,
        "base_url": f"{endpoint}/openai/v1/",
        "api_key": api_key,
        "default_headers": _omit_auth_headers(options.get("default_headers")),
    }


def v1_client(
    provider: TokenProvider, *, endpoint: str, api_version: str | None = None, **kwargs: Any
) -> openai.OpenAI:
    """Build a keyless ``openai.OpenAI`` for the Azure v1 surface (``/openai/v1/``).

    Args:
        provider: The shared token provider, as the callable ``api_key``.
        endpoint: ``https://<resource>.openai.azure.com``.
        api_version: Sent as ``?api-version=`` when given (the v1 surface needs none).
        **kwargs: Other ``openai.OpenAI`` keywords; ``None`` values are dropped.

    Returns:
        The client.
    """
    openai = _openai()
    classes = _keyless_classes()
    client = classes[openai.OpenAI](
        **_v1_kwargs(provider, endpoint=endpoint, api_version=api_version, kwargs=kwargs)
    )
    harden(client)
    return client  # type: ignore[no-any-return]


def async_v1_client(
    provider: TokenProvider, *, endpoint: str, api_version: str | None = None, **kwargs: Any
) -> openai.AsyncOpenAI:
    """Build a keyless ``openai.AsyncOpenAI`` for the Azure v1 surface (``/openai/v1/``).

    Args:
        provider: The shared token provider; ``provider.async_provider`` is the async
            callable ``api_key``.
        endpoint: ``https://<resource>.openai.azure.com``.
        api_version: Sent as ``?api-version=`` when given (the v1 surface needs none).
        **kwargs: Other ``openai.AsyncOpenAI`` keywords; ``None`` values are dropped.

    Returns:
        The client.
    """
    openai = _openai()
    classes = _keyless_classes()
    client = classes[openai.AsyncOpenAI](
        **_v1_kwargs(
            provider.async_provider, endpoint=endpoint, api_version=api_version, kwargs=kwargs
        )
    )
    harden(client)
    return client  # type: ignore[no-any-return]
