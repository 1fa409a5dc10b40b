"""``adapters doctor``: check a keyless Azure OpenAI setup end to end and explain failures.

Steps, each reported whatever happens in the others:

1. **Settings**: ``Settings.from_env`` with every value's source. An invalid variable (a
   placeholder ``AZURE_CLIENT_ID``, an endpoint with a path...) becomes a finding naming
   it; the other settings are still shown.
2. **Variables that shadow keyless auth**: ``AZURE_OPENAI_API_KEY``, ``OPENAI_API_KEY``,
   ``AZURE_OPENAI_AD_TOKEN`` (names only, never values).
3. **Credential**: which one ``select_credential`` chose and why.
4. **Token**: one credential call bounded by ``--timeout``; its claims decoded without
   verification (the token itself is never printed); the audience checked against the
   scope, the tenant against ``AZURE_TENANT_ID``.
5. **Preflight**: one minimal request with ``requests`` (a 1-token chat completion, else
   one embedding, else ``GET /openai/v1/models``), and the answer explained: 401 invalid
   token, 401 ``PermissionDenied`` (with the ``az role assignment create`` command for the
   token's ``oid``), 404 ``DeploymentNotFound``, 429, DNS, refused connections, timeouts,
   TLS and proxy errors.

Exit code: 0 only when the preflight succeeded; 2 when the settings or the identity
configuration are invalid; 1 otherwise. Only core dependencies are used (azure-identity,
requests, PyJWT), imported when the check runs.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import requests

    from adapters.credentials import CredentialChoice
    from adapters.settings import Settings

__all__ = ["Finding", "Report", "diagnose", "render_text", "run"]

Severity = Literal["error", "warning", "info"]

OPENAI_USER_ROLE = "Cognitive Services OpenAI User"
_RESOURCE_ID_PLACEHOLDER = (
    "/subscriptions/<subscription-id>/resourceGroups/<resource-group>/providers/"
    "Microsoft.CognitiveServices/accounts/{account}"
)

# Every variable Settings reads, in the order settings are listed.
_SETTINGS_VARIABLES = (
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_API_VERSION",
    "OPENAI_API_VERSION",
    "AZURE_OPENAI_CHAT_DEPLOYMENT",
    "AZURE_OPENAI_EMBEDDING_DEPLOYMENT",
    "AZURE_OPENAI_SCOPE",
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "RUNNING_ON_AZURE",
    "AZURE_TOKEN_CREDENTIALS",
)

# Variable -> what it does to code that does not go through the adapters.
_SHADOWING = {
    "AZURE_OPENAI_API_KEY": (
        "the openai SDK and LangChain read it and send it as an api-key header next to the "
        "bearer token (a keyless resource answers 400 or 401); the adapters ignore it"
    ),
    "OPENAI_API_KEY": (
        "LangChain falls back to it as the Azure api-key, and plain openai clients send it; "
        "the adapters ignore it"
    ),
    "AZURE_OPENAI_AD_TOKEN": (
        "a static token that silently replaces the token provider in openai, LangChain and "
        "LlamaIndex, and stops working when it expires (about an hour); the adapters ignore "
        "it"
    ),
}
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")
_DEVELOPER_KINDS = frozenset({"developer_cli", "azure_cli", "azure_developer_cli"})
# Claims worth showing: who the token is for and where it is valid. Never the signature.
_CLAIMS_SHOWN = (
    "aud",
    "iss",
    "tid",
    "oid",
    "appid",
    "azp",
    "upn",
    "unique_name",
    "preferred_username",
    "idtyp",
    "iat",
    "exp",
)


@dataclass
class Finding:
    """One thing the doctor found, with what to do about it.

    Attributes:
        severity: ``"error"`` (the setup does not work), ``"warning"`` (it works, but
            something is risky) or ``"info"``.
        code: A stable identifier for machines, e.g. ``"permission_denied"``.
        title: One line saying what is wrong.
        detail: Why, in a sentence or two.
        fix: What to change.
        commands: Shell commands that apply the fix, with placeholders in ``<...>``.
    """

    severity: Severity
    code: str
    title: str
    detail: str = ""
    fix: str = ""
    commands: list[str] = field(default_factory=list)


@dataclass
class Report:
    """Everything ``adapters doctor`` found; serialisable, and never holding a token.

    Attributes:
        settings: ``Settings.to_dict()`` (valid values only) or ``None``.
        invalid_variables: Variables whose values were rejected (names only).
        shadowing_variables: Key or static-token variables that are set (names only).
        credential: ``credentials.describe()`` of the chosen credential, or ``None``.
        token: What is known about the token: ``obtained``, ``seconds``, ``expires_on``,
            ``minutes_left``, ``claims`` (decoded, unverified), ``audience_ok``.
        preflight: The request sent and the answer: ``method``, ``url``, ``status``,
            ``error_code``, ``message``, ``seconds``, ``request_id``, ``retry_after``,
            ``error`` (a transport failure), ``ok``.
        findings: What is wrong or risky, most important first.
        exit_code: 0 preflight succeeded, 1 a check failed, 2 invalid configuration.
    """

    settings: dict[str, Any] | None = None
    invalid_variables: list[str] = field(default_factory=list)
    shadowing_variables: list[str] = field(default_factory=list)
    credential: dict[str, str] | None = None
    token: dict[str, Any] | None = None
    preflight: dict[str, Any] | None = None
    findings: list[Finding] = field(default_factory=list)
    exit_code: int = 1

    @property
    def ok(self) -> bool:
        """Whether the preflight request succeeded."""
        return self.exit_code == 0

    def add(self, finding: Finding) -> None:
        """Record a finding."""
        self.findings.append(finding)

    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON-safe dict (the ``--json`` document)."""
        order = {"error": 0, "warning": 1, "info": 2}
        return {
            "ok": self.ok,
            "exit_code": self.exit_code,
            "settings": self.settings,
            "invalid_variables": self.invalid_variables,
            "shadowing_variables": self.shadowing_variables,
            "credential": self.credential,
            "token": self.token,
            "preflight": self.preflight,
            "findings": [asdict(f) for f in sorted(self.findings, key=lambda f: order[f.severity])],
        }


# ---------------------------------------------------------------------------------------
# 1. Settings


def _read_settings(environ: Mapping[str, str], report: Report) -> Settings | None:
    """Resolve the settings; each invalid variable becomes a finding and is left out.

    Returns:
        The settings when every variable is valid, else ``None`` (the valid ones are still
        recorded in the report, so the user sees what would be used).
    """
    from adapters.errors import ConfigurationError
    from adapters.settings import Settings

    env = dict(environ)
    for _ in range(len(_SETTINGS_VARIABLES) + 1):
        try:
            settings = Settings.from_env(env)
        except ConfigurationError as exc:
            culprit = next(
                (
                    var
                    for var in _SETTINGS_VARIABLES
                    if env.get(var, "").strip() and not _valid_alone(var, env[var])
                ),
                None,
            )
            report.add(
                Finding(
                    "error",
                    "configuration",
                    f"{culprit} is invalid" if culprit else "The settings are invalid",
                    detail=str(exc),
                    fix=f"correct or unset {culprit}" if culprit else "",
                )
            )
            if culprit is None:
                return None
            report.invalid_variables.append(culprit)
            env.pop(culprit)
            continue
        report.settings = settings.to_dict()
        for var in report.invalid_variables:
            report.settings["sources"][_setting_of(var)] = f"invalid env {var} (ignored)"
        return None if report.invalid_variables else settings
    return None  # pragma: no cover - each pass removes one variable


def _valid_alone(var: str, value: str) -> bool:
    from adapters.errors import ConfigurationError
    from adapters.settings import Settings

    try:
        Settings.from_env({var: value})
    except ConfigurationError:
        return False
    return True


def _setting_of(var: str) -> str:
    names = {
        "AZURE_OPENAI_ENDPOINT": "endpoint",
        "AZURE_OPENAI_API_VERSION": "api_version",
        "OPENAI_API_VERSION": "api_version",
        "AZURE_OPENAI_CHAT_DEPLOYMENT": "chat_deployment",
        "AZURE_OPENAI_EMBEDDING_DEPLOYMENT": "embedding_deployment",
        "AZURE_OPENAI_SCOPE": "scope",
        "AZURE_CLIENT_ID": "client_id",
        "AZURE_TENANT_ID": "tenant_id",
        "RUNNING_ON_AZURE": "running_on_azure",
        "AZURE_TOKEN_CREDENTIALS": "token_credentials",
    }
    return names[var]


def _check_shadowing(environ: Mapping[str, str], report: Report) -> None:
    for var, effect in _SHADOWING.items():
        if environ.get(var, "").strip():
            report.shadowing_variables.append(var)
            report.add(
                Finding(
                    "warning",
                    "shadowing_variable",
                    f"{var} is set",
                    detail=f"{effect[0].upper()}{effect[1:]}.",
                    fix=f"unset {var} (keyless authentication needs no key or static token)",
                    commands=[f"unset {var}"],
                )
            )


# ---------------------------------------------------------------------------------------
# 3-4. Credential and token


def _sign_in_commands(choice: CredentialChoice, tenant: str | None) -> list[str]:
    """The commands that sign a developer in again (none for production identities)."""
    if choice.kind not in _DEVELOPER_KINDS:
        return []
    az = f"az login --tenant {tenant}" if tenant else "az login"
    azd = f"azd auth login --tenant-id {tenant}" if tenant else "azd auth login"
    if choice.kind == "azure_cli":
        return [az]
    if choice.kind == "azure_developer_cli":
        return [azd]
    return [az, azd]


def _decode_claims(token: str) -> dict[str, Any] | None:
    import jwt

    try:
        claims: dict[str, Any] = jwt.decode(
            token, options={"verify_signature": False, "verify_exp": False, "verify_aud": False}
        )
    except jwt.PyJWTError:
        return None
    return {name: claims[name] for name in _CLAIMS_SHOWN if name in claims}


def _principal_type(claims: Mapping[str, Any]) -> str:
    """``User`` for people, ``ServicePrincipal`` for apps and managed identities."""
    if claims.get("idtyp") == "user" or any(k in claims for k in ("upn", "unique_name")):
        return "User"
    return "ServicePrincipal"


def _check_token(
    settings: Settings, choice: CredentialChoice, timeout: float, report: Report
) -> str | None:
    """Get a token, record its claims and check them; returns the token (never stored)."""
    from adapters._cli_token import TokenTimeoutError, obtain_token
    from adapters.credentials import explain_failure

    sign_in = _sign_in_commands(choice, settings.tenant_id)
    try:
        got = obtain_token(choice, settings.scope, timeout)
    except TokenTimeoutError:
        report.token = {"obtained": False, "error": "timeout"}
        report.add(
            Finding(
                "error",
                "credential_timeout",
                f"{choice.name} did not return a token within {timeout:g} s",
                detail=(
                    "The credential is still waiting: an unreachable identity endpoint, a "
                    "network path to Microsoft Entra ID that drops packets, or a CLI waiting "
                    "for input."
                ),
                fix=f"{choice.fix}; or raise --timeout",
                commands=sign_in,
            )
        )
        return None
    except Exception as exc:
        report.token = {"obtained": False, "error": type(exc).__name__}
        report.add(
            Finding(
                "error",
                "credential",
                "No token from the credential",
                detail=explain_failure(choice, exc),
                fix=choice.fix,
                commands=sign_in,
            )
        )
        return None

    now = time.time()
    claims = _decode_claims(got.token) or {}
    info: dict[str, Any] = {
        "obtained": True,
        "seconds": round(got.seconds, 3),
        "expires_on": got.expires_on,
        "minutes_left": round((got.expires_on - now) / 60, 1),
        "claims": claims,
        "decoded": bool(claims),
    }
    report.token = info
    resource = settings.scope.removesuffix("/.default")
    aud = claims.get("aud")
    if isinstance(aud, str) and "://" in aud:
        info["audience_ok"] = aud.rstrip("/") == resource.rstrip("/")
        if not info["audience_ok"]:
            report.add(
                Finding(
                    "error",
                    "audience_mismatch",
                    f"The token's audience is {aud}, not {resource}",
                    detail=(
                        f"Azure OpenAI accepts only tokens for {resource}; this one was "
                        f"issued for another resource, so every request gets 401."
                    ),
                    fix=(
                        f"request the scope {settings.scope}: unset AZURE_OPENAI_SCOPE, or "
                        "set it to the endpoint's cloud (.azure.us: "
                        "https://cognitiveservices.azure.us/.default, .azure.cn: "
                        "https://cognitiveservices.azure.cn/.default)"
                    ),
                )
            )
    else:
        info["audience_ok"] = None  # an application-id audience or an opaque token
    tid = claims.get("tid")
    tenant = settings.tenant_id
    if tenant and _looks_like_guid(tenant) and isinstance(tid, str) and tid.lower() != tenant:
        report.add(
            Finding(
                "warning",
                "tenant_mismatch",
                f"The token is from tenant {tid}, but AZURE_TENANT_ID is {settings.tenant_id}",
                fix="sign in to the tenant of the Azure OpenAI resource",
                commands=_sign_in_commands(choice, settings.tenant_id),
            )
        )
    if got.expires_on - now < 300:
        report.add(
            Finding(
                "warning",
                "token_expiring",
                f"The token expires in {max(got.expires_on - now, 0):.0f} s",
                detail=(
                    "Credentials hand out tokens valid for an hour or more; a few seconds "
                    "left means a clock problem or a credential cache that is not refreshing."
                ),
                fix="check the machine's clock (timedatectl / w32tm)",
            )
        )
    return got.token


def _looks_like_guid(value: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", value))


# ---------------------------------------------------------------------------------------
# 5. Preflight


@dataclass(frozen=True)
class _Probe:
    method: str
    url: str
    body: dict[str, Any] | None
    deployment: str | None
    deployment_var: str | None


def _probe_for(settings: Settings, endpoint: str) -> _Probe:
    version = settings.api_version
    if settings.chat_deployment:
        name = settings.chat_deployment
        return _Probe(
            "POST",
            f"{endpoint}/openai/deployments/{name}/chat/completions?api-version={version}",
            {"messages": [{"role": "user", "content": "ping"}], "max_tokens": 1},
            name,
            "AZURE_OPENAI_CHAT_DEPLOYMENT",
        )
    if settings.embedding_deployment:
        name = settings.embedding_deployment
        return _Probe(
            "POST",
            f"{endpoint}/openai/deployments/{name}/embeddings?api-version={version}",
            {"input": "ping"},
            name,
            "AZURE_OPENAI_EMBEDDING_DEPLOYMENT",
        )
    return _Probe("GET", f"{endpoint}/openai/v1/models", None, None, None)


def _send(
    probe: _Probe, token: str | None, timeout: float, body: dict[str, Any] | None = None
) -> requests.Response:
    import requests

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(
        probe.method,
        probe.url,
        json=body if body is not None else probe.body,
        headers=headers,
        timeout=timeout,
        allow_redirects=False,
    )


def _error_of(response: requests.Response) -> tuple[str | None, str | None]:
    """``(error.code, error.message)`` of an Azure error body, if it has one."""
    try:
        document = response.json()
    except ValueError:
        return None, None
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return None, None
    code, message = error.get("code"), error.get("message")
    return (
        str(code) if code is not None else None,
        str(message)[:500] if message is not None else None,
    )


def _retry_after(response: requests.Response) -> float | None:
    for header, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = response.headers.get(header)
        if value:
            try:
                return float(value) * scale
            except ValueError:
                continue
    return None


def _preflight(
    settings: Settings,
    choice: CredentialChoice | None,
    token: str | None,
    timeout: float,
    report: Report,
) -> None:
    endpoint = settings.endpoint
    if not endpoint:
        return
    probe = _probe_for(settings, endpoint)
    record: dict[str, Any] = {
        "method": probe.method,
        "url": probe.url,
        "authenticated": token is not None,
        "ok": False,
    }
    report.preflight = record
    started = time.monotonic()
    try:
        response = _send(probe, token, timeout)
        code, message = _error_of(response)
        if (
            response.status_code == 400
            and probe.body is not None
            and "max_tokens" in (message or "")
        ):
            # Reasoning models refuse max_tokens and want max_completion_tokens.
            body = {k: v for k, v in probe.body.items() if k != "max_tokens"}
            response = _send(probe, token, timeout, {**body, "max_completion_tokens": 1})
            code, message = _error_of(response)
    except Exception as exc:
        record["seconds"] = round(time.monotonic() - started, 3)
        record["error"] = type(exc).__name__
        report.add(_transport_finding(exc, probe, endpoint, timeout))
        return
    record.update(
        status=response.status_code,
        seconds=round(time.monotonic() - started, 3),
        error_code=code,
        message=message,
        request_id=response.headers.get("apim-request-id") or response.headers.get("x-request-id"),
        retry_after=_retry_after(response),
    )
    if token is None:
        # Only a reachability check: the credential failed, so no answer can succeed.
        report.add(
            Finding(
                "info",
                "reachable",
                f"The endpoint answered HTTP {response.status_code} to a request without a token",
                detail="The network path to the resource works; fix the credential first.",
            )
        )
        return
    if 200 <= response.status_code < 300:
        record["ok"] = True
        return
    assert choice is not None
    report.add(_http_finding(response, code, message, probe, settings, choice, report))


def _http_finding(
    response: requests.Response,
    code: str | None,
    message: str | None,
    probe: _Probe,
    settings: Settings,
    choice: CredentialChoice,
    report: Report,
) -> Finding:
    status = response.status_code
    said = f" ({code}: {message})" if code or message else ""
    claims: Mapping[str, Any] = (report.token or {}).get("claims") or {}
    if status == 401 and code == "PermissionDenied":
        return _permission_denied(settings, claims)
    if status == 401:
        return _invalid_token(response, settings, choice, claims)
    if status == 404 and code == "DeploymentNotFound":
        used = probe.deployment or "?"
        return Finding(
            "error",
            "deployment_not_found",
            f"404 DeploymentNotFound: no deployment named {used!r} on this resource",
            detail=(
                f"The name {used!r} (from {probe.deployment_var}) must be the deployment "
                "name you chose when deploying the model, which is not the model's name "
                "(gpt-4o, text-embedding-3-small...) unless you named it so. A deployment "
                "created in the last few minutes may not be visible yet."
            ),
            fix=f"set {probe.deployment_var} to one of the resource's deployment names",
            commands=[
                "az cognitiveservices account deployment list --resource-group "
                f'<resource-group> --name {_account_name(settings)} --query "[].name"'
            ],
        )
    if status == 429:
        after = _retry_after(response)
        wait = f"retry after {after:g} s" if after is not None else "retry later"
        return Finding(
            "error",
            "rate_limited",
            f"429 rate limited: {wait}",
            detail=(
                "Authentication and authorization worked: the deployment is over its "
                "tokens-per-minute or requests-per-minute quota right now" + said + "."
            ),
            fix=(
                f"{wait}; the SDKs retry 429 themselves. Raise the deployment's quota "
                "(TPM) in the Azure AI Foundry portal if it keeps happening"
            ),
        )
    if status == 403:
        return Finding(
            "error",
            "forbidden",
            f"403 Forbidden{said}",
            detail=(
                "The resource refused the network location or the authentication type: "
                "public network access disabled, an IP firewall rule, or a private endpoint "
                "that this machine does not go through."
            ),
            fix=(
                "run from a network allowed by the resource's Networking settings (the "
                "virtual network of its private endpoint, or an allowed IP range)"
            ),
        )
    if status == 404:
        return Finding(
            "error",
            "not_found",
            f"404 Not Found{said}",
            detail=(
                "The endpoint answered, but not as an Azure OpenAI resource does for this "
                "path: a wrong endpoint (another service, a proxy, an API gateway), or an "
                "API version this resource does not serve."
            ),
            fix=(
                "set AZURE_OPENAI_ENDPOINT to the resource's endpoint from the portal "
                "(Keys and Endpoint), and AZURE_OPENAI_API_VERSION to a supported version"
            ),
        )
    if status == 400:
        return Finding(
            "error",
            "bad_request",
            f"400 Bad Request{said}",
            detail=(
                "The token and the deployment were accepted, but the request was refused: "
                "often an unsupported api-version, or a deployment of another kind (an "
                "embedding model used for chat)."
            ),
            fix=(
                f"check AZURE_OPENAI_API_VERSION (now {settings.api_version}) and that "
                f"{probe.deployment_var or 'the deployment'} names the right kind of model"
            ),
        )
    if status >= 500:
        return Finding(
            "error",
            "server_error",
            f"{status} from the service{said}",
            detail="The service failed to answer; this is usually transient.",
            fix="retry in a minute; check Azure status if it persists",
        )
    return Finding("error", "http_error", f"HTTP {status}{said}")


def _permission_denied(settings: Settings, claims: Mapping[str, Any]) -> Finding:
    oid = str(claims.get("oid") or "<principal-object-id>")
    kind = _principal_type(claims) if claims else "<User|ServicePrincipal>"
    who = claims.get("upn") or claims.get("unique_name") or claims.get("appid") or oid
    scope = _RESOURCE_ID_PLACEHOLDER.format(account=_account_name(settings))
    return Finding(
        "error",
        "permission_denied",
        f"401 PermissionDenied: {who} lacks the {OPENAI_USER_ROLE!r} role",
        detail=(
            "The token is valid, but the principal (object id "
            f"{oid}) has no data-plane role on this resource. Owner or Contributor on the "
            "subscription is not enough: Azure OpenAI needs Cognitive Services OpenAI User "
            "(or Cognitive Services OpenAI Contributor). A new assignment can take a few "
            "minutes to apply."
        ),
        fix=f"assign {OPENAI_USER_ROLE!r} on the resource to object id {oid}",
        commands=[
            f"az role assignment create --assignee-object-id {oid} "
            f"--assignee-principal-type {kind} --role {json.dumps(OPENAI_USER_ROLE)} "
            f"--scope {scope}"
        ],
    )


def _invalid_token(
    response: requests.Response,
    settings: Settings,
    choice: CredentialChoice,
    claims: Mapping[str, Any],
) -> Finding:
    challenge = response.headers.get("WWW-Authenticate", "")
    described = re.search(r'error_description="([^"]*)"', challenge)
    server_says = f" The service says: {described.group(1)}." if described else ""
    tenant = settings.tenant_id or (str(claims["tid"]) if claims.get("tid") else None)
    commands = _sign_in_commands(choice, tenant)
    if choice.kind in _DEVELOPER_KINDS:
        fix = "sign in again, to the tenant that holds the Azure OpenAI resource"
    elif choice.kind == "managed_identity":
        fix = (
            "use a managed identity of the resource's tenant; on a developer machine, "
            "unset IDENTITY_ENDPOINT / MSI_ENDPOINT / RUNNING_ON_AZURE and sign in with "
            "`az login`"
        )
        commands = commands or ["az login --tenant <tenant-of-the-resource>"]
    else:
        fix = choice.fix
    return Finding(
        "error",
        "invalid_token",
        "401 Unauthorized: the service rejected the token (invalid, expired or wrong audience)",
        detail=(
            f"A credential problem, not a permission one: the resource does not accept "
            f"tokens from {choice.name} as configured.{server_says} Usual causes: a token "
            f"from another tenant or cloud than the resource's, a scope other than "
            f"{settings.scope}, or an expired sign-in."
        ),
        fix=fix,
        commands=commands,
    )


def _account_name(settings: Settings) -> str:
    """The resource (account) name when the endpoint is ``https://<name>.openai.azure...``."""
    host = urlsplit(settings.endpoint or "").hostname or ""
    first, _, rest = host.partition(".")
    if rest.startswith(("openai.azure.", "cognitiveservices.azure.", "services.ai.azure.")):
        return first
    return "<resource-name>"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its causes and contexts, and urllib3's wrapped reasons, each once."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        linked.extend(arg for arg in current.args if isinstance(arg, BaseException))
        todo.extend(item for item in linked if isinstance(item, BaseException))


def _transport_finding(exc: BaseException, probe: _Probe, endpoint: str, timeout: float) -> Finding:
    import socket
    import ssl

    import requests

    chain = list(_causes(exc))
    names = {cls.__name__ for err in chain for cls in type(err).__mro__}
    text = " ".join(str(err) for err in chain).lower()
    parts = urlsplit(endpoint)
    host = parts.hostname or endpoint
    proxies = [var for var in _PROXY_VARIABLES if os.environ.get(var)]
    proxy_note = f" (proxy variables set: {', '.join(proxies)})" if proxies else ""

    if any(isinstance(err, requests.exceptions.ProxyError) for err in chain):
        return Finding(
            "error",
            "proxy",
            f"The proxy refused or failed the connection to {host}{proxy_note}",
            fix="check HTTPS_PROXY / NO_PROXY, or ask for the proxy to allow the endpoint",
        )
    if any(isinstance(err, ssl.SSLError) for err in chain) or "SSLError" in names:
        if "wrong_version_number" in text or "wrong version number" in text:
            detail = (
                f"The server at {parts.netloc} does not speak TLS: the endpoint says "
                "https:// but the port serves plain HTTP (http vs https), or a proxy "
                "answers in its place."
            )
            fix = "use the endpoint exactly as the portal shows it (https://<resource>...)"
        elif "certificate_verify_failed" in text or "certificate verify failed" in text:
            detail = (
                "The server's certificate is not trusted here: usually a TLS-inspecting "
                "corporate proxy whose root certificate Python does not know."
            )
            fix = "point REQUESTS_CA_BUNDLE (or SSL_CERT_FILE) at your organisation's CA bundle"
        elif "hostname" in text and "match" in text:
            detail = (
                "The certificate does not name this host: a custom domain or an IP address "
                "used instead of the resource's host name."
            )
            fix = "use the resource's host name from the portal (Keys and Endpoint)"
        else:
            detail = "The TLS handshake failed" + proxy_note + "."
            fix = "check the endpoint's scheme and any proxy between here and Azure"
        return Finding(
            "error", "tls", f"TLS error talking to {parts.netloc}", detail=detail, fix=fix
        )
    if "NameResolutionError" in names or any(isinstance(e, socket.gaierror) for e in chain):
        return Finding(
            "error",
            "dns",
            f"DNS failure: {host} does not resolve",
            detail=(
                "The endpoint's host name has no address here: a typo in the resource "
                "name, a resource behind a private endpoint whose private DNS zone "
                "(privatelink.openai.azure.com) this machine does not use, a VPN that is "
                "off, or the wrong cloud (Azure Government is .openai.azure.us, Azure China "
                ".openai.azure.cn)" + proxy_note + "."
            ),
            fix=(
                "check AZURE_OPENAI_ENDPOINT against the portal; for a private endpoint, "
                "connect to its network (VPN) or fix DNS forwarding"
            ),
            commands=[f"nslookup {host}"],
        )
    if any(isinstance(err, ConnectionRefusedError) for err in chain) or (
        "connection refused" in text
    ):
        return Finding(
            "error",
            "connection_refused",
            f"Connection refused by {parts.netloc}",
            detail=(
                "Something at that address actively refused the connection: a wrong port "
                "or scheme (http vs https), a local emulator that is not running, or a "
                "firewall or proxy rejecting it" + proxy_note + "."
            ),
            fix="check the endpoint's host, scheme and port",
        )
    if any(isinstance(err, requests.exceptions.Timeout) for err in chain) or "timed out" in text:
        phase = (
            "read"
            if any(isinstance(err, requests.exceptions.ReadTimeout) for err in chain)
            else "connect"
        )
        return Finding(
            "error",
            "timeout",
            f"Timed out ({phase}) after {timeout:g} s talking to {parts.netloc}",
            detail=(
                "No answer in time: a private endpoint reachable only from its virtual "
                "network, a firewall that drops packets, or a proxy that is required here "
                "but not configured" + proxy_note + "."
            ),
            fix="try from inside the resource's network, or set HTTPS_PROXY; or raise --timeout",
        )
    return Finding(
        "error",
        "connection",
        f"Could not talk to {parts.netloc} ({type(exc).__name__})",
        detail="The connection failed before an answer arrived" + proxy_note + ".",
        fix="check the endpoint, the network path and any proxy",
    )


# ---------------------------------------------------------------------------------------
# The whole check


def diagnose(timeout: float = 30.0, environ: Mapping[str, str] | None = None) -> Report:
    """Run every check and return the report (nothing is printed).

    Args:
        timeout: Seconds allowed for the token, and for the preflight request.
        environ: The environment to read; ``os.environ`` when ``None``. azure-identity's
            credentials always read ``os.environ`` themselves.

    Returns:
        The report; ``report.exit_code`` is the command's exit code.
    """
    from adapters.credentials import describe, select_credential
    from adapters.errors import ConfigurationError

    env: Mapping[str, str] = os.environ if environ is None else environ
    report = Report()
    settings = _read_settings(env, report)
    _check_shadowing(env, report)
    if settings is None:
        report.exit_code = 2
        return report
    try:
        choice = select_credential(settings, environ=env)
    except ConfigurationError as exc:
        report.add(
            Finding("error", "configuration", "The identity configuration is incomplete", str(exc))
        )
        report.exit_code = 2
        return report
    report.credential = describe(choice)
    token = _check_token(settings, choice, timeout, report)
    if not settings.endpoint:
        report.add(
            Finding(
                "error",
                "configuration",
                "No endpoint: AZURE_OPENAI_ENDPOINT is not set",
                fix="set AZURE_OPENAI_ENDPOINT=https://<resource>.openai.azure.com",
            )
        )
        report.exit_code = 2
        return report
    _preflight(settings, choice, token, timeout, report)
    report.exit_code = 0 if report.preflight and report.preflight.get("ok") else 1
    if report.exit_code == 0 and token is not None:
        report.add(
            Finding(
                "info",
                "ok",
                "Keyless access works: the token was accepted and the request succeeded",
            )
        )
    return report


# ---------------------------------------------------------------------------------------
# Rendering


_MARKS = {"error": "[error]", "warning": "[warn] ", "info": "[info] "}


def render_text(report: Report) -> str:
    """Render the report for people (no token, no secret).

    Args:
        report: What :func:`diagnose` found.

    Returns:
        The text, ending with a newline.
    """
    from adapters._cli_token import format_expiry

    lines = ["adapters doctor: keyless Azure OpenAI check", ""]
    lines.append("Settings")
    if report.settings is None:
        lines.append("  (not resolved)")
    else:
        sources = report.settings.get("sources", {})
        for name, value in report.settings.items():
            if name == "sources":
                continue
            shown = "-" if value is None else str(value)
            lines.append(f"  {name:<21} {shown:<46} {sources.get(name, '')}".rstrip())
    if report.shadowing_variables:
        lines.append(f"  set and ignored:      {', '.join(report.shadowing_variables)}")

    lines += ["", "Credential"]
    if report.credential is None:
        lines.append("  (skipped until the configuration is fixed)")
    else:
        lines.append(f"  {report.credential['credential']} ({report.credential['kind']})")
        lines.append(f"  why: {report.credential['reason']}")

    lines += ["", "Token (never shown)"]
    token = report.token
    if token is None:
        lines.append("  (skipped)")
    elif not token.get("obtained"):
        lines.append(f"  not obtained ({token.get('error')})")
    else:
        lines.append(f"  obtained in {token['seconds']:.2f} s")
        claims = token.get("claims") or {}
        for name in ("aud", "tid", "oid", "appid", "upn", "unique_name", "idtyp"):
            if name in claims:
                lines.append(f"  {name:<12} {claims[name]}")
        lines.append(f"  {'exp':<12} {format_expiry(token['expires_on'])}")
        if token.get("audience_ok") is True:
            lines.append("  audience matches the scope")
        elif not token.get("decoded"):
            lines.append("  (not a JWT: claims unavailable)")

    lines += ["", "Preflight"]
    pre = report.preflight
    if pre is None:
        lines.append("  (not sent: no endpoint, or invalid settings)")
    else:
        how = "" if pre.get("authenticated") else " (without a token: reachability only)"
        lines.append(f"  {pre['method']} {pre['url']}{how}")
        if "status" in pre:
            answer = f"  -> HTTP {pre['status']}"
            if pre.get("error_code") and pre["error_code"] != str(pre["status"]):
                answer += f" {pre['error_code']}"
            answer += f" in {pre['seconds']:.2f} s"
            if pre.get("request_id"):
                answer += f" (request id {pre['request_id']})"
            lines.append(answer)
        elif pre.get("error"):
            lines.append(f"  -> no answer ({pre['error']}) after {pre['seconds']:.2f} s")

    lines += ["", "Findings"]
    order = {"error": 0, "warning": 1, "info": 2}
    findings = sorted(report.findings, key=lambda f: order[f.severity])
    if not findings:
        lines.append("  none")
    for finding in findings:
        lines.append(f"  {_MARKS[finding.severity]} {finding.code}: {finding.title}")
        if finding.detail:
            lines.append(f"          {finding.detail}")
        if finding.fix and finding.fix not in finding.detail:
            lines.append(f"          fix: {finding.fix}")
        lines.extend(f"          $ {command}" for command in finding.commands)
    verdict = "OK" if report.ok else "FAILED"
    lines += ["", f"Result: {verdict} (exit code {report.exit_code})"]
    return "\n".join(lines) + "\n"


def run(*, timeout: float, as_json: bool) -> int:
    """Run ``adapters doctor`` and print the report.

    Args:
        timeout: Seconds allowed for the token and for the preflight request.
        as_json: Print one JSON document instead of text.

    Returns:
        0 when the preflight succeeded, 2 on invalid configuration, else 1.
    """
    report = diagnose(timeout)
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(render_text(report))
    sys.stdout.flush()
    return report.exit_code
