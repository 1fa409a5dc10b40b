"""adapters.openai with the real openai SDK (2.x or 3.x) against the loopback emulators."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

openai = pytest.importorskip("openai")

from azure.identity import AzureCliCredential  # noqa: E402

from adapters import openai as keyless  # noqa: E402
from adapters.errors import ConfigurationError  # noqa: E402

from .conftest import CHAT, EMBEDDING, STRAY_VARIABLES, Azure, warnings_from_adapters  # noqa: E402

if TYPE_CHECKING:
    from adapters.testing import FakeAzureCli

HELLO = [{"role": "user", "content": "hello"}]
AUTH_KEYWORDS = {
    "api_key": "sk-0123",
    "azure_ad_token": "a.b.c",
    "azure_ad_token_provider": lambda: "a.b.c",
    "use_azure_ad": True,
}
FUNCTIONS = [keyless.client, keyless.async_client, keyless.v1_client, keyless.async_v1_client]


def test_client_chat_survives_token_rotations(azure: Azure) -> None:
    """Sync chat keeps succeeding across refreshes, with one fetch per token."""
    client = keyless.client()

    azure.rotate(lambda: client.chat.completions.create(model=CHAT, messages=HELLO))

    azure.assert_rotated()


async def test_async_client_chat_survives_token_rotations(azure: Azure) -> None:
    """Async chat keeps succeeding across refreshes, with one fetch per token."""
    client = keyless.async_client()

    await azure.arotate(lambda: client.chat.completions.create(model=CHAT, messages=HELLO))

    azure.assert_rotated()


def test_client_streaming_survives_token_rotations(azure: Azure) -> None:
    """Streamed chat keeps succeeding across refreshes, with one fetch per token."""
    client = keyless.client(deployment=CHAT)

    def stream() -> None:
        chunks = client.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    azure.rotate(stream)

    azure.assert_rotated()


def test_client_embeddings_survive_token_rotations(azure: Azure) -> None:
    """Embeddings keep succeeding across refreshes, with one fetch per token."""
    client = keyless.client()

    azure.rotate(lambda: client.embeddings.create(model=EMBEDDING, input="hello"))

    azure.assert_rotated()


def test_v1_client_survives_token_rotations(azure: Azure) -> None:
    """The v1 surface (callable api_key) keeps succeeding across refreshes."""
    client = keyless.v1_client()

    def chat_and_embed() -> None:
        client.chat.completions.create(model=CHAT, messages=HELLO)
        client.embeddings.create(model=EMBEDDING, input="hello")

    azure.rotate(chat_and_embed)

    azure.assert_rotated()
    assert set(azure.aoai.paths) == {"/openai/v1/chat/completions", "/openai/v1/embeddings"}


async def test_async_v1_client_streaming_survives_token_rotations(azure: Azure) -> None:
    """Async streaming on the v1 surface keeps succeeding across refreshes."""
    client = keyless.async_v1_client()

    async def stream() -> None:
        chunks = await client.chat.completions.create(model=CHAT, messages=HELLO, stream=True)
        assert [chunk async for chunk in chunks]

    await azure.arotate(stream)

    azure.assert_rotated()


def test_retries_reuse_the_cached_token(azure: Azure) -> None:
    """The SDK asks for a token on every retry; the provider answers from its cache."""
    client = keyless.client(max_retries=2)
    azure.aoai.fail_next(2, status=503, retry_after=0.01)

    client.chat.completions.create(model=CHAT, messages=HELLO)

    assert azure.aoai.statuses == {503: 2, 200: 1}
    assert azure.provider().stats.fetches == azure.aoai.distinct_tokens == 1


async def test_async_client_does_not_block_the_event_loop(azure: Azure) -> None:
    """A slow token fetch leaves the event loop free to run other tasks."""
    azure.mi.latency = 0.3
    client = keyless.async_client()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    await client.chat.completions.create(model=CHAT, messages=HELLO)
    task.cancel()

    assert ticks >= 10


async def test_passed_credential_serves_every_client(
    azure: Azure, fake_azure_cli: FakeAzureCli
) -> None:
    """credential= replaces the environment's choice and is shared by the clients given it."""
    credential = AzureCliCredential()
    clients = [keyless.client(credential=credential), keyless.v1_client(credential=credential)]

    for client in clients:
        client.chat.completions.create(model=CHAT, messages=HELLO)

    azure.assert_keyless()
    assert (fake_azure_cli.az_calls, azure.mi.requests, azure.aoai.distinct_tokens) == (1, 0, 1)


async def test_stray_keys_are_never_sent(azure: Azure, stray_keys: dict[str, str]) -> None:
    """Key variables and auth lines in OPENAI_CUSTOM_HEADERS never reach the wire."""
    keyless.client().chat.completions.create(model=CHAT, messages=HELLO)
    keyless.v1_client().chat.completions.create(model=CHAT, messages=HELLO)
    await keyless.async_client().chat.completions.create(model=CHAT, messages=HELLO)
    await keyless.async_v1_client().chat.completions.create(model=CHAT, messages=HELLO)

    azure.assert_keyless()
    assert azure.aoai.requests == 4
    azure.assert_one_fetch_per_token()


def test_copies_stay_keyless(azure: Azure, stray_keys: dict[str, str]) -> None:
    """with_options()/copy() rebuild the client from the environment and stay keyless."""
    copies = [
        keyless.client().with_options(timeout=30),
        keyless.client().copy(max_retries=1),
        keyless.v1_client().with_options(timeout=30),
    ]

    for client in copies:
        client.chat.completions.create(model=CHAT, messages=HELLO)

    azure.assert_keyless()
    assert azure.aoai.requests == 3


def test_copies_refuse_keys(azure: Azure) -> None:
    """A copy cannot be given a key either."""
    with pytest.raises(ConfigurationError, match="never sends keys"):
        keyless.client().with_options(api_key="sk-0123")


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
def test_stray_keys_are_reported_in_one_warning(
    azure: Azure,
    stray_keys: dict[str, str],
    function: object,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each client built with key variables set logs one warning naming them."""
    caplog.set_level("WARNING", logger="adapters")

    function()  # type: ignore[operator]

    (message,) = warnings_from_adapters(caplog)
    assert all(name in message for name in STRAY_VARIABLES)
    assert not any(value in message for value in STRAY_VARIABLES.values())


@pytest.mark.parametrize("keyword", sorted(AUTH_KEYWORDS))
@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
def test_auth_keywords_are_refused(azure: Azure, function: object, keyword: str) -> None:
    """Passing a key, token or provider is a ConfigurationError, never a silent key."""
    with pytest.raises(ConfigurationError, match="keyless-adapters supplies authentication"):
        function(**{keyword: AUTH_KEYWORDS[keyword]})  # type: ignore[operator]


def test_client_types_are_the_sdk_types(azure: Azure) -> None:
    """The functions return the openai SDK's own client types."""
    assert isinstance(keyless.client(), openai.AzureOpenAI)
    assert isinstance(keyless.async_client(), openai.AsyncAzureOpenAI)
    assert isinstance(keyless.v1_client(), openai.OpenAI)
    assert isinstance(keyless.async_v1_client(), openai.AsyncOpenAI)


def test_deployment_is_bound_into_the_url(azure: Azure) -> None:
    """With deployment= set, the body's model is metadata and the URL names the deployment."""
    client = keyless.client(deployment=CHAT)

    client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)

    assert azure.aoai.paths == {f"/openai/deployments/{CHAT}/chat/completions": 1}


def test_v1_client_sends_no_api_version(azure: Azure, monkeypatch: pytest.MonkeyPatch) -> None:
    """A dated OPENAI_API_VERSION is for the deployment surface, not for /openai/v1/."""
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")
    client = keyless.v1_client()

    client.chat.completions.create(model=CHAT, messages=HELLO)

    (request,) = azure.aoai.log
    assert (request.path, request.api_version) == ("/openai/v1/chat/completions", None)


def test_v1_client_refuses_a_dated_api_version(azure: Azure) -> None:
    """The v1 surface takes no dated API version."""
    with pytest.raises(ConfigurationError, match="no dated"):
        keyless.v1_client(api_version="2024-10-21")


@pytest.mark.parametrize("function", [keyless.v1_client, keyless.async_v1_client])
def test_v1_clients_refuse_a_deployment(azure: Azure, function: object) -> None:
    """On the v1 surface the deployment goes into each call as model=."""
    with pytest.raises(ConfigurationError, match="model="):
        function(deployment=CHAT)  # type: ignore[operator]


def test_missing_endpoint_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an endpoint the error says which variable to set."""
    with pytest.raises(ConfigurationError, match="AZURE_OPENAI_ENDPOINT"):
        keyless.client()


def test_base_url_is_refused(azure: Azure) -> None:
    """The adapter builds the URL; base_url= points to endpoint= instead."""
    with pytest.raises(ConfigurationError, match="endpoint="):
        keyless.client(base_url="https://example.invalid/openai")
