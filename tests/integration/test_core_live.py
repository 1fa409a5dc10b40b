"""The token core with the real azure-identity credentials against the loopback emulators.

Tokens live 2 s, so each test crosses several refreshes in a few seconds. The counts are
exact: the credential is called once per token, whatever the number of calls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from adapters._provider import TokenProvider, get_provider

LIFETIME = 2.0
ROTATIONS = 3
DEADLINE = 30.0


def drive(call: Callable[[], str], issuer, rotations: int = ROTATIONS) -> tuple[int, set[str]]:
    """Calls ``call`` until it has returned ``rotations + 1`` distinct tokens.

    Every token is checked against the issuer when handed out: it must not be expired.
    Returns the number of calls and the distinct tokens.
    """
    seen: set[str] = set()
    calls = 0
    stop = time.monotonic() + DEADLINE
    while len(seen) <= rotations:
        assert time.monotonic() < stop, "token did not rotate in time"
        token = call()
        calls += 1
        if token not in seen:
            seen.add(token)
        issuer.verify(token)  # raises TokenRejectedError if expired or invalid
        time.sleep(0.002)
    return calls, seen


async def adrive(
    call: Callable[[], Awaitable[str]], issuer, rotations: int = ROTATIONS
) -> tuple[int, set[str]]:
    """Async twin of :func:`drive`, with 20 concurrent callers."""
    seen: set[str] = set()
    calls = 0
    stop = time.monotonic() + DEADLINE

    async def caller() -> None:
        nonlocal calls
        while len(seen) <= rotations:
            assert time.monotonic() < stop, "token did not rotate in time"
            token = await call()
            calls += 1
            seen.add(token)
            issuer.verify(token)
            await asyncio.sleep(0.002)

    await asyncio.gather(*(caller() for _ in range(20)))
    return calls, seen


def settle(provider: TokenProvider) -> None:
    """Waits for a background refresh still in flight, so counts are final."""
    for _ in range(2000):
        if provider._flight is None:
            return
        time.sleep(0.005)


@pytest.fixture
def managed_identity(managed_identity_env):
    """The App Service managed-identity emulator issuing 2-s tokens, exported."""
    managed_identity_env.token_lifetime = LIFETIME
    return managed_identity_env


def test_managed_identity_sync_fetches_once_per_token(managed_identity, token_issuer):
    """The real ManagedIdentityCredential is called once per token, not once per call."""
    provider = get_provider()
    assert provider.choice.kind == "managed_identity"
    calls, tokens = drive(provider, token_issuer)
    settle(provider)
    assert provider.stats.fetches == managed_identity.tokens_issued
    assert len(tokens) in (managed_identity.tokens_issued, managed_identity.tokens_issued - 1)
    assert provider.stats.failures == 0
    assert calls > 10 * provider.stats.fetches


async def test_managed_identity_async_fetches_once_per_token(managed_identity, token_issuer):
    """The async face (aio credential for waits, sync twin in the background) too."""
    provider = get_provider()
    calls, tokens = await adrive(provider.aget_token, token_issuer)
    await asyncio.to_thread(settle, provider)
    assert provider.stats.fetches == managed_identity.tokens_issued
    assert len(tokens) in (managed_identity.tokens_issued, managed_identity.tokens_issued - 1)
    assert provider.stats.failures == 0
    assert calls > 10 * provider.stats.fetches


async def test_aio_only_managed_identity_never_hands_out_an_expired_token(
    managed_identity, token_issuer
):
    """An aio-only ManagedIdentityCredential crosses rotations on the caller's own loop."""
    from azure.identity.aio import ManagedIdentityCredential

    async with ManagedIdentityCredential() as credential:
        provider = TokenProvider(credential)
        calls, tokens = await adrive(provider.aget_token, token_issuer)
    assert managed_identity.requests == len(tokens)
    assert calls > 10 * len(tokens)


def test_user_assigned_identity_is_requested_by_client_id(
    managed_identity, token_issuer, monkeypatch
):
    """AZURE_CLIENT_ID selects the user-assigned identity at the identity endpoint."""
    client_id = "0f6a2c5e-1111-4c8e-9d2b-3b9f5a7c8d10"
    monkeypatch.setenv("AZURE_CLIENT_ID", client_id)
    provider = get_provider()
    claims = token_issuer.verify(provider())
    assert managed_identity.requests_by_client_id == {client_id: 1}
    assert claims["appid"] == client_id


@pytest.mark.parametrize(
    ("forced", "tool"),
    [("azureclicredential", "az"), ("azuredeveloperclicredential", "azd")],
)
def test_cli_credential_runs_once_per_token(
    fake_azure_cli, token_issuer, monkeypatch, forced, tool
):
    """One az / azd process per token, not per call."""
    fake_azure_cli.token_lifetime = LIFETIME
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", forced)
    provider = get_provider()
    calls, tokens = drive(provider, token_issuer, rotations=2)
    settle(provider)
    assert fake_azure_cli.invocations[tool] == provider.stats.fetches
    assert len(tokens) in (provider.stats.fetches, provider.stats.fetches - 1)
    assert calls > 10 * provider.stats.fetches


def test_developer_sign_in_falls_back_from_azd_to_az(fake_azure_cli, token_issuer):
    """Off Azure with azd signed out, the az CLI supplies the token."""
    fake_azure_cli.log_out("azd")
    provider = get_provider()
    assert provider.choice.kind == "developer_cli"
    token_issuer.verify(provider())
    assert (fake_azure_cli.invocations["azd"], fake_azure_cli.invocations["az"]) == (1, 1)


def test_signed_out_developer_gets_the_sign_in_command(fake_azure_cli):
    """With both CLIs signed out the error says to sign in, naming the command."""
    from adapters.errors import TokenRefreshError

    fake_azure_cli.log_out()
    with pytest.raises(TokenRefreshError, match="az login"):
        get_provider()()
