"""Environment-aware credential selection, sync and ``azure.identity.aio``, that says why.

Explicit beats implicit: a credential passed in wins; then ``AZURE_TOKEN_CREDENTIALS`` (the
same values azure-identity accepts); then, from the environment, a service principal,
Kubernetes workload identity, a managed identity, and finally developer sign-in (``azd``,
then ``az``). Unlike ``DefaultAzureCredential`` the choice is made once, up front, and is
one credential: a production identity that fails is reported, never silently replaced by
whoever happens to be signed in to ``az`` on the machine.

azure-identity is imported inside the functions that build credentials (it takes a few
hundred milliseconds to import), so importing this module stays cheap.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from adapters.errors import ConfigurationError
from adapters.settings import CHINA_SCOPE, GOVERNMENT_SCOPE, Settings

__all__ = [
    "CredentialChoice",
    "describe",
    "explain_failure",
    "select_credential",
]

_FIX_DEV = "run `az login` (or `azd auth login`)"
_FIX_MANAGED = (
    "assign a managed identity to this app, or set AZURE_CLIENT_ID to the user-assigned "
    "identity's client id"
)
_FIX_SERVICE_PRINCIPAL = (
    "check AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or "
    "AZURE_CLIENT_CERTIFICATE_PATH): the secret or certificate must belong to that app "
    "registration and must not have expired"
)
_FIX_WORKLOAD = (
    "check the federated identity credential on the identity (issuer: the cluster's OIDC "
    "issuer URL; subject: system:serviceaccount:<namespace>:<service account>) and the "
    "service account's azure.workload.identity/client-id annotation"
)
_FIX_PASSED = (
    "check the credential passed as credential=: it must be able to get a token for the "
    "Azure OpenAI scope"
)
_TRUTHY = frozenset({"1", "true", "yes", "on", "y", "t"})


@dataclass(frozen=True)
class CredentialChoice:
    """The credential chosen for this process, and why.

    Attributes:
        kind: ``"passed"``, ``"service_principal"``, ``"workload_identity"``,
            ``"managed_identity"``, ``"developer_cli"`` (``azd`` then ``az``), or a single
            credential forced by ``AZURE_TOKEN_CREDENTIALS``: ``"azure_cli"``,
            ``"azure_developer_cli"``, ``"azure_powershell"``, ``"visual_studio_code"``,
            ``"interactive_browser"``.
        reason: One sentence saying why, naming the variables that decided it.
        credential: The sync ``TokenCredential``; ``None`` only when an async-only
            credential was passed in.
        async_credential: The ``azure.identity.aio`` twin; ``None`` when a sync credential
            was passed in, or for ``interactive_browser``, which has no aio flavour (run the
            sync one in a worker thread).
        identity_key: Hashable and equal for the same identity; keys one token cache per
            (scope, identity).
        fix: What to do when this credential cannot get a token.
    """

    kind: str
    reason: str
    credential: Any | None
    async_credential: Any | None
    identity_key: tuple[str, ...]
    fix: str

    @property
    def name(self) -> str:
        """The credential's class name, e.g. ``"ManagedIdentityCredential"``.

        A chain is named with its members:
        ``"ChainedTokenCredential(AzureDeveloperCliCredential, AzureCliCredential)"``.
        """
        cred = self.credential if self.credential is not None else self.async_credential
        return _credential_name(cred)

    def __repr__(self) -> str:
        # Credentials stay out of the repr: a user's own class might print a secret.
        return (
            f"CredentialChoice(kind={self.kind!r}, name={self.name!r}, "
            f"identity_key={self.identity_key!r})"
        )


def _credential_name(cred: Any) -> str:
    name = type(cred).__name__
    members = getattr(cred, "credentials", None)
    if name == "ChainedTokenCredential" and isinstance(members, (list, tuple)):
        return f"{name}({', '.join(type(m).__name__ for m in members)})"
    return name


def describe(choice: CredentialChoice) -> dict[str, str]:
    """Summarise a choice for ``adapters doctor`` and logs (no secrets, no objects).

    Args:
        choice: The result of :func:`select_credential`.

    Returns:
        ``{"kind", "credential", "reason", "fix"}``, all strings.
    """
    return {
        "kind": choice.kind,
        "credential": choice.name,
        "reason": choice.reason,
        "fix": choice.fix,
    }


# ---------------------------------------------------------------------------------------
# Selection


def _is_async_credential(cred: Any) -> bool:
    method = getattr(type(cred), "get_token_info", None) or getattr(type(cred), "get_token", None)
    return inspect.iscoroutinefunction(method)


def _passed(cred: Any) -> CredentialChoice:
    if not callable(getattr(cred, "get_token_info", None)) and not callable(
        getattr(cred, "get_token", None)
    ):
        # Never echo the value: a string here is most likely an API key.
        raise ConfigurationError(
            f"credential= must be a token credential (an object with get_token or "
            f"get_token_info, such as azure.identity.ManagedIdentityCredential), not a "
            f"{type(cred).__name__}; keys are never used: pass a credential, or drop "
            f"credential= to choose one from the environment."
        )
    is_async = _is_async_credential(cred)
    return CredentialChoice(
        kind="passed",
        reason=(
            f"A {type(cred).__name__} was passed as credential=, so it is used as is and "
            f"the environment is not consulted."
        ),
        credential=None if is_async else cred,
        async_credential=cred if is_async else None,
        identity_key=("passed", str(id(cred))),
        fix=_FIX_PASSED,
    )


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def _label(settings: Settings, name: str, var: str) -> str:
    """How a message names a setting: the variable, or the argument it came from."""
    return f"{name}=" if settings.sources.get(name) == "argument" else var


def _said(settings: Settings, name: str, var: str, value: object) -> str:
    """How a reason quotes a deciding value: ``AZURE_X=value`` or ``name=value``."""
    if settings.sources.get(name) == "argument":
        return f"{name}={value!r}"
    return f"{var}={value}"


def _pair(class_name: str, **kwargs: Any) -> tuple[Any, Any | None]:
    """Build ``azure.identity.<class_name>`` and its ``azure.identity.aio`` twin, if any."""
    import azure.identity
    import azure.identity.aio

    sync = getattr(azure.identity, class_name)(**kwargs)
    aio_class = getattr(azure.identity.aio, class_name, None)
    return sync, (aio_class(**kwargs) if aio_class is not None else None)


def _authority(settings: Settings, env: Mapping[str, str]) -> dict[str, str]:
    """The Entra ID authority for service principals: AZURE_AUTHORITY_HOST, else the cloud.

    A Government or China endpoint needs its cloud's authority; azure-identity would use
    the public one unless told.
    """
    host = _get(env, "AZURE_AUTHORITY_HOST")
    if host is None and settings.scope == GOVERNMENT_SCOPE:
        host = "login.microsoftonline.us"
    elif host is None and settings.scope == CHINA_SCOPE:
        host = "login.chinacloudapi.cn"
    return {"authority": host} if host else {}


def _require(required: dict[str, str | None], context: str, fix_tail: str) -> None:
    """Raise a ConfigurationError naming the required variables that are missing."""
    missing = [name for name, value in required.items() if not value]
    if missing:
        names = missing[0] if len(missing) == 1 else f"{', '.join(missing[:-1])} and {missing[-1]}"
        verb = "is" if len(missing) == 1 else "are"
        raise ConfigurationError(f"{context} but {names} {verb} not: set {names}{fix_tail}.")


def _service_principal(
    settings: Settings, env: Mapping[str, str], why: str | None = None
) -> CredentialChoice:
    secret = _get(env, "AZURE_CLIENT_SECRET")
    cert_path = _get(env, "AZURE_CLIENT_CERTIFICATE_PATH")
    given = "AZURE_CLIENT_SECRET" if secret else "AZURE_CLIENT_CERTIFICATE_PATH"
    other = (
        "change AZURE_TOKEN_CREDENTIALS"
        if why
        else "unset AZURE_CLIENT_SECRET and AZURE_CLIENT_CERTIFICATE_PATH"
    )
    _require(
        {
            "AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH)": secret or cert_path,
            "AZURE_TENANT_ID": settings.tenant_id,
            "AZURE_CLIENT_ID": settings.client_id,
        },
        why or f"{given} is set (a service principal)",
        f" for the app registration, or {other} to use another credential",
    )
    tenant, client = settings.tenant_id or "", settings.client_id or ""
    authority = _authority(settings, env)
    if secret is not None:
        sync, aio = _pair(
            "ClientSecretCredential",
            tenant_id=tenant,
            client_id=client,
            client_secret=secret,
            **authority,
        )
    else:
        try:
            sync, aio = _pair(
                "CertificateCredential",
                tenant_id=tenant,
                client_id=client,
                certificate_path=cert_path,
                password=_get(env, "AZURE_CLIENT_CERTIFICATE_PASSWORD"),
                send_certificate_chain=(
                    (_get(env, "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN") or "").lower() in _TRUTHY
                ),
                **authority,
            )
        except (OSError, ValueError) as exc:
            # The library's message may quote the password; only the type is kept.
            raise ConfigurationError(
                f"AZURE_CLIENT_CERTIFICATE_PATH={cert_path!r} could not be loaded "
                f"({type(exc).__name__}): point it at a PEM or PKCS12 file that contains the "
                f"private key, and set AZURE_CLIENT_CERTIFICATE_PASSWORD if the file is "
                f"encrypted."
            ) from None
    tenant_var = _label(settings, "tenant_id", "AZURE_TENANT_ID")
    client_var = _label(settings, "client_id", "AZURE_CLIENT_ID")
    reason = (
        f"{why}, and {given}, {tenant_var} and {client_var} describe a service principal, "
        if why
        else f"{given}, {tenant_var} and {client_var} are set, "
    )
    return CredentialChoice(
        kind="service_principal",
        reason=f"{reason}so that service principal is used ({type(sync).__name__}).",
        credential=sync,
        async_credential=aio,
        identity_key=("service_principal", authority.get("authority", ""), tenant, client),
        fix=_FIX_SERVICE_PRINCIPAL,
    )


def _workload_identity(
    settings: Settings, env: Mapping[str, str], why: str | None = None
) -> CredentialChoice:
    token_file = _get(env, "AZURE_FEDERATED_TOKEN_FILE")
    other = "change AZURE_TOKEN_CREDENTIALS" if why else "unset AZURE_FEDERATED_TOKEN_FILE"
    _require(
        {
            "AZURE_FEDERATED_TOKEN_FILE": token_file,
            "AZURE_CLIENT_ID": settings.client_id,
            "AZURE_TENANT_ID": settings.tenant_id,
        },
        why or "AZURE_FEDERATED_TOKEN_FILE is set (Kubernetes workload identity)",
        " (the workload identity webhook sets them when the pod is labelled "
        'azure.workload.identity/use: "true" and its service account is annotated with '
        f"azure.workload.identity/client-id), or {other} to use another credential",
    )
    tenant, client = settings.tenant_id or "", settings.client_id or ""
    authority = _authority(settings, env)
    sync, aio = _pair(
        "WorkloadIdentityCredential",
        tenant_id=tenant,
        client_id=client,
        token_file_path=token_file,
        **authority,
    )
    client_var = _label(settings, "client_id", "AZURE_CLIENT_ID")
    tenant_var = _label(settings, "tenant_id", "AZURE_TENANT_ID")
    start = (
        f"{why}, and AZURE_FEDERATED_TOKEN_FILE, {client_var} and {tenant_var} are set"
        if why
        else f"AZURE_FEDERATED_TOKEN_FILE, {client_var} and {tenant_var} are set"
    )
    return CredentialChoice(
        kind="workload_identity",
        reason=f"{start} (Kubernetes workload identity), so WorkloadIdentityCredential is used.",
        credential=sync,
        async_credential=aio,
        identity_key=("workload_identity", authority.get("authority", ""), tenant, client),
        fix=_FIX_WORKLOAD,
    )


def _managed_identity(settings: Settings, why: str) -> CredentialChoice:
    client_id = settings.client_id
    if client_id:
        kwargs = {"client_id": client_id}
        client_var = _label(settings, "client_id", "AZURE_CLIENT_ID")
        which = f"the user-assigned managed identity {client_id} ({client_var})"
    else:
        kwargs = {}
        which = "the system-assigned managed identity (AZURE_CLIENT_ID is not set)"
    sync, aio = _pair("ManagedIdentityCredential", **kwargs)
    return CredentialChoice(
        kind="managed_identity",
        reason=f"{why}, so {which} is used through ManagedIdentityCredential.",
        credential=sync,
        async_credential=aio,
        identity_key=("managed_identity", client_id or "system-assigned"),
        fix=_FIX_MANAGED,
    )


def _developer(settings: Settings, why: str, note: str = "") -> CredentialChoice:
    tenant = {"tenant_id": settings.tenant_id} if settings.tenant_id else {}
    azd_sync, azd_aio = _pair("AzureDeveloperCliCredential", **tenant)
    az_sync, az_aio = _pair("AzureCliCredential", **tenant)
    sync, aio = _pair_of_chain((azd_sync, az_sync), (azd_aio, az_aio))
    in_tenant = f" in tenant {settings.tenant_id}" if settings.tenant_id else ""
    return CredentialChoice(
        kind="developer_cli",
        reason=(
            f"{why}, so developer sign-in is used{in_tenant}: the Azure Developer CLI "
            f"(`azd auth login`) first, then the Azure CLI (`az login`){note}."
        ),
        credential=sync,
        async_credential=aio,
        identity_key=("developer_cli", settings.tenant_id or ""),
        fix=_FIX_DEV,
    )


def _pair_of_chain(syncs: tuple[Any, ...], aios: tuple[Any, ...]) -> tuple[Any, Any]:
    import azure.identity
    import azure.identity.aio

    return (
        azure.identity.ChainedTokenCredential(*syncs),
        azure.identity.aio.ChainedTokenCredential(*aios),
    )


# AZURE_TOKEN_CREDENTIALS names that force one developer-side credential:
# value -> (kind, class name, fix).
_FORCED_SINGLE: dict[str, tuple[str, str, str]] = {
    "azureclicredential": ("azure_cli", "AzureCliCredential", "run `az login`"),
    "azuredeveloperclicredential": (
        "azure_developer_cli",
        "AzureDeveloperCliCredential",
        "run `azd auth login`",
    ),
    "azurepowershellcredential": (
        "azure_powershell",
        "AzurePowerShellCredential",
        "run `Connect-AzAccount` in PowerShell",
    ),
    "visualstudiocodecredential": (
        "visual_studio_code",
        "VisualStudioCodeCredential",
        "sign in to Azure with the Azure Resources extension in VS Code and install "
        "azure-identity-broker",
    ),
    "interactivebrowsercredential": (
        "interactive_browser",
        "InteractiveBrowserCredential",
        "complete the sign-in in the browser window that opens",
    ),
}


def _forced_single(settings: Settings, value: str, why: str) -> CredentialChoice:
    kind, class_name, fix = _FORCED_SINGLE[value]
    tenant = {"tenant_id": settings.tenant_id} if settings.tenant_id else {}
    sync, aio = _pair(class_name, **tenant)
    return CredentialChoice(
        kind=kind,
        reason=f"{why} forces {class_name} alone.",
        credential=sync,
        async_credential=aio,
        identity_key=(kind, settings.tenant_id or ""),
        fix=fix,
    )


def select_credential(
    settings: Settings | None = None,
    credential: Any | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> CredentialChoice:
    """Choose the credential for this process and say why.

    In order: a ``credential`` passed in; ``AZURE_TOKEN_CREDENTIALS`` (``prod``: service
    principal, workload identity or managed identity; ``dev``: ``azd`` then ``az``; a
    credential name: exactly that credential); a service principal from
    ``AZURE_CLIENT_SECRET`` or ``AZURE_CLIENT_CERTIFICATE_PATH`` with ``AZURE_TENANT_ID``
    and ``AZURE_CLIENT_ID``; workload identity (``AZURE_FEDERATED_TOKEN_FILE``); a managed
    identity (``IDENTITY_ENDPOINT``, ``MSI_ENDPOINT`` or ``RUNNING_ON_AZURE``;
    user-assigned when ``AZURE_CLIENT_ID`` is set); else developer sign-in (``azd``, then
    ``az``). A production choice is final: it never falls back to developer sign-in.

    Both flavours are built, the sync credential and its ``azure.identity.aio`` twin;
    building them needs no running event loop and does no I/O.

    Args:
        settings: The settings (client id, tenant id, scope, RUNNING_ON_AZURE,
            AZURE_TOKEN_CREDENTIALS); read from ``environ`` when ``None``.
        credential: A credential to use as is, sync or ``azure.identity.aio``.
        environ: The environment to read the other variables from (the secret, the token
            file, the managed identity endpoints); ``os.environ`` when ``None``.
            ``ManagedIdentityCredential`` itself always reads ``os.environ``.

    Returns:
        The choice, with the reason and the fix to show when it fails.

    Raises:
        ConfigurationError: The environment is half-configured (for example
            ``AZURE_FEDERATED_TOKEN_FILE`` without ``AZURE_CLIENT_ID``), a forced credential
            lacks its variables, or ``credential`` is not a token credential.
    """
    if credential is not None:
        return _passed(credential)
    env: Mapping[str, str] = os.environ if environ is None else environ
    if settings is None:
        settings = Settings.from_env(env)

    forced = settings.token_credentials
    if forced is not None:
        why = _said(settings, "token_credentials", "AZURE_TOKEN_CREDENTIALS", forced)
        if forced == "dev":
            return _developer(settings, f"{why} allows only developer credentials")
        if forced == "prod":
            why = f"{why} allows only production credentials"
            if _get(env, "AZURE_CLIENT_SECRET") or _get(env, "AZURE_CLIENT_CERTIFICATE_PATH"):
                return _service_principal(settings, env, why)
            if _get(env, "AZURE_FEDERATED_TOKEN_FILE"):
                return _workload_identity(settings, env, why)
            return _managed_identity(
                settings, f"{why} and no service principal or workload identity is configured"
            )
        if forced == "environmentcredential":
            return _service_principal(settings, env, f"{why} forces the service principal")
        if forced == "workloadidentitycredential":
            return _workload_identity(settings, env, f"{why} forces workload identity")
        if forced == "managedidentitycredential":
            return _managed_identity(settings, f"{why} forces managed identity")
        return _forced_single(settings, forced, why)

    if _get(env, "AZURE_CLIENT_SECRET") or _get(env, "AZURE_CLIENT_CERTIFICATE_PATH"):
        return _service_principal(settings, env)
    if _get(env, "AZURE_FEDERATED_TOKEN_FILE"):
        return _workload_identity(settings, env)
    for var in ("IDENTITY_ENDPOINT", "MSI_ENDPOINT"):
        if _get(env, var):
            return _managed_identity(settings, f"{var} is set (an Azure host)")
    if settings.running_on_azure:
        if settings.sources.get("running_on_azure") == "argument":
            return _managed_identity(settings, "running_on_azure=True was passed")
        return _managed_identity(settings, "RUNNING_ON_AZURE is true")
    why = (
        "No service principal, workload identity or managed identity is configured "
        "(AZURE_CLIENT_SECRET, AZURE_FEDERATED_TOKEN_FILE, IDENTITY_ENDPOINT, MSI_ENDPOINT "
        "and RUNNING_ON_AZURE are unset)"
    )
    note = ""
    if settings.client_id:
        note = (
            " (AZURE_CLIENT_ID alone does not select a managed identity: on an Azure VM, "
            "set RUNNING_ON_AZURE=true)"
        )
    return _developer(settings, why, note)


# ---------------------------------------------------------------------------------------
# Explaining failures

_CONNECTION_ERRORS = frozenset(
    {
        "ServiceRequestError",
        "ServiceResponseError",
        "ConnectionError",
        "ConnectError",
        "ClientConnectorError",
        "ServerDisconnectedError",
    }
)
_TIMEOUT_ERRORS = frozenset(
    {
        "TimeoutError",
        "TimeoutExpired",
        "ServiceRequestTimeoutError",
        "ServiceResponseTimeoutError",
        "ReadTimeout",
        "ConnectTimeout",
        "ServerTimeoutError",
    }
)

# AADSTS code -> (cause, fix or None for the choice's own fix).
_AADSTS: dict[str, tuple[str, str | None]] = {
    "7000215": (
        "the client secret is not valid for this app registration",
        "create a new client secret for the app registration in AZURE_CLIENT_ID and put it "
        "in AZURE_CLIENT_SECRET",
    ),
    "7000222": (
        "the client secret has expired",
        "create a new client secret for the app registration in AZURE_CLIENT_ID and put it "
        "in AZURE_CLIENT_SECRET",
    ),
    "700016": (
        "no application with this client id exists in the tenant",
        "check AZURE_CLIENT_ID and AZURE_TENANT_ID: the app must be registered in that tenant",
    ),
    "90002": (
        "the tenant was not found",
        "check AZURE_TENANT_ID, and that the endpoint's cloud is the tenant's cloud",
    ),
    "70021": ("no federated identity credential matches this service account token", None),
    "700211": ("no federated identity credential matches the token's issuer", None),
    "700213": ("no federated identity credential matches the token's subject", None),
    "700024": (
        "the service account token is expired or not yet valid",
        "check that the projected token in AZURE_FEDERATED_TOKEN_FILE is being refreshed, "
        "and the node's clock",
    ),
    "50076": (
        "the sign-in needs multi-factor authentication",
        "sign in again interactively with `az login` (or `azd auth login`)",
    ),
    "50079": (
        "the sign-in needs multi-factor authentication",
        "sign in again interactively with `az login` (or `azd auth login`)",
    ),
    "50173": ("your sign-in has expired", "run `az login` (or `azd auth login`) again"),
    "700082": ("your sign-in has expired", "run `az login` (or `azd auth login`) again"),
    "70043": ("your sign-in has expired", "run `az login` (or `azd auth login`) again"),
    "53003": (
        "a Conditional Access policy blocked the sign-in",
        "ask your tenant administrator which device or location the policy requires",
    ),
    "500011": (
        "the token's resource (the scope) does not exist in this tenant",
        "check AZURE_OPENAI_SCOPE, and that the endpoint and the tenant are in the same cloud",
    ),
}


_DEVELOPER_KINDS = frozenset({"developer_cli", "azure_cli", "azure_developer_cli"})


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and its causes/contexts, each once."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _type_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for err in _chain(exc) for cls in type(err).__mro__}


def _cli_diagnosis(text: str) -> tuple[str, str] | None:
    """Cause and fix from the Azure CLI / Azure Developer CLI messages, if any."""
    az_missing = "azure cli not found" in text or "'az' is not recognized" in text
    azd_missing = "azure developer cli could not be found" in text
    az_login = "please run 'az login'" in text
    azd_login = "please run 'azd auth login'" in text
    if az_login or azd_login:
        if az_login and azd_login:
            return "you are not signed in to `az` or `azd`", _FIX_DEV
        if az_login:
            return "you are not signed in to the Azure CLI", "run `az login`"
        return "you are not signed in to the Azure Developer CLI", "run `azd auth login`"
    if "failed to invoke the azure cli" in text or "failed to invoke azure developer cli" in text:
        return (
            "the CLI did not answer in time or failed to run",
            "run `az account get-access-token` (or `azd auth token`) in a terminal to see why",
        )
    if az_missing and azd_missing:
        return (
            "neither the Azure CLI (`az`) nor the Azure Developer CLI (`azd`) is installed",
            "install the Azure CLI (https://aka.ms/azure-cli) and run `az login`, or install "
            "azd (https://aka.ms/azure-dev) and run `azd auth login`",
        )
    if az_missing:
        return (
            "the Azure CLI (`az`) is not installed or not on PATH",
            "install it (https://aka.ms/azure-cli) and run `az login`, or use the Azure "
            "Developer CLI: `azd auth login`",
        )
    if azd_missing:
        return (
            "the Azure Developer CLI (`azd`) is not installed or not on PATH",
            "install it (https://aka.ms/azure-dev) and run `azd auth login`, or use the Azure "
            "CLI: `az login`",
        )
    return None


_IDENTITY_MISSING_RE = re.compile(
    r"no identity has been assigned|identity not found|identity_not_found"
    r"|no (?:user assigned|user-assigned|delegated)[^.]*identity found"
    r"|not assigned|unable to load the proper managed identity"
)
_ENDPOINT_DOWN_RE = re.compile(
    r"no response from the imds endpoint|no managed identity endpoint found|unreachable"
    r"|connection refused|name or service not known|failed to establish a new connection"
)

# azure-identity reports an endpoint's HTTP failure as "... Token request error: (...) 500".
_SERVICE_STATUS_RE = re.compile(r"\b(429|5\d\d)\b")


def _diagnose(choice: CredentialChoice, exc: BaseException) -> tuple[str, str]:
    # The raw messages are read to classify the failure and never copied into ours: some
    # embed CLI output or HTTP bodies. AADSTS codes are the one safe, useful detail.
    text = " ".join(str(err) for err in _chain(exc)).lower()
    types = _type_names(exc)
    fix = choice.fix

    code = re.search(r"aadsts(\d+)", text)
    if code:
        cause, code_fix = _AADSTS.get(
            code.group(1), ("Microsoft Entra ID refused the sign-in", None)
        )
        return f"{cause} (AADSTS{code.group(1)})", code_fix or fix

    cli = _cli_diagnosis(text)
    if cli is not None:
        return cli

    if choice.kind == "managed_identity" or "ManagedIdentityCredential" in choice.name:
        status = _SERVICE_STATUS_RE.search(text)
        if status or "JSONDecodeError" in types:
            # The endpoint is there and answered: an outage or throttling on the host's
            # identity service, not a setup fault. Blaming the setup would mislead.
            answer = f"HTTP {status.group(1)}" if status else "something that is not JSON"
            return (
                f"the managed identity endpoint answered {answer} (the host's identity "
                "service is failing or throttling; your configuration is not the cause)",
                "retry shortly: the provider retries by itself and keeps serving the cached "
                "token while it is valid",
            )
        if _IDENTITY_MISSING_RE.search(text):
            which = "with that client id " if choice.identity_key[-1] != "system-assigned" else ""
            return f"no managed identity {which}is assigned to this resource", fix
        if _ENDPOINT_DOWN_RE.search(text) or types & (_CONNECTION_ERRORS | _TIMEOUT_ERRORS):
            return (
                "the managed identity endpoint did not answer, so this does not look like an "
                "Azure host with a managed identity",
                "run it on Azure with a managed identity assigned (and AZURE_CLIENT_ID set to "
                "a user-assigned identity's client id), or, on a developer machine, unset "
                "RUNNING_ON_AZURE, IDENTITY_ENDPOINT and MSI_ENDPOINT and run `az login`",
            )

    if choice.kind == "workload_identity" and (
        "FileNotFoundError" in types or "no such file" in text
    ):
        return (
            "the service account token file (AZURE_FEDERATED_TOKEN_FILE) could not be read",
            'check that the pod is labelled azure.workload.identity/use: "true" so the '
            "token volume is mounted",
        )

    if types & _TIMEOUT_ERRORS or "timed out" in text:
        return (
            "the token request timed out",
            "check the network path to Microsoft Entra ID (proxy, firewall, DNS), then retry",
        )
    if types & _CONNECTION_ERRORS:
        return (
            "Microsoft Entra ID could not be reached",
            "check the network path to login.microsoftonline.com (proxy, firewall, DNS)",
        )
    if "CredentialUnavailableError" in types:
        return "it is not available in this environment", fix
    if "ClientAuthenticationError" in types:
        return "authentication failed", fix
    return f"it raised {type(exc).__name__}", fix


def explain_failure(choice: CredentialChoice, exc: BaseException) -> str:
    """Turn a credential's exception into one sentence: which credential, why, what to do.

    Recognises azure-identity's ``CredentialUnavailableError`` and
    ``ClientAuthenticationError`` messages (CLI missing or signed out, managed identity
    endpoint unreachable or identity not assigned, AADSTS codes), timeouts and connection
    errors, anywhere in the exception's cause chain. The exception's own text is never
    copied into the result, so no secret or token can leak through it.

    Args:
        choice: The choice whose credential failed.
        exc: What its ``get_token``/``get_token_info`` raised.

    Returns:
        A sentence such as "AzureCliCredential could not get a token because you are not
        signed in to the Azure CLI: run `az login`."
    """
    cause, fix = _diagnose(choice, exc)
    tenant = choice.identity_key[-1] if choice.kind in _DEVELOPER_KINDS else ""
    if tenant:
        # Signing in to the wrong tenant is the usual mistake: name the right one.
        fix = fix.replace("`az login`", f"`az login --tenant {tenant}`").replace(
            "`azd auth login`", f"`azd auth login --tenant-id {tenant}`"
        )
    return f"{choice.name} could not get a token because {cause}: {fix}."
