"""Settings for keyless Azure OpenAI: endpoint, API version, deployments, scope and identity.

Values come from keyword arguments first, then environment variables, then defaults; every
value is validated once, here, with a message that names the variable or argument and says
what to change. Nothing in this module ever holds a secret: keys are refused, not stored.

Importing this module is cheap on purpose (no azure, no HTTP libraries): the CLI, the
adapters and the tests all read settings before anything heavier is needed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from adapters.errors import ConfigurationError

__all__ = [
    "CHINA_SCOPE",
    "DEFAULT_API_VERSION",
    "GOVERNMENT_SCOPE",
    "PUBLIC_SCOPE",
    "SETTINGS_KEYWORDS",
    "TOKEN_CREDENTIALS_VALUES",
    "Settings",
    "scope_for_endpoint",
]

DEFAULT_API_VERSION = "2024-10-21"
PUBLIC_SCOPE = "https://cognitiveservices.azure.com/.default"
GOVERNMENT_SCOPE = "https://cognitiveservices.azure.us/.default"
CHINA_SCOPE = "https://cognitiveservices.azure.cn/.default"

# The values azure-identity 1.27 accepts in AZURE_TOKEN_CREDENTIALS: "dev", "prod" and the
# ``env_name`` of each credential in DefaultAzureCredential (azure/identity/_credentials/
# default.py, checked by azure/identity/_internal/utils.py:process_credential_exclusions).
# Copied rather than read from azure-identity so that importing settings stays cheap; a test
# compares this tuple with the list in azure-identity's own error message.
TOKEN_CREDENTIALS_VALUES: tuple[str, ...] = (
    "dev",
    "prod",
    "azureclicredential",
    "azuredeveloperclicredential",
    "azurepowershellcredential",
    "environmentcredential",
    "interactivebrowsercredential",
    "managedidentitycredential",
    "visualstudiocodecredential",
    "workloadidentitycredential",
)

# Setting name -> environment variables read for it, in order of preference.
_ENV_VARS: dict[str, tuple[str, ...]] = {
    "endpoint": ("AZURE_OPENAI_ENDPOINT",),
    "api_version": ("AZURE_OPENAI_API_VERSION", "OPENAI_API_VERSION"),
    "chat_deployment": ("AZURE_OPENAI_CHAT_DEPLOYMENT",),
    "embedding_deployment": ("AZURE_OPENAI_EMBEDDING_DEPLOYMENT",),
    "scope": ("AZURE_OPENAI_SCOPE",),
    "client_id": ("AZURE_CLIENT_ID",),
    "tenant_id": ("AZURE_TENANT_ID",),
    "running_on_azure": ("RUNNING_ON_AZURE",),
    "token_credentials": ("AZURE_TOKEN_CREDENTIALS",),
}

SETTINGS_KEYWORDS: frozenset[str] = frozenset(_ENV_VARS)

_ENDPOINT_EXAMPLE = "https://<resource>.openai.azure.com"
_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
# URLs without userinfo or query (scopes, endpoints) are safe to echo.
_PLAIN_URL_RE = re.compile(r"^(?:https?|api)://[^@?#\s]+$", re.IGNORECASE)
_API_VERSION_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(-preview)?$")
# Characters that can never be part of a deployment name: it becomes a URL path segment.
_NOT_IN_DEPLOYMENT = frozenset("/\\?#%:@&=+")
# Query parameters that carry a key or signature; their values are never shown.
_KEY_PARAMS = frozenset({"api-key", "api_key", "apikey", "key", "subscription-key", "sig", "code"})
_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "off", "n", "f"})


def _show(value: str) -> str:
    """Quote a value for an error message, unless it could be a secret.

    Args:
        value: The offending value.

    Returns:
        ``repr(value)`` for short values and GUIDs; a description for long opaque strings,
        which might be a key or token pasted into the wrong variable.
    """
    if len(value) < 32 or _GUID_RE.match(value) or _PLAIN_URL_RE.match(value):
        return repr(value)
    return f"a {len(value)}-character value (not shown, in case it is a secret)"


@dataclass(frozen=True)
class _Origin:
    """Where a raw value came from, for messages and ``Settings.sources``."""

    name: str  # the setting name, also the keyword argument
    var: str  # the environment variable, or the keyword argument's name
    from_argument: bool

    @property
    def label(self) -> str:
        """How messages name it: ``AZURE_OPENAI_ENDPOINT`` or ``endpoint=``."""
        return f"{self.var}=" if self.from_argument else self.var

    @property
    def source(self) -> str:
        """The value recorded in ``Settings.sources``."""
        return "argument" if self.from_argument else f"env {self.var}"

    def assign(self, value: str) -> str:
        """Render a suggested setting, ``AZURE_OPENAI_SCOPE=...`` or ``scope=...``."""
        return f"{self.var}={value}"

    @property
    def how_to_unset(self) -> str:
        """How to stop giving the value."""
        return f"drop the {self.var}= argument" if self.from_argument else f"unset {self.var}"


def _check_text(value: str, origin: _Origin) -> None:
    """Reject quotes and inner whitespace, the usual marks of a value pasted from a shell."""
    if any(q in value for q in "\"'`"):
        example = origin.assign('"..."')
        raise ConfigurationError(
            f"{origin.label} contains quote characters: remove them (they usually come from "
            f"copying a shell or .env line such as {example}; the quotes must not be part of "
            f"the value)."
        )
    if any(ch.isspace() for ch in value):
        raise ConfigurationError(
            f"{origin.label} contains whitespace inside the value: remove it "
            f"(a value pasted with a line break or a space in the middle)."
        )


def _is_loopback(host: str) -> bool:
    """Whether ``host`` is localhost, an address in 127.0.0.0/8 or ::1."""
    host = host.lower().rstrip(".")
    if host == "localhost":
        return True
    import ipaddress  # only needed for http endpoints

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _validate_endpoint(value: str, origin: _Origin) -> str:
    """Validate an Azure OpenAI endpoint and return it as ``scheme://host[:port]``."""
    label = origin.label
    _check_text(value, origin)
    if "://" not in value:
        # Keep only what looks like the host, so a key pasted after it is never echoed.
        host = re.split(r"[/?#]", value, maxsplit=1)[0].rpartition("@")[2]
        if not _DOMAIN_RE.match(host):
            host = "<resource>.openai.azure.com"
        raise ConfigurationError(
            f"{label} is not a URL: it needs the https:// scheme, for example "
            f"{origin.assign('https://' + host)}."
        )
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        # urllib's message quotes the "port", which may be a key pasted as user:key.
        raise ConfigurationError(
            f"{label} is not a valid URL (its port or IPv6 brackets do not parse): use "
            f"{_ENDPOINT_EXAMPLE}."
        ) from None
    host = (parts.hostname or "").lower()
    netloc_host = host if ":" not in host else f"[{host}]"
    scheme = parts.scheme.lower()
    base = f"{scheme}://{netloc_host}" + (f":{port}" if port is not None else "")

    # Credentials first: the value must never be echoed once it may contain a secret.
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(
            f"{label} contains credentials before the host (user:password@): keyless-adapters "
            f"never uses keys or passwords, it authenticates with Microsoft Entra ID; remove "
            f"them and keep only {base}."
        )
    query_keys = {k.lower() for k, _ in parse_qsl(parts.query, keep_blank_values=True)}
    if query_keys & _KEY_PARAMS:
        names = ", ".join(f"{k}=..." for k in sorted(query_keys & _KEY_PARAMS))
        raise ConfigurationError(
            f"{label} carries a key in its query string ({names}): keys are never used, "
            f"authentication is Microsoft Entra ID only; remove it and keep only {base}."
        )
    if scheme not in ("https", "http"):
        raise ConfigurationError(
            f"{label} must be an https URL such as {_ENDPOINT_EXAMPLE}; "
            f"the scheme {parts.scheme!r} is not supported."
        )
    if not host:
        raise ConfigurationError(
            f"{label} has no host name: use {_ENDPOINT_EXAMPLE} (your resource's endpoint, "
            f"shown under Keys and Endpoint in the Azure portal)."
        )
    if scheme == "http" and not _is_loopback(host):
        raise ConfigurationError(
            f"{label} uses plain http://{netloc_host}: use https://; plain http is accepted only "
            f"for loopback hosts (localhost, 127.0.0.0/8, ::1) such as local emulators, because "
            f"the bearer token would otherwise travel unencrypted."
        )
    # A pasted request URL has a path, a query and maybe a fragment: name them all at once.
    path = parts.path.rstrip("/")
    extras = []
    if path:
        extras.append(f"a path ({parts.path})")
    if parts.query:
        extras.append("a query string (?...)")
    if parts.fragment:
        extras.append("a fragment (#...)")
    if extras:
        hints = []
        match = re.match(r"^/openai/deployments/([^/]+)", path)
        if match:
            hints.append(
                f"The deployment name goes in AZURE_OPENAI_CHAT_DEPLOYMENT or "
                f"AZURE_OPENAI_EMBEDDING_DEPLOYMENT (here {match.group(1)!r}), not in the URL."
            )
        elif path.startswith("/openai"):
            hints.append("The adapters add the /openai/... path themselves.")
        if "api-version" in query_keys:
            hints.append("Put the API version in AZURE_OPENAI_API_VERSION (or api_version=).")
        raise ConfigurationError(
            f"{label} has {' and '.join(extras)}: keep only the scheme and host, {base}."
            + "".join(f" {hint}" for hint in hints)
        )
    return base


def scope_for_endpoint(endpoint: str | None) -> str:
    """Return the Entra ID scope for an Azure OpenAI endpoint, by the endpoint's cloud.

    ``*.azure.us`` (Azure Government) and ``*.azure.cn`` (Azure China) get their cloud's
    Cognitive Services scope; everything else, including ``*.openai.azure.com``,
    ``*.cognitiveservices.azure.com``, ``*.services.ai.azure.com``, custom domains and
    loopback emulators, gets :data:`PUBLIC_SCOPE`.

    Args:
        endpoint: The endpoint URL (a bare host name is accepted too), or ``None``.

    Returns:
        The scope, always ending in ``/.default``.
    """
    if not endpoint:
        return PUBLIC_SCOPE
    text = endpoint.strip()
    try:
        host = urlsplit(text if "://" in text else f"https://{text}").hostname or ""
    except ValueError:
        return PUBLIC_SCOPE
    host = host.lower().rstrip(".")
    if host.endswith(".azure.us"):
        return GOVERNMENT_SCOPE
    if host.endswith(".azure.cn"):
        return CHINA_SCOPE
    return PUBLIC_SCOPE


def _validate_scope(value: str, origin: _Origin) -> str:
    _check_text(value, origin)
    if value.endswith("/.default"):
        return value
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is not None and parts.scheme and parts.hostname and parts.path.strip("/"):
        suggestion = f"{parts.scheme}://{parts.hostname}/.default"
    else:
        suggestion = value.rstrip("/") + "/.default"
    raise ConfigurationError(
        f"{origin.assign(_show(value))} must end in /.default (tokens for Azure OpenAI are "
        f"requested for a resource's .default scope): use {origin.assign(suggestion)}, or "
        f"{origin.how_to_unset} to derive it from the endpoint ({PUBLIC_SCOPE} in the "
        f"public cloud)."
    )


def _validate_api_version(value: str, origin: _Origin) -> str:
    _check_text(value, origin)
    lowered = value.lower()
    if lowered in ("preview", "latest"):
        return lowered
    match = _API_VERSION_RE.match(lowered)
    if match:
        import datetime  # only to reject impossible dates such as 2024-13-45

        try:
            datetime.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            pass
        else:
            return lowered
    hint = ""
    if lowered in ("v1", "1", "1.0"):
        hint = (
            " The v1 surface (/openai/v1/) needs no dated version: use preview or latest "
            "there, or leave it unset."
        )
    raise ConfigurationError(
        f"{origin.assign(_show(value))} is not an Azure OpenAI API version: use YYYY-MM-DD or "
        f"YYYY-MM-DD-preview (for example {DEFAULT_API_VERSION}), or preview / latest, or "
        f"{origin.how_to_unset} to use {DEFAULT_API_VERSION}.{hint}"
    )


def _validate_deployment(value: str, origin: _Origin) -> str:
    _check_text(value, origin)
    bad = sorted(set(value) & _NOT_IN_DEPLOYMENT)
    if not bad:
        return value
    raise ConfigurationError(
        f"{origin.assign(_show(value))} is not a deployment name (it contains "
        f"{', '.join(repr(ch) for ch in bad)}): use the name of the deployment you created on "
        f"the resource (letters, digits, '.', '_' and '-'), not a URL or a path."
    )


def _is_placeholder(value: str) -> bool:
    lowered = value.lower()
    return (
        set(lowered.replace("-", "")) <= {"0"}
        or any(ch in value for ch in "<>{}[]$")
        or any(word in lowered for word in ("your", "xxxx", "replace", "changeme", "todo"))
    )


def _validate_client_id(value: str, origin: _Origin) -> str:
    _check_text(value, origin)
    shown = origin.assign(repr(value)) if len(value) < 64 else origin.label
    fix = (
        f"set {origin.var} to the client id (a GUID such as "
        f"12345678-abcd-4ef0-9876-0123456789ab) of the user-assigned managed identity or app "
        f"registration, or {origin.how_to_unset} to use the system-assigned managed identity"
    )
    if _GUID_RE.match(value) and not _is_placeholder(value):
        return value.lower()
    if _is_placeholder(value):
        raise ConfigurationError(f"{shown} looks like a placeholder: {fix}.")
    raise ConfigurationError(f"{origin.label} is not a client id (a GUID): {fix}.")


def _validate_tenant_id(value: str, origin: _Origin) -> str:
    _check_text(value, origin)
    if not _is_placeholder(value) and (_GUID_RE.match(value) or _DOMAIN_RE.match(value)):
        return value.lower()
    if _is_placeholder(value) and len(value) < 64:
        what = f"{origin.assign(repr(value))} looks like a placeholder"
    else:
        what = f"{origin.label} is neither a tenant id GUID nor a domain"
    raise ConfigurationError(
        f"{what}: set {origin.var} to your Microsoft Entra "
        f"tenant (directory) id, a GUID, or a verified domain such as contoso.onmicrosoft.com, "
        f"or {origin.how_to_unset}."
    )


def _validate_token_credentials(value: str, origin: _Origin) -> str:
    _check_text(value, origin)
    lowered = value.lower()
    if lowered in TOKEN_CREDENTIALS_VALUES:
        return lowered
    import difflib  # error path only

    close = difflib.get_close_matches(lowered, TOKEN_CREDENTIALS_VALUES, n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ConfigurationError(
        f"{origin.assign(_show(value))} is not a value azure-identity accepts: use one of "
        f"{', '.join(TOKEN_CREDENTIALS_VALUES)}, or {origin.how_to_unset}.{hint}"
    )


def _parse_bool(value: Any, origin: _Origin) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise ConfigurationError(
        f"{origin.assign(_show(str(value)))} is not a boolean: use true or false (1 or 0), "
        f"or {origin.how_to_unset}."
    )


_VALIDATORS = {
    "endpoint": _validate_endpoint,
    "api_version": _validate_api_version,
    "chat_deployment": _validate_deployment,
    "embedding_deployment": _validate_deployment,
    "scope": _validate_scope,
    "client_id": _validate_client_id,
    "tenant_id": _validate_tenant_id,
    "token_credentials": _validate_token_credentials,
}


def _raw_value(
    name: str, overrides: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[Any, _Origin] | None:
    """Find the raw value of one setting: the argument, else the first non-empty env var.

    ``None`` and blank strings count as "not given", for arguments as for variables, so
    ``scope=os.getenv("MY_SCOPE", "")`` falls through to the environment.
    """
    given = overrides.get(name)
    if isinstance(given, str):
        given = given.strip() or None
    if given is not None:
        origin = _Origin(name, name, from_argument=True)
        if isinstance(given, str) or (name == "running_on_azure" and isinstance(given, bool)):
            return given, origin
        raise ConfigurationError(
            f"{name}= must be a string, got {type(given).__name__}"
            + (" (or a bool)." if name == "running_on_azure" else ".")
        )
    for var in _ENV_VARS[name]:
        raw = environ.get(var)
        if raw is not None and raw.strip():
            return raw.strip(), _Origin(name, var, from_argument=False)
    return None


@dataclass(frozen=True)
class Settings:
    """Validated settings for keyless Azure OpenAI clients; holds no secrets.

    Build it with :meth:`from_env`, which applies keyword arguments over environment
    variables over defaults and validates every value. Direct construction skips validation.

    Attributes:
        endpoint: ``AZURE_OPENAI_ENDPOINT``, normalised to ``scheme://host[:port]``.
        api_version: ``AZURE_OPENAI_API_VERSION``, else ``OPENAI_API_VERSION``, else
            :data:`DEFAULT_API_VERSION`.
        chat_deployment: ``AZURE_OPENAI_CHAT_DEPLOYMENT``.
        embedding_deployment: ``AZURE_OPENAI_EMBEDDING_DEPLOYMENT``.
        scope: ``scope=`` or ``AZURE_OPENAI_SCOPE``, else derived from the endpoint's cloud.
        client_id: ``AZURE_CLIENT_ID``, a GUID (lower-cased).
        tenant_id: ``AZURE_TENANT_ID``, a GUID or a domain (lower-cased).
        running_on_azure: ``RUNNING_ON_AZURE`` (true/false, 1/0, yes/no, on/off).
        token_credentials: ``AZURE_TOKEN_CREDENTIALS``, lower-cased and checked against
            :data:`TOKEN_CREDENTIALS_VALUES`.
        sources: For every field, where its value came from: ``"argument"``,
            ``"env AZURE_OPENAI_ENDPOINT"`` (the variable's name), ``"default"``,
            ``"derived from endpoint"`` or ``"unset"``.
    """

    endpoint: str | None = None
    api_version: str = DEFAULT_API_VERSION
    chat_deployment: str | None = None
    embedding_deployment: str | None = None
    scope: str = PUBLIC_SCOPE
    client_id: str | None = None
    tenant_id: str | None = None
    running_on_azure: bool = False
    token_credentials: str | None = None
    sources: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), compare=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read settings from keyword arguments, then the environment, then defaults.

        Args:
            environ: The environment to read; ``os.environ`` when ``None``. Empty values
                count as unset.
            **overrides: Any of :data:`SETTINGS_KEYWORDS`; a keyword argument beats the
                environment, and ``None`` means "not given".

        Returns:
            The validated settings.

        Raises:
            ConfigurationError: An unknown keyword, or a value that fails validation; the
                message names the variable or argument and what to change.
        """
        unknown = sorted(set(overrides) - SETTINGS_KEYWORDS)
        if unknown:
            import difflib  # error path only

            hints = []
            for name in unknown:
                close = difflib.get_close_matches(name, sorted(SETTINGS_KEYWORDS), n=1)
                hints.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
            raise ConfigurationError(
                f"Unknown setting {', '.join(hints)}: the accepted keywords are "
                f"{', '.join(sorted(SETTINGS_KEYWORDS))}."
            )
        env: Mapping[str, str] = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for name in _ENV_VARS:
            found = _raw_value(name, overrides, env)
            if found is None:
                values[name] = None
                sources[name] = "unset"
                continue
            raw, origin = found
            if name == "running_on_azure":
                values[name] = _parse_bool(raw, origin)
            else:
                values[name] = _VALIDATORS[name](raw, origin)
            sources[name] = origin.source

        if values["api_version"] is None:
            values["api_version"] = DEFAULT_API_VERSION
            sources["api_version"] = "default"
        if values["running_on_azure"] is None:
            values["running_on_azure"] = False
            sources["running_on_azure"] = "default"
        if values["scope"] is None:
            values["scope"] = scope_for_endpoint(values["endpoint"])
            sources["scope"] = "derived from endpoint" if values["endpoint"] else "default"
        return cls(**values, sources=MappingProxyType(sources))

    def require_endpoint(self) -> str:
        """Return the endpoint, or explain how to set it.

        Returns:
            The normalised endpoint.

        Raises:
            ConfigurationError: No endpoint was configured.
        """
        if not self.endpoint:
            raise ConfigurationError(
                f"No Azure OpenAI endpoint: set AZURE_OPENAI_ENDPOINT={_ENDPOINT_EXAMPLE} "
                f"or pass endpoint=..."
            )
        return self.endpoint

    def require_deployment(self, kind: Literal["chat", "embedding"]) -> str:
        """Return the chat or embedding deployment name, or explain how to set it.

        Args:
            kind: ``"chat"`` or ``"embedding"``.

        Returns:
            The deployment name.

        Raises:
            ConfigurationError: No deployment of that kind was configured.
        """
        if kind == "chat":
            value, var = self.chat_deployment, "AZURE_OPENAI_CHAT_DEPLOYMENT"
            example = "my-gpt-4o"
        elif kind == "embedding":
            value, var = self.embedding_deployment, "AZURE_OPENAI_EMBEDDING_DEPLOYMENT"
            example = "my-text-embedding-3-small"
        else:
            raise ConfigurationError(f"kind must be 'chat' or 'embedding', got {kind!r}.")
        if not value:
            raise ConfigurationError(
                f"No {kind} deployment: set {var}=<deployment name> or pass deployment=... . "
                f"Use the deployment name you chose when deploying the model on the resource "
                f"(for example {example!r}), which is not the model name unless you named it "
                f"so; a model name there gets 404 DeploymentNotFound."
            )
        return value

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as a JSON-safe dict (there are no secrets to leave out).

        Returns:
            Every field, with ``sources`` as a plain dict.
        """
        return {
            "endpoint": self.endpoint,
            "api_version": self.api_version,
            "chat_deployment": self.chat_deployment,
            "embedding_deployment": self.embedding_deployment,
            "scope": self.scope,
            "client_id": self.client_id,
            "tenant_id": self.tenant_id,
            "running_on_azure": self.running_on_azure,
            "token_credentials": self.token_credentials,
            "sources": dict(self.sources),
        }

    def to_json(self) -> str:
        """Return :meth:`to_dict` as indented JSON.

        Returns:
            A JSON document.
        """
        import json  # only the CLI serialises settings

        return json.dumps(self.to_dict(), indent=2)
