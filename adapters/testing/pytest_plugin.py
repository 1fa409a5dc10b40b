"""pytest fixtures for the loopback emulators (registered as the `keyless_adapters` plugin).

Loaded in every pytest run where keyless-adapters is installed, so this module imports
nothing heavy: the emulators (starlette, uvicorn) load only when a fixture is used.
Disable it with `pytest -p no:keyless_adapters`.

Fixtures (function scope; a server starts and stops in a few milliseconds):

- `token_issuer`: the process-wide `TokenIssuer` every other fixture shares.
- `identity_emulator`: a started `ManagedIdentityEmulator`.
- `managed_identity_env`: the same emulator, with `IDENTITY_ENDPOINT` / `IDENTITY_HEADER`
  exported and every other Azure identity variable removed, so `ManagedIdentityCredential`
  and `DefaultAzureCredential` select App Service managed identity.
- `fake_azure_cli`: a started `FakeAzureCli` whose `az` and `azd` come first on `PATH`.
- `azure_openai_emulator`: a started `AzureOpenAIEmulator` trusting `token_issuer`
  (it changes no environment variable).
- `fresh_providers`: forgets keyless-adapters' shared token providers before and after the
  test, so a test never reuses a token, credential or emulator from the one before.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from adapters.testing._jwt import TokenIssuer
    from adapters.testing.azure_openai import AzureOpenAIEmulator
    from adapters.testing.cli import FakeAzureCli
    from adapters.testing.identity import ManagedIdentityEmulator

__all__ = [
    "AZURE_IDENTITY_VARIABLES",
    "azure_openai_emulator",
    "fake_azure_cli",
    "fresh_providers",
    "identity_emulator",
    "managed_identity_env",
    "token_issuer",
]

AZURE_IDENTITY_VARIABLES = (
    # Other managed-identity flavours (Service Fabric, Arc, Azure ML, Cloud Shell, IMDS host).
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    # Workload identity and EnvironmentCredential.
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN",
    "AZURE_USERNAME",
    "AZURE_PASSWORD",
    # DefaultAzureCredential's chain filter.
    "AZURE_TOKEN_CREDENTIALS",
)
"""Variables `managed_identity_env` removes so only App Service managed identity is seen."""


@pytest.fixture
def token_issuer() -> TokenIssuer:
    """The process-wide token issuer trusted by every emulator fixture."""
    from adapters.testing._jwt import default_issuer

    return default_issuer()


@pytest.fixture
def identity_emulator(token_issuer: TokenIssuer) -> Iterator[ManagedIdentityEmulator]:
    """A started App Service managed-identity emulator (environment untouched)."""
    from adapters.testing.identity import ManagedIdentityEmulator

    with ManagedIdentityEmulator(issuer=token_issuer) as emulator:
        yield emulator


@pytest.fixture
def managed_identity_env(
    identity_emulator: ManagedIdentityEmulator, monkeypatch: pytest.MonkeyPatch
) -> ManagedIdentityEmulator:
    """The identity emulator, exported as the only Azure identity in the environment."""
    for name in AZURE_IDENTITY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in identity_emulator.environ.items():
        monkeypatch.setenv(name, value)
    return identity_emulator


@pytest.fixture
def fake_azure_cli(
    token_issuer: TokenIssuer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeAzureCli]:
    """Fake `az` and `azd`, first on `PATH`, minting tokens from `token_issuer`."""
    from adapters.testing.cli import FakeAzureCli

    with FakeAzureCli(token_issuer) as cli:
        monkeypatch.setenv("PATH", cli.path_with_fakes())
        yield cli


@pytest.fixture
def azure_openai_emulator(token_issuer: TokenIssuer) -> Iterator[AzureOpenAIEmulator]:
    """A started Azure OpenAI emulator that trusts `token_issuer` (environment untouched)."""
    from adapters.testing.azure_openai import AzureOpenAIEmulator

    with AzureOpenAIEmulator(issuer=token_issuer) as emulator:
        yield emulator


@pytest.fixture
def fresh_providers() -> Iterator[None]:
    """Shared token providers forgotten before and after the test."""
    from adapters._provider import clear_providers

    clear_providers()
    yield
    clear_providers()
