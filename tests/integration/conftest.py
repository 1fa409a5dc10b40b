"""Fixtures for the adapter integration tests: real SDKs against the loopback emulators.

The identity is the real ``ManagedIdentityCredential`` (chosen from the environment by
``select_credential``) talking to the App Service managed-identity emulator, which issues
2-second tokens; the data plane is the Azure OpenAI emulator, which rejects ``api-key``
headers and expired tokens. A rotation test drives requests until the provider has
fetched a given number of tokens, then settles, so that its checks are exact counts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from adapters._provider import TokenProvider, get_provider

if TYPE_CHECKING:
    from adapters.testing import AzureOpenAIEmulator, ManagedIdentityEmulator

TOKEN_LIFETIME = 2.0
"""Seconds each managed-identity token lives (the emulator floors ``expires_on``)."""
ROTATIONS = 2
"""Refreshes a rotation test crosses (so it fetches ``ROTATIONS + 1`` tokens)."""
CHAT = "chat"
EMBEDDING = "embedding"
STRAY_VARIABLES = {
    "AZURE_OPENAI_API_KEY": "stray-azure-key-0123456789",
    "OPENAI_API_KEY": "sk-stray-openai-key-0123456789",
    "AZURE_OPENAI_AD_TOKEN": "stray.static.token",
    # Both openai majors turn this into default headers of every client they build.
    "OPENAI_CUSTOM_HEADERS": "api-key: stray-header-key-0123\nAuthorization: Bearer stray.header",
}
"""Variables that would put a key or a static token on the wire, and their values."""
_DEADLINE = 30.0


@dataclass
class Azure:
    """The emulated Azure: identity endpoint, data plane, and the settings exported."""

    mi: ManagedIdentityEmulator
    aoai: AzureOpenAIEmulator
    _refreshes: list[float] | None = None
    _offset: int = 0

    @property
    def endpoint(self) -> str:
        """The Azure OpenAI endpoint (also in ``AZURE_OPENAI_ENDPOINT``)."""
        return self.aoai.endpoint

    def provider(self) -> TokenProvider:
        """The shared provider every adapter built from the environment uses."""
        return get_provider()

    def assert_keyless(self) -> None:
        """Every request succeeded with a bearer token only."""
        assert self.aoai.api_key_headers == 0
        assert self.aoai.expired_tokens == 0
        assert self.aoai.statuses == {200: self.aoai.requests}

    def assert_one_fetch_per_token(self) -> None:
        """Each token fetched was fetched once, by the provider, and used by the server."""
        fetches = self.provider().stats.fetches
        assert fetches == self.aoai.distinct_tokens == self.mi.tokens_issued

    # -- rotations ------------------------------------------------------------------------

    def _watch(self) -> TokenProvider:
        provider = self.provider()
        if self._refreshes is None:
            refreshes: list[float] = []
            provider.on_refresh(lambda snapshot: refreshes.append(snapshot.obtained_at))
            self._refreshes = refreshes
            self._offset = provider.stats.fetches
        return provider

    def _in_flight(self, provider: TokenProvider) -> bool:
        """Whether a fetch has started whose outcome is not recorded yet."""
        stats = provider.stats
        done = len(self._refreshes or ()) + self._offset + stats.failures + stats.unchanged
        return stats.fetches > done

    def rotate(self, call: Callable[[], Any], rotations: int = ROTATIONS) -> None:
        """Call ``call`` until the provider has refreshed ``rotations`` times, then settle.

        Settling waits for a background refresh in flight and makes one more call with its
        token, so every fetched token has been presented to the server.
        """
        provider = self._watch()
        deadline = time.monotonic() + _DEADLINE
        while provider.stats.fetches < rotations + 1:
            call()
            assert time.monotonic() < deadline, "the provider stopped refreshing"
        while True:
            while self._in_flight(provider):
                time.sleep(0.005)
                assert time.monotonic() < deadline, "a refresh never finished"
            before = provider.stats.fetches
            call()
            if provider.stats.fetches == before:
                return

    async def arotate(self, call: Callable[[], Awaitable[Any]], rotations: int = ROTATIONS) -> None:
        """Async twin of :meth:`rotate`."""
        provider = self._watch()
        deadline = time.monotonic() + _DEADLINE
        while provider.stats.fetches < rotations + 1:
            await call()
            assert time.monotonic() < deadline, "the provider stopped refreshing"
        while True:
            while self._in_flight(provider):
                await asyncio.sleep(0.005)
                assert time.monotonic() < deadline, "a refresh never finished"
            before = provider.stats.fetches
            await call()
            if provider.stats.fetches == before:
                return

    def assert_rotated(self, rotations: int = ROTATIONS) -> None:
        """The run crossed the rotations with one fetch per token and many requests each."""
        self.assert_keyless()
        self.assert_one_fetch_per_token()
        fetches = self.provider().stats.fetches
        assert fetches >= rotations + 1
        assert self.aoai.requests >= 10 * fetches


@pytest.fixture
async def azure(
    managed_identity_env: ManagedIdentityEmulator,
    azure_openai_emulator: AzureOpenAIEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Azure]:
    """Managed identity with 2-second tokens and an Azure OpenAI resource, via env vars.

    Async so that its teardown runs on the test's event loop and closes the aio
    credential's HTTP session there (async tests use it; sync tests never open it).
    """
    managed_identity_env.token_lifetime = TOKEN_LIFETIME
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", azure_openai_emulator.endpoint)
    monkeypatch.setenv("AZURE_OPENAI_CHAT_DEPLOYMENT", CHAT)
    monkeypatch.setenv("AZURE_OPENAI_EMBEDDING_DEPLOYMENT", EMBEDDING)
    env = Azure(managed_identity_env, azure_openai_emulator)
    yield env
    choice = env.provider().choice
    if choice is not None and choice.async_credential is not None:
        await choice.async_credential.close()


@pytest.fixture
def stray_keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Keys and static tokens left in the environment, as on many developer machines."""
    for name, value in STRAY_VARIABLES.items():
        monkeypatch.setenv(name, value)
    return dict(STRAY_VARIABLES)


def warnings_from_adapters(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The warning messages logged on the ``adapters`` logger."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "adapters" and record.levelname == "WARNING"
    ]
