"""Keyless (Microsoft Entra ID) authentication to Azure OpenAI, from one shared token core.

The framework adapters live in their own modules and import their framework lazily:
``adapters.openai``, ``adapters.langchain``, ``adapters.llama_index`` and
``adapters.rawtoken``. This package exposes the core they share.
"""

from __future__ import annotations

from adapters._provider import (
    ProviderStats,
    TokenProvider,
    clear_providers,
    get_provider,
)
from adapters._tokens import RefreshPolicy, TokenSnapshot, TokenState
from adapters.credentials import CredentialChoice, select_credential
from adapters.errors import (
    ConfigurationError,
    KeylessError,
    MissingExtraError,
    TokenRefreshError,
)
from adapters.settings import Settings

__all__ = [
    "ConfigurationError",
    "CredentialChoice",
    "KeylessError",
    "MissingExtraError",
    "ProviderStats",
    "RefreshPolicy",
    "Settings",
    "TokenProvider",
    "TokenRefreshError",
    "TokenSnapshot",
    "TokenState",
    "__version__",
    "clear_providers",
    "get_provider",
    "select_credential",
]

__version__ = "0.1.0"
