"""Shared fixtures: a clean Azure environment and a clean provider registry per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters._provider import clear_providers

# Variables that would change which credential or endpoint the library picks.
_AZURE_VARIABLES = (
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_API_VERSION",
    "OPENAI_API_VERSION",
    "AZURE_OPENAI_CHAT_DEPLOYMENT",
    "AZURE_OPENAI_EMBEDDING_DEPLOYMENT",
    "AZURE_OPENAI_SCOPE",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_AD_TOKEN",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
    "AZURE_TOKEN_CREDENTIALS",
    "RUNNING_ON_AZURE",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
)


@pytest.fixture(autouse=True)
def _clean_azure_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts from an environment that names no Azure resource or identity."""
    for name in _AZURE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    clear_providers()
    yield
    clear_providers()
