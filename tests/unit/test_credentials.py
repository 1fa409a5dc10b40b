"""Unit tests for adapters.credentials: which credential, why, and how failures read."""

from __future__ import annotations

import asyncio
import datetime
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import azure.identity
import azure.identity.aio
import pytest
from azure.core.credentials import AccessTokenInfo, TokenRequestOptions
from azure.core.exceptions import (
    ClientAuthenticationError,
    ServiceRequestError,
    ServiceResponseTimeoutError,
)
from azure.identity import ChainedTokenCredential, CredentialUnavailableError
from azure.identity._credentials import azd_cli, azure_cli
from azure.identity.aio import ClientSecretCredential as AioClientSecretCredential
from azure.identity.aio import WorkloadIdentityCredential as AioWorkloadIdentityCredential

from adapters.credentials import CredentialChoice, describe, explain_failure, select_credential
from adapters.errors import ConfigurationError
from adapters.settings import Settings

CLIENT = "11111111-2222-4333-8444-555555555555"
OTHER_CLIENT = "99999999-2222-4333-8444-555555555555"
TENANT = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
SECRET = "s3cret~value-never-shown"
SERVICE_PRINCIPAL = {
    "AZURE_CLIENT_SECRET": SECRET,
    "AZURE_CLIENT_ID": CLIENT,
    "AZURE_TENANT_ID": TENANT,
}
WORKLOAD = {
    "AZURE_FEDERATED_TOKEN_FILE": "/var/run/secrets/azure/tokens/azure-identity-token",
    "AZURE_CLIENT_ID": CLIENT,
    "AZURE_TENANT_ID": TENANT,
}


class SyncCredential:
    """A minimal sync credential whose repr would leak a secret if printed."""

    def get_token_info(
        self, *scopes: str, options: TokenRequestOptions | None = None
    ) -> AccessTokenInfo:
        return AccessTokenInfo("tok", 0)

    def __repr__(self) -> str:
        return f"SyncCredential(secret={SECRET!r})"


class AsyncCredential:
    """A minimal azure.identity.aio-style credential."""

    async def get_token_info(
        self, *scopes: str, options: TokenRequestOptions | None = None
    ) -> AccessTokenInfo:
        return AccessTokenInfo("tok", 0)


class AsyncGetTokenOnly:
    """An async credential with only the older get_token method."""

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        return None


@pytest.fixture
def constructed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, dict[str, Any]]]:
    """Record (module, class, kwargs) of every azure.identity credential built, sync and aio."""
    calls: list[tuple[str, str, dict[str, Any]]] = []

    def recording(module: Any, name: str) -> Callable[..., Any]:
        real = getattr(module, name)

        def build(**kwargs: Any) -> Any:
            calls.append((module.__name__, name, kwargs))
            return real(**kwargs)

        return build

    for module in (azure.identity, azure.identity.aio):
        for name in (
            "ClientSecretCredential",
            "CertificateCredential",
            "WorkloadIdentityCredential",
            "ManagedIdentityCredential",
            "AzureCliCredential",
            "AzureDeveloperCliCredential",
        ):
            monkeypatch.setattr(module, name, recording(module, name))
    return calls


def kwargs_of(calls: list[tuple[str, str, dict[str, Any]]], name: str) -> list[dict[str, Any]]:
    """The kwargs each flavour of ``name`` was built with, sync first."""
    return [kwargs for _, built, kwargs in calls if built == name]


def member_types(chain: Any) -> list[str]:
    """Class names of a ChainedTokenCredential's members."""
    return [type(member).__name__ for member in chain.credentials]


# --- a passed credential ------------------------------------------------------------------


def test_passed_sync_credential_wins_over_the_environment() -> None:
    """A credential passed in is used as is, whatever the environment says."""
    cred = SyncCredential()
    choice = select_credential(credential=cred, environ={**SERVICE_PRINCIPAL})
    assert choice.kind == "passed"
    assert choice.credential is cred
    assert choice.async_credential is None
    assert choice.identity_key == ("passed", str(id(cred)))


@pytest.mark.parametrize(
    "factory",
    [AsyncCredential, AsyncGetTokenOnly, azure.identity.aio.AzureCliCredential],
    ids=["get_token_info", "get_token", "azure-identity-aio"],
)
def test_passed_async_credential_goes_in_the_async_slot(factory: Callable[[], Any]) -> None:
    """Coroutine get_token_info/get_token marks an aio credential."""
    cred = factory()
    choice = select_credential(credential=cred, environ={})
    assert choice.async_credential is cred
    assert choice.credential is None
    assert choice.name == type(cred).__name__


def test_passed_credential_ignores_an_invalid_environment() -> None:
    """The environment is not read at all when a credential is passed."""
    choice = select_credential(credential=SyncCredential(), environ={"AZURE_CLIENT_ID": "<id>"})
    assert choice.kind == "passed"


@pytest.mark.parametrize(
    "value", ["0123456789abcdef0123456789abcdef", b"bytes", 42], ids=["str", "bytes", "int"]
)
def test_passed_non_credential_is_refused_without_echoing_it(value: object) -> None:
    """A key passed as credential= is refused; the message never contains it."""
    with pytest.raises(ConfigurationError) as info:
        select_credential(credential=value, environ={})
    message = str(info.value)
    assert "credential= must be a token credential" in message
    assert "keys are never used" in message
    assert "0123456789abcdef" not in message


# --- developer sign-in ------------------------------------------------------------------


def test_nothing_configured_means_developer_sign_in() -> None:
    """With no production signal, azd then az are chained, in both flavours."""
    choice = select_credential(environ={})
    assert choice.kind == "developer_cli"
    assert isinstance(choice.credential, azure.identity.ChainedTokenCredential)
    assert isinstance(choice.async_credential, azure.identity.aio.ChainedTokenCredential)
    expected = ["AzureDeveloperCliCredential", "AzureCliCredential"]
    assert member_types(choice.credential) == expected
    assert member_types(choice.async_credential) == expected
    assert choice.name == "ChainedTokenCredential(AzureDeveloperCliCredential, AzureCliCredential)"
    assert choice.fix == "run `az login` (or `azd auth login`)"
    assert "AZURE_CLIENT_SECRET" in choice.reason
    assert "RUNNING_ON_AZURE" in choice.reason


def test_developer_sign_in_passes_the_tenant_through(
    constructed: list[tuple[str, str, dict[str, Any]]],
) -> None:
    """AZURE_TENANT_ID reaches both CLI credentials, sync and aio."""
    choice = select_credential(environ={"AZURE_TENANT_ID": TENANT})
    for name in ("AzureDeveloperCliCredential", "AzureCliCredential"):
        assert kwargs_of(constructed, name) == [{"tenant_id": TENANT}] * 2
    assert choice.identity_key == ("developer_cli", TENANT)
    assert TENANT in choice.reason


def test_client_id_alone_keeps_developer_sign_in_and_says_why() -> None:
    """AZURE_CLIENT_ID without an Azure signal is not a managed identity; the reason says so."""
    choice = select_credential(environ={"AZURE_CLIENT_ID": CLIENT})
    assert choice.kind == "developer_cli"
    assert "set RUNNING_ON_AZURE=true" in choice.reason


def test_credentials_are_built_without_a_running_loop() -> None:
    """Building the aio flavour needs no event loop."""
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
    choice = select_credential(environ={"RUNNING_ON_AZURE": "1"})
    assert type(choice.async_credential).__module__.startswith("azure.identity.aio")


# --- service principal ------------------------------------------------------------------


def test_client_secret_selects_the_service_principal(
    constructed: list[tuple[str, str, dict[str, Any]]],
) -> None:
    """AZURE_CLIENT_SECRET with tenant and client ids builds ClientSecretCredential twice."""
    choice = select_credential(environ=SERVICE_PRINCIPAL)
    assert choice.kind == "service_principal"
    assert choice.name == "ClientSecretCredential"
    assert isinstance(choice.async_credential, AioClientSecretCredential)
    expected = {"tenant_id": TENANT, "client_id": CLIENT, "client_secret": SECRET}
    assert kwargs_of(constructed, "ClientSecretCredential") == [expected] * 2
    assert choice.identity_key == ("service_principal", "", TENANT, CLIENT)
    for variable in ("AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_CLIENT_ID"):
        assert variable in choice.reason


def test_service_principal_beats_workload_and_managed_identity() -> None:
    """The service principal comes first, as in DefaultAzureCredential."""
    environ = {**WORKLOAD, **SERVICE_PRINCIPAL, "IDENTITY_ENDPOINT": "http://127.0.0.1:1/msi"}
    assert select_credential(environ=environ).kind == "service_principal"


@pytest.mark.parametrize(
    ("environ", "missing"),
    [
        ({"AZURE_CLIENT_SECRET": SECRET, "AZURE_CLIENT_ID": CLIENT}, "AZURE_TENANT_ID is not"),
        ({"AZURE_CLIENT_SECRET": SECRET, "AZURE_TENANT_ID": TENANT}, "AZURE_CLIENT_ID is not"),
        (
            {"AZURE_CLIENT_CERTIFICATE_PATH": "/cert.pem"},
            "AZURE_TENANT_ID and AZURE_CLIENT_ID are not",
        ),
    ],
    ids=["no-tenant", "no-client", "certificate-no-ids"],
)
def test_half_configured_service_principal_names_what_is_missing(
    environ: dict[str, str], missing: str
) -> None:
    """A secret or certificate without both ids is an error, not a silent fallback."""
    with pytest.raises(ConfigurationError) as info:
        select_credential(environ=environ)
    message = str(info.value)
    assert missing in message
    assert "unset AZURE_CLIENT_SECRET and AZURE_CLIENT_CERTIFICATE_PATH" in message
    assert SECRET not in message


def write_certificate(path: Path) -> None:
    """Write a throwaway self-signed certificate and its key as one PEM file."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "keyless-adapters-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + cert.public_bytes(serialization.Encoding.PEM)
    )


def test_certificate_selects_the_service_principal(tmp_path: Path) -> None:
    """AZURE_CLIENT_CERTIFICATE_PATH with ids builds CertificateCredential twice."""
    pem = tmp_path / "sp.pem"
    write_certificate(pem)
    environ = {
        "AZURE_CLIENT_CERTIFICATE_PATH": str(pem),
        "AZURE_CLIENT_ID": CLIENT,
        "AZURE_TENANT_ID": TENANT,
    }
    choice = select_credential(environ=environ)
    assert choice.kind == "service_principal"
    assert choice.name == "CertificateCredential"
    assert isinstance(choice.async_credential, azure.identity.aio.CertificateCredential)
    assert "AZURE_CLIENT_CERTIFICATE_PATH" in choice.reason


def test_unreadable_certificate_is_a_configuration_error(tmp_path: Path) -> None:
    """A missing certificate file names the variable and what the file must hold."""
    environ = {
        "AZURE_CLIENT_CERTIFICATE_PATH": str(tmp_path / "missing.pem"),
        "AZURE_CLIENT_CERTIFICATE_PASSWORD": SECRET,
        "AZURE_CLIENT_ID": CLIENT,
        "AZURE_TENANT_ID": TENANT,
    }
    with pytest.raises(ConfigurationError) as info:
        select_credential(environ=environ)
    message = str(info.value)
    assert "AZURE_CLIENT_CERTIFICATE_PATH=" in message
    assert "private key" in message
    assert SECRET not in message


@pytest.mark.parametrize(
    ("environ", "authority"),
    [
        ({"AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.us"}, "login.microsoftonline.us"),
        ({"AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.cn"}, "login.chinacloudapi.cn"),
        (
            {
                "AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.us",
                "AZURE_AUTHORITY_HOST": "login.example.test",
            },
            "login.example.test",
        ),
    ],
    ids=["government", "china", "explicit-authority-host"],
)
def test_service_principal_signs_in_to_the_endpoint_cloud(
    environ: dict[str, str],
    authority: str,
    constructed: list[tuple[str, str, dict[str, Any]]],
) -> None:
    """A sovereign-cloud endpoint uses that cloud's authority unless AZURE_AUTHORITY_HOST says."""
    choice = select_credential(environ={**SERVICE_PRINCIPAL, **environ})
    assert [k["authority"] for k in kwargs_of(constructed, "ClientSecretCredential")] == [
        authority
    ] * 2
    assert choice.identity_key[1] == authority


# --- workload identity --------------------------------------------------------------------


def test_federated_token_file_selects_workload_identity(
    constructed: list[tuple[str, str, dict[str, Any]]],
) -> None:
    """The AKS webhook variables build WorkloadIdentityCredential with those values."""
    choice = select_credential(environ={**WORKLOAD, "IDENTITY_ENDPOINT": "http://127.0.0.1:1"})
    assert choice.kind == "workload_identity"
    assert choice.name == "WorkloadIdentityCredential"
    assert isinstance(choice.async_credential, AioWorkloadIdentityCredential)
    expected = {
        "tenant_id": TENANT,
        "client_id": CLIENT,
        "token_file_path": WORKLOAD["AZURE_FEDERATED_TOKEN_FILE"],
    }
    assert kwargs_of(constructed, "WorkloadIdentityCredential") == [expected] * 2
    assert "AZURE_FEDERATED_TOKEN_FILE" in choice.reason
    assert "service account" in choice.fix


def test_workload_identity_uses_the_webhook_authority_host(
    constructed: list[tuple[str, str, dict[str, Any]]],
) -> None:
    """AZURE_AUTHORITY_HOST from the webhook is passed on explicitly."""
    select_credential(environ={**WORKLOAD, "AZURE_AUTHORITY_HOST": "login.microsoftonline.com"})
    for kwargs in kwargs_of(constructed, "WorkloadIdentityCredential"):
        assert kwargs["authority"] == "login.microsoftonline.com"


@pytest.mark.parametrize(
    ("drop", "missing"),
    [
        (("AZURE_CLIENT_ID",), "AZURE_CLIENT_ID is not"),
        (("AZURE_TENANT_ID",), "AZURE_TENANT_ID is not"),
        (("AZURE_CLIENT_ID", "AZURE_TENANT_ID"), "AZURE_CLIENT_ID and AZURE_TENANT_ID are not"),
    ],
    ids=["no-client", "no-tenant", "no-ids"],
)
def test_token_file_without_ids_names_what_is_missing(drop: tuple[str, ...], missing: str) -> None:
    """AZURE_FEDERATED_TOKEN_FILE without both ids explains the webhook annotation."""
    environ = {k: v for k, v in WORKLOAD.items() if k not in drop}
    with pytest.raises(ConfigurationError) as info:
        select_credential(environ=environ)
    message = str(info.value)
    assert message.startswith("AZURE_FEDERATED_TOKEN_FILE is set")
    assert missing in message
    assert "azure.workload.identity/client-id" in message


# --- managed identity ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"IDENTITY_ENDPOINT": "http://127.0.0.1:41234/msi/token"}, "IDENTITY_ENDPOINT"),
        ({"MSI_ENDPOINT": "http://127.0.0.1:41234/msi"}, "MSI_ENDPOINT"),
        ({"RUNNING_ON_AZURE": "true"}, "RUNNING_ON_AZURE"),
    ],
    ids=["identity-endpoint", "msi-endpoint", "running-on-azure"],
)
def test_azure_host_signals_select_managed_identity(
    environ: dict[str, str], named: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any Azure host signal selects ManagedIdentityCredential alone (no CLI fallback)."""
    for key, value in environ.items():
        monkeypatch.setenv(key, value)  # ManagedIdentityCredential reads os.environ itself
    choice = select_credential()
    assert choice.kind == "managed_identity"
    assert choice.name == "ManagedIdentityCredential"
    assert isinstance(choice.async_credential, azure.identity.aio.ManagedIdentityCredential)
    assert named in choice.reason
    assert "system-assigned" in choice.reason
    assert choice.identity_key == ("managed_identity", "system-assigned")


def test_client_id_selects_the_user_assigned_identity(
    constructed: list[tuple[str, str, dict[str, Any]]],
) -> None:
    """AZURE_CLIENT_ID on an Azure host is passed as the user-assigned identity."""
    choice = select_credential(environ={"RUNNING_ON_AZURE": "1", "AZURE_CLIENT_ID": CLIENT})
    assert kwargs_of(constructed, "ManagedIdentityCredential") == [{"client_id": CLIENT}] * 2
    assert choice.identity_key == ("managed_identity", CLIENT)
    assert f"user-assigned managed identity {CLIENT} (AZURE_CLIENT_ID)" in choice.reason
    assert "AZURE_CLIENT_ID" in choice.fix


def test_settings_arguments_drive_the_choice(
    constructed: list[tuple[str, str, dict[str, Any]]],
) -> None:
    """Settings built from arguments are honoured and named as arguments in the reason."""
    settings = Settings.from_env({}, client_id=CLIENT, running_on_azure=True)
    choice = select_credential(settings, environ={})
    assert kwargs_of(constructed, "ManagedIdentityCredential") == [{"client_id": CLIENT}] * 2
    assert "running_on_azure=True was passed" in choice.reason
    assert "(client_id=)" in choice.reason


def test_identity_key_separates_identities_and_matches_equal_ones() -> None:
    """Same identity, same key; another client id, another key."""
    first = select_credential(environ={"RUNNING_ON_AZURE": "1", "AZURE_CLIENT_ID": CLIENT})
    again = select_credential(environ={"RUNNING_ON_AZURE": "1", "AZURE_CLIENT_ID": CLIENT})
    other = select_credential(environ={"RUNNING_ON_AZURE": "1", "AZURE_CLIENT_ID": OTHER_CLIENT})
    assert first.identity_key == again.identity_key
    assert first.identity_key != other.identity_key
    assert hash(first.identity_key) == hash(again.identity_key)


# --- AZURE_TOKEN_CREDENTIALS --------------------------------------------------------------


def test_prod_without_production_variables_still_uses_managed_identity() -> None:
    """prod never falls back to developer sign-in, even off Azure."""
    choice = select_credential(environ={"AZURE_TOKEN_CREDENTIALS": "prod"})
    assert choice.kind == "managed_identity"
    assert "AZURE_TOKEN_CREDENTIALS=prod" in choice.reason


@pytest.mark.parametrize(
    ("environ", "kind"),
    [(SERVICE_PRINCIPAL, "service_principal"), (WORKLOAD, "workload_identity")],
    ids=["service-principal", "workload-identity"],
)
def test_prod_keeps_the_production_order(environ: dict[str, str], kind: str) -> None:
    """prod picks the service principal or workload identity when configured."""
    choice = select_credential(environ={**environ, "AZURE_TOKEN_CREDENTIALS": "prod"})
    assert choice.kind == kind
    assert "AZURE_TOKEN_CREDENTIALS=prod" in choice.reason


def test_token_credentials_argument_is_quoted_as_an_argument() -> None:
    """token_credentials= is named as the argument in the reason."""
    settings = Settings.from_env({}, token_credentials="AzureCliCredential")
    choice = select_credential(settings, environ={})
    assert (
        choice.reason == "token_credentials='azureclicredential' forces AzureCliCredential alone."
    )


def test_dev_ignores_production_signals() -> None:
    """dev uses developer sign-in even on an Azure host with a service principal."""
    environ = {
        **SERVICE_PRINCIPAL,
        "IDENTITY_ENDPOINT": "http://x",
        "AZURE_TOKEN_CREDENTIALS": "dev",
    }
    choice = select_credential(environ=environ)
    assert choice.kind == "developer_cli"
    assert "AZURE_TOKEN_CREDENTIALS=dev" in choice.reason


@pytest.mark.parametrize(
    ("value", "kind", "name", "has_aio"),
    [
        ("azureclicredential", "azure_cli", "AzureCliCredential", True),
        ("AzureDeveloperCliCredential", "azure_developer_cli", "AzureDeveloperCliCredential", True),
        ("azurepowershellcredential", "azure_powershell", "AzurePowerShellCredential", True),
        ("visualstudiocodecredential", "visual_studio_code", "VisualStudioCodeCredential", True),
        (
            "interactivebrowsercredential",
            "interactive_browser",
            "InteractiveBrowserCredential",
            False,
        ),
        ("managedidentitycredential", "managed_identity", "ManagedIdentityCredential", True),
    ],
    ids=["az", "azd", "powershell", "vscode", "browser", "managed-identity"],
)
def test_a_credential_name_forces_exactly_that_credential(
    value: str, kind: str, name: str, has_aio: bool
) -> None:
    """A credential name in AZURE_TOKEN_CREDENTIALS selects it alone, even off Azure."""
    choice = select_credential(environ={**SERVICE_PRINCIPAL, "AZURE_TOKEN_CREDENTIALS": value})
    assert choice.kind == kind
    assert type(choice.credential).__name__ == name
    assert (choice.async_credential is not None) is has_aio
    assert f"AZURE_TOKEN_CREDENTIALS={value.lower()}" in choice.reason


@pytest.mark.parametrize(
    ("value", "kind", "environ"),
    [
        ("environmentcredential", "service_principal", SERVICE_PRINCIPAL),
        ("workloadidentitycredential", "workload_identity", WORKLOAD),
    ],
    ids=["environment", "workload"],
)
def test_forced_production_credential_is_built_when_configured(
    value: str, kind: str, environ: dict[str, str]
) -> None:
    """environmentcredential/workloadidentitycredential pick that credential."""
    choice = select_credential(environ={**environ, "AZURE_TOKEN_CREDENTIALS": value})
    assert choice.kind == kind


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("environmentcredential", "AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH)"),
        ("workloadidentitycredential", "AZURE_FEDERATED_TOKEN_FILE"),
    ],
    ids=["environment", "workload"],
)
def test_forced_production_credential_without_variables_is_an_error(
    value: str, fragment: str
) -> None:
    """Forcing a credential whose variables are missing says which, and to change the choice."""
    with pytest.raises(ConfigurationError) as info:
        select_credential(environ={"AZURE_TOKEN_CREDENTIALS": value})
    message = str(info.value)
    assert message.startswith(f"AZURE_TOKEN_CREDENTIALS={value}")
    assert fragment in message
    assert "change AZURE_TOKEN_CREDENTIALS" in message


# --- describe, repr -----------------------------------------------------------------------


def test_describe_gives_strings_for_doctor() -> None:
    """describe() returns the kind, credential name, reason and fix."""
    choice = select_credential(environ={"RUNNING_ON_AZURE": "1"})
    assert describe(choice) == {
        "kind": "managed_identity",
        "credential": "ManagedIdentityCredential",
        "reason": choice.reason,
        "fix": choice.fix,
    }


def test_repr_never_shows_the_credential_object() -> None:
    """The choice's repr names the class, not the object (whose repr might hold a secret)."""
    choice = select_credential(credential=SyncCredential())
    assert SECRET not in repr(choice)
    assert "SyncCredential" in repr(choice)


# --- explain_failure ----------------------------------------------------------------------


class Raising:
    """A credential that raises the given error, to get ChainedTokenCredential's real text."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_token_info(
        self, *scopes: str, options: TokenRequestOptions | None = None
    ) -> AccessTokenInfo:
        raise self.error


def chain_error(*errors: Exception) -> Exception:
    """The exception a real ChainedTokenCredential raises when each member fails."""
    try:
        members: list[Any] = [Raising(e) for e in errors]
        ChainedTokenCredential(*members).get_token_info("s/.default")
    except ClientAuthenticationError as exc:
        return exc
    raise AssertionError("the chain did not fail")


def caused(outer: Exception, inner: BaseException) -> Exception:
    """``outer`` raised from ``inner``, as azure-identity does."""
    try:
        raise outer from inner
    except Exception as exc:
        return exc


def developer() -> CredentialChoice:
    return select_credential(environ={})


def managed(client_id: str | None = None) -> CredentialChoice:
    environ = {"RUNNING_ON_AZURE": "1", **({"AZURE_CLIENT_ID": client_id} if client_id else {})}
    return select_credential(environ=environ)


def service_principal() -> CredentialChoice:
    return select_credential(environ=SERVICE_PRINCIPAL)


def workload() -> CredentialChoice:
    return select_credential(environ=WORKLOAD)


def forced(value: str) -> Callable[[], CredentialChoice]:
    return lambda: select_credential(environ={"AZURE_TOKEN_CREDENTIALS": value})


unavailable = CredentialUnavailableError


@pytest.mark.parametrize(
    ("make_choice", "error", "fragments"),
    [
        (
            forced("azureclicredential"),
            unavailable(azure_cli.CLI_NOT_FOUND),
            ["AzureCliCredential", "not installed", "https://aka.ms/azure-cli", "azd auth login"],
        ),
        (
            forced("azureclicredential"),
            unavailable(azure_cli.NOT_LOGGED_IN),
            ["not signed in to the Azure CLI", "run `az login`."],
        ),
        (
            forced("azuredeveloperclicredential"),
            unavailable(azd_cli.NOT_LOGGED_IN),
            ["not signed in to the Azure Developer CLI", "run `azd auth login`."],
        ),
        (
            forced("azuredeveloperclicredential"),
            unavailable(azd_cli.CLI_NOT_FOUND),
            ["`azd`) is not installed", "https://aka.ms/azure-dev"],
        ),
        (
            developer,
            chain_error(unavailable(azd_cli.CLI_NOT_FOUND), unavailable(azure_cli.NOT_LOGGED_IN)),
            ["ChainedTokenCredential(", "not signed in to the Azure CLI", "run `az login`"],
        ),
        (
            developer,
            chain_error(unavailable(azd_cli.NOT_LOGGED_IN), unavailable(azure_cli.CLI_NOT_FOUND)),
            ["not signed in to the Azure Developer CLI", "run `azd auth login`"],
        ),
        (
            developer,
            chain_error(unavailable(azd_cli.CLI_NOT_FOUND), unavailable(azure_cli.CLI_NOT_FOUND)),
            ["neither the Azure CLI", "install"],
        ),
        (
            developer,
            chain_error(unavailable(azd_cli.NOT_LOGGED_IN), unavailable(azure_cli.NOT_LOGGED_IN)),
            ["not signed in to `az` or `azd`", "run `az login` (or `azd auth login`)"],
        ),
        (
            forced("azureclicredential"),
            caused(
                unavailable("Failed to invoke the Azure CLI"),
                subprocess.TimeoutExpired(["az"], 10),
            ),
            ["did not answer in time", "az account get-access-token"],
        ),
        (
            managed,
            unavailable(
                "ManagedIdentityCredential authentication unavailable, no response from the "
                "IMDS endpoint."
            ),
            ["ManagedIdentityCredential", "did not answer", "unset RUNNING_ON_AZURE"],
        ),
        (
            managed,
            ServiceRequestError("Connection refused"),
            ["managed identity endpoint did not answer"],
        ),
        (
            managed,
            unavailable(
                "ManagedIdentityCredential authentication unavailable. No identity has been "
                "assigned to this resource."
            ),
            ["no managed identity is assigned", "assign a managed identity", "AZURE_CLIENT_ID"],
        ),
        (
            lambda: managed(CLIENT),
            unavailable("Identity not found"),
            ["no managed identity with that client id is assigned"],
        ),
        (
            service_principal,
            ClientAuthenticationError("AADSTS7000215: Invalid client secret provided."),
            ["ClientSecretCredential", "AADSTS7000215", "new client secret"],
        ),
        (
            service_principal,
            ClientAuthenticationError("AADSTS7000222: The provided client secret keys expired."),
            ["has expired (AADSTS7000222)"],
        ),
        (
            service_principal,
            ClientAuthenticationError("AADSTS90002: Tenant not found."),
            ["tenant was not found", "AZURE_TENANT_ID"],
        ),
        (
            service_principal,
            ClientAuthenticationError("AADSTS99999: something new."),
            ["refused the sign-in (AADSTS99999)", "check AZURE_TENANT_ID"],
        ),
        (
            workload,
            ClientAuthenticationError("AADSTS70021: No matching federated identity record."),
            ["WorkloadIdentityCredential", "AADSTS70021", "federated identity credential"],
        ),
        (
            workload,
            caused(ClientAuthenticationError("read failed"), FileNotFoundError(2, "No such file")),
            ["AZURE_FEDERATED_TOKEN_FILE", "azure.workload.identity/use"],
        ),
        (
            service_principal,
            caused(ClientAuthenticationError("timeout"), ServiceResponseTimeoutError("slow")),
            ["timed out"],
        ),
        (
            service_principal,
            caused(ClientAuthenticationError("network"), ServiceRequestError("no route")),
            ["could not be reached", "login.microsoftonline.com"],
        ),
        (
            service_principal,
            unavailable("something unexpected"),
            ["not available in this environment", "check AZURE_TENANT_ID"],
        ),
        (
            service_principal,
            RuntimeError("boom"),
            ["raised RuntimeError", "check AZURE_TENANT_ID"],
        ),
    ],
    ids=[
        "az-missing",
        "az-signed-out",
        "azd-signed-out",
        "azd-missing",
        "chain-azd-missing-az-signed-out",
        "chain-azd-signed-out-az-missing",
        "chain-both-missing",
        "chain-both-signed-out",
        "az-timeout",
        "imds-no-response",
        "mi-connection-refused",
        "mi-not-assigned",
        "mi-user-assigned-not-found",
        "aadsts-bad-secret",
        "aadsts-expired-secret",
        "aadsts-tenant",
        "aadsts-unknown",
        "aadsts-federation",
        "workload-token-file-missing",
        "timeout",
        "connection",
        "unavailable-other",
        "unexpected",
    ],
)
def test_explain_failure_names_credential_cause_and_fix(
    make_choice: Callable[[], CredentialChoice], error: Exception, fragments: list[str]
) -> None:
    """Each recognised failure becomes one sentence naming the credential and the fix."""
    choice = make_choice()
    message = explain_failure(choice, error)
    assert message.startswith(f"{choice.name} could not get a token because ")
    assert message.endswith(".")
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_explain_failure_never_echoes_the_exception_text() -> None:
    """Secrets or tokens inside the exception's message never reach the sentence."""
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    error = caused(
        ClientAuthenticationError(f"AADSTS7000215: bad secret {SECRET}"),
        ValueError(f"token {jwt}"),
    )
    message = explain_failure(service_principal(), error)
    assert SECRET not in message
    assert jwt not in message


def test_explain_failure_names_the_tenant_to_sign_in_to() -> None:
    """With AZURE_TENANT_ID set, the sign-in command carries the tenant."""
    choice = select_credential(environ={"AZURE_TENANT_ID": TENANT})
    message = explain_failure(
        choice,
        chain_error(unavailable(azd_cli.NOT_LOGGED_IN), unavailable(azure_cli.NOT_LOGGED_IN)),
    )
    assert f"`az login --tenant {TENANT}`" in message
    assert f"`azd auth login --tenant-id {TENANT}`" in message


def test_explain_failure_for_a_passed_credential_points_at_it() -> None:
    """A passed credential's failure points back at credential=."""
    choice = select_credential(credential=SyncCredential())
    message = explain_failure(choice, ClientAuthenticationError("nope"))
    assert message.startswith("SyncCredential could not get a token")
    assert "credential=" in message
