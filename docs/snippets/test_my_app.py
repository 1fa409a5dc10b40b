"""Testing an app's Azure OpenAI code offline, with the keyless-adapters pytest fixtures."""

from __future__ import annotations

import os
import time

import openai
import pytest

from adapters import TokenRefreshError, get_provider
from adapters.openai import async_client, client
from adapters.testing import AzureOpenAIEmulator, FakeAzureCli, ManagedIdentityEmulator, Principal
from adapters.testing.pytest_plugin import AZURE_IDENTITY_VARIABLES

KEY_VARIABLES = ("AZURE_OPENAI_API_KEY", "OPENAI_API_KEY", "AZURE_OPENAI_AD_TOKEN")


# -- the code under test (normally imported from your app) --------------------------------


def summarize(text: str) -> str:
    """Ask the chat deployment for a summary."""
    reply = client().chat.completions.create(
        model=os.environ["AZURE_OPENAI_CHAT_DEPLOYMENT"],
        messages=[{"role": "user", "content": f"Summarize: {text}"}],
    )
    return reply.choices[0].message.content or ""


async def asummarize(text: str) -> str:
    """The same, with the async client."""
    reply = await async_client().chat.completions.create(
        model=os.environ["AZURE_OPENAI_CHAT_DEPLOYMENT"],
        messages=[{"role": "user", "content": f"Summarize: {text}"}],
    )
    return reply.choices[0].message.content or ""


# -- fixtures -----------------------------------------------------------------------------


# Each test gets its own token providers (they are shared per process otherwise).
pytestmark = pytest.mark.usefixtures("fresh_providers")


@pytest.fixture
def azure(
    managed_identity_env: ManagedIdentityEmulator,
    azure_openai_emulator: AzureOpenAIEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> AzureOpenAIEmulator:
    """An Azure OpenAI resource reached with a managed identity, all on 127.0.0.1."""
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", azure_openai_emulator.endpoint)
    monkeypatch.setenv("AZURE_OPENAI_CHAT_DEPLOYMENT", "chat")  # served by default
    for name in KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return azure_openai_emulator


# -- tests --------------------------------------------------------------------------------


def test_summarize_answers(azure: AzureOpenAIEmulator) -> None:
    """The app gets the emulator's deterministic answer."""
    assert summarize("keyless auth") == "Hello from chat! You said: Summarize: keyless auth"


def test_no_key_is_ever_sent(azure: AzureOpenAIEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stray key in the environment never reaches the service."""
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "stray-key")
    summarize("one")
    summarize("two")
    assert azure.api_key_headers == 0
    assert azure.statuses == {200: 2}


def test_one_token_serves_many_requests(azure: AzureOpenAIEmulator) -> None:
    """The shared provider fetches one token for all requests."""
    for _ in range(5):
        summarize("again")
    assert azure.distinct_tokens == 1
    assert get_provider().stats.fetches == 1


def test_tokens_rotate_without_failures(
    azure: AzureOpenAIEmulator, managed_identity_env: ManagedIdentityEmulator
) -> None:
    """With 2-second tokens, a few seconds of traffic cross refreshes and never fail."""
    managed_identity_env.token_lifetime = 2
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        summarize("tick")
    assert azure.distinct_tokens >= 2
    assert azure.expired_tokens == 0
    assert azure.statuses == {200: azure.requests}


def test_missing_role_is_permission_denied(
    azure: AzureOpenAIEmulator, managed_identity_env: ManagedIdentityEmulator
) -> None:
    """An identity without the data-plane role gets Azure's 401 PermissionDenied."""
    managed_identity_env.principal = Principal().without_role()
    with pytest.raises(openai.AuthenticationError) as raised:
        summarize("denied")
    assert raised.value.code == "PermissionDenied"


def test_throttling_is_retried(azure: AzureOpenAIEmulator) -> None:
    """A 429 is retried by the SDK, with a token from the cache."""
    azure.throttle_next(1)
    summarize("busy")
    assert azure.statuses == {429: 1, 200: 1}
    assert azure.distinct_tokens == 1


async def test_async_client_answers(azure: AzureOpenAIEmulator) -> None:
    """The async path works too; its aio credential is closed on the test's loop."""
    try:
        assert await asummarize("async") == "Hello from chat! You said: Summarize: async"
    finally:
        # The azure.identity.aio credential holds an HTTP session bound to this loop.
        await get_provider().aclose()


def test_signed_out_developer_gets_the_fix(
    fake_azure_cli: FakeAzureCli,
    azure_openai_emulator: AzureOpenAIEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Locally, with nobody signed in to az or azd, the error says what to run."""
    # Nothing may point at another identity: no managed identity, service principal...
    for name in (*AZURE_IDENTITY_VARIABLES, "IDENTITY_ENDPOINT", "RUNNING_ON_AZURE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", azure_openai_emulator.endpoint)
    monkeypatch.setenv("AZURE_OPENAI_CHAT_DEPLOYMENT", "chat")
    fake_azure_cli.log_out()
    with pytest.raises(TokenRefreshError, match="az login"):
        summarize("hello")
