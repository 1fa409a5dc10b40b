"""Loopback emulators for testing keyless Azure OpenAI code without a network.

Everything here speaks the real wire protocols, so the real libraries talk to it:

- [`TokenIssuer`][adapters.testing.TokenIssuer] signs Entra ID-shaped JWTs (RS256).
- [`ManagedIdentityEmulator`][adapters.testing.ManagedIdentityEmulator] is the App Service
  managed-identity endpoint used by `azure.identity.ManagedIdentityCredential`.
- [`FakeAzureCli`][adapters.testing.FakeAzureCli] writes fake `az` and `azd` executables for
  `AzureCliCredential` and `AzureDeveloperCliCredential`.
- [`AzureOpenAIEmulator`][adapters.testing.AzureOpenAIEmulator] answers chat completions,
  embeddings and the v1 surface, validating bearer tokens as Azure does.

The pytest plugin (`adapters.testing.pytest_plugin`, loaded automatically) provides the
fixtures `token_issuer`, `identity_emulator`, `managed_identity_env`, `fake_azure_cli` and
`azure_openai_emulator`.

Names are imported lazily, so importing this package (as the pytest plugin does in every
test run) costs nothing until an emulator is used. The emulators need the `testing` extra:
`pip install "keyless-adapters[testing]"`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from adapters.errors import MissingExtraError

if TYPE_CHECKING:
    from adapters.testing._jwt import (
        COGNITIVE_SERVICES_RESOURCE,
        DEFAULT_TENANT_ID,
        OPENAI_USER_ROLE,
        IssuedToken,
        Principal,
        TokenIssuer,
        TokenRejectedError,
        default_issuer,
    )
    from adapters.testing._server import LoopbackServer
    from adapters.testing.azure_openai import AzureOpenAIEmulator, RecordedRequest
    from adapters.testing.cli import CliInvocation, FakeAzureCli
    from adapters.testing.identity import IdentityRequest, ManagedIdentityEmulator

__all__ = [
    "AzureOpenAIEmulator",
    "COGNITIVE_SERVICES_RESOURCE",
    "CliInvocation",
    "DEFAULT_TENANT_ID",
    "FakeAzureCli",
    "IdentityRequest",
    "IssuedToken",
    "LoopbackServer",
    "ManagedIdentityEmulator",
    "OPENAI_USER_ROLE",
    "Principal",
    "RecordedRequest",
    "TokenIssuer",
    "TokenRejectedError",
    "default_issuer",
]

_HOMES = {
    "COGNITIVE_SERVICES_RESOURCE": "_jwt",
    "DEFAULT_TENANT_ID": "_jwt",
    "OPENAI_USER_ROLE": "_jwt",
    "IssuedToken": "_jwt",
    "Principal": "_jwt",
    "TokenIssuer": "_jwt",
    "TokenRejectedError": "_jwt",
    "default_issuer": "_jwt",
    "LoopbackServer": "_server",
    "AzureOpenAIEmulator": "azure_openai",
    "RecordedRequest": "azure_openai",
    "CliInvocation": "cli",
    "FakeAzureCli": "cli",
    "IdentityRequest": "identity",
    "ManagedIdentityEmulator": "identity",
}

EXTRA_HINT = (
    'adapters.testing needs the emulator dependencies: pip install "keyless-adapters[testing]"'
)


def missing_extra(exc: ImportError) -> MissingExtraError:
    """Build the error raised when an emulator dependency is not installed.

    Args:
        exc: The original import error (its message names the missing module).

    Returns:
        A `MissingExtraError` naming the extra to install.
    """
    error = MissingExtraError(f"{EXTRA_HINT} ({exc})")
    error.__cause__ = exc
    return error


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
