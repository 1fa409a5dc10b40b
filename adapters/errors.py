"""Exceptions raised by keyless-adapters.

Every error says what to change. None of them ever carries a token.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "KeylessError",
    "MissingExtraError",
    "TokenRefreshError",
]


class KeylessError(Exception):
    """Base class of every error raised by keyless-adapters."""


class ConfigurationError(KeylessError, ValueError):
    """A setting, environment variable or argument is wrong; the message says which and how."""


class TokenRefreshError(KeylessError, RuntimeError):
    """No usable token could be obtained; the message names the credential and the fix."""


class MissingExtraError(KeylessError, ImportError):
    """An optional framework is not installed; the message gives the install command."""
