"""Token rotations under mixed load: no failed request, no expired token at the server.

Every adapter (openai deployment-scoped and v1 clients, sync and async; LangChain chat;
LlamaIndex LLM and embedding) and the raw-token shim (httpx auth, and a static-token
openai client rebuilt on each rotation) send requests from
4 threads and 4 coroutines at once, to the Azure OpenAI emulator, which verifies each JWT
with no leeway and counts every expired one. SDK retries are off, so no failure is hidden.

How 200+ rotations fit in a few seconds, faithfully. A rotation cannot be faster than
half a token lifetime (the advisory window is at most half of it), and the identity
emulator and the fake CLIs print integral expiry times, as the real endpoints do, so the
shortest token they can express lives 1 to 2 s. Sub-second tokens do not work either: a
loaded 2-CPU machine stalls the whole process for 200 ms now and then (observed: every
request in flight during such a stall arrives with its token expired, whatever the
library does), so a token must outlive such stalls by a wide margin. The big run therefore
uses 8 identities at once, each with its own credential and shared provider (as an app
serving several tenants or user-assigned identities would), every identity used by every
adapter, with 1-s tokens minted by the shared ``TokenIssuer`` (``IssuerCredential``: the
exact ``exp`` of the JWT, fractional, as ``expires_on``). 8 identities rotating every
~0.5 s give 200 rotations in about 13 s. A second run does a few rotations with the real
``ManagedIdentityCredential`` and its aio twin against the managed-identity emulator.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from adapters import openai as keyless_openai
from adapters._provider import get_provider
from adapters.rawtoken import refreshing_token
from tests.reliability.support import (
    API_VERSION,
    CHAT,
    EMBEDDING,
    MESSAGES,
    IssuerCredential,
    MixedLoad,
    chat_url,
)

httpx = pytest.importorskip("httpx")
openai = pytest.importorskip("openai")
langchain = pytest.importorskip("adapters.langchain")
llama_index = pytest.importorskip("adapters.llama_index")
pytest.importorskip("langchain_openai")
pytest.importorskip("llama_index.llms.azure_openai")
pytest.importorskip("llama_index.embeddings.azure_openai")

IDENTITIES = 8
LIFETIME = 1.0
ROTATIONS = 200
REAL_ROTATIONS = 3

SyncCall = Callable[[], Any]
AsyncCall = Callable[[], Awaitable[Any]]


class Clients:
    """Every adapter and the shim for some identities: their operations and their closing.

    Async clients are closed on the load's event loop (``aclose``), sync ones after.
    """

    def __init__(self) -> None:
        self.sync_calls: list[SyncCall] = []
        self.async_calls: list[AsyncCall] = []
        self.tokens: list[Any] = []
        self.sync_clients: list[Any] = []
        self.async_clients: list[Any] = []

    def add(self, endpoint: str, **auth: Any) -> None:
        """Build every adapter and the shim for one identity (``credential=`` or none)."""
        sync_calls, async_calls, token, sync_clients, async_clients = _adapters(endpoint, **auth)
        self.sync_calls += sync_calls
        self.async_calls += async_calls
        self.tokens.append(token)
        self.sync_clients += sync_clients
        self.async_clients += async_clients

    def load(self, endpoint: str) -> MixedLoad:
        """4 threads and 4 coroutines over every operation, identities interleaved."""
        width = len(self.sync_calls) // len(self.tokens)
        sync_calls = [
            self.sync_calls[i] for k in range(width) for i in range(k, len(self.sync_calls), width)
        ]
        shim = _shim_async(self.tokens, endpoint, self.async_clients)
        return MixedLoad(sync_calls, self.async_calls, async_setup=shim, async_teardown=self.aclose)

    async def aclose(self) -> None:
        for client in self.async_clients:
            await (client.aclose() if hasattr(client, "aclose") else client.close())

    def close(self) -> None:
        for client in self.sync_clients:
            client.close()


def _adapters(
    endpoint: str, **auth: Any
) -> tuple[list[SyncCall], list[AsyncCall], Any, list[Any], list[Any]]:
    """Every adapter and the shim, for one identity; returns operations and clients."""
    keywords = {"endpoint": endpoint, "max_retries": 0, **auth}
    client = keyless_openai.client(**keywords)
    aclient = keyless_openai.async_client(**keywords)
    v1 = keyless_openai.v1_client(**keywords)
    av1 = keyless_openai.async_v1_client(**keywords)
    chat = langchain.chat_model(deployment=CHAT, **keywords)
    llm = llama_index.llm(deployment=CHAT, model="gpt-4o-mini", **keywords)
    embedder = llama_index.embedding(deployment=EMBEDDING, **keywords)
    token = refreshing_token(**auth)
    http = httpx.Client(auth=token.httpx_auth(retry_on_401=False))
    url = chat_url(endpoint)
    # A token-only client (a static azure_ad_token), rebuilt by the shim on each rotation;
    # the rebuilt clients share one connection pool, closed at the end.
    pool = httpx.Client()
    rebuilt = token.rebuild(
        lambda fresh: openai.AzureOpenAI(
            azure_endpoint=endpoint,
            api_version=API_VERSION,
            azure_ad_token=fresh,
            max_retries=0,
            http_client=pool,
        )
    )

    def shim() -> None:
        http.post(url, json={"messages": MESSAGES}).raise_for_status()

    sync_calls: list[SyncCall] = [
        lambda: client.chat.completions.create(model=CHAT, messages=MESSAGES),
        lambda: v1.chat.completions.create(model=CHAT, messages=MESSAGES),
        lambda: chat.invoke("hello"),
        lambda: llm.complete("hello"),
        lambda: embedder.get_query_embedding("hello"),
        shim,
        lambda: rebuilt.chat.completions.create(model=CHAT, messages=MESSAGES),
    ]
    async_calls: list[AsyncCall] = [
        lambda: aclient.chat.completions.create(model=CHAT, messages=MESSAGES),
        lambda: av1.chat.completions.create(model=CHAT, messages=MESSAGES),
        lambda: chat.ainvoke("hello"),
        lambda: llm.acomplete("hello"),
        lambda: embedder.aget_query_embedding("hello"),
    ]
    sync_clients = [client, v1, chat.root_client, llm._client, embedder._client, http, pool]
    async_clients = [aclient, av1, chat.root_async_client, llm._aclient, embedder._aclient]
    return sync_calls, async_calls, token, sync_clients, async_clients


def _shim_async(
    tokens: list[Any], endpoint: str, closing: list[Any]
) -> Callable[[], Awaitable[list[AsyncCall]]]:
    """Builds the shim's async httpx clients inside the load's event loop."""

    async def setup() -> list[AsyncCall]:
        calls: list[AsyncCall] = []
        for token in tokens:
            http = httpx.AsyncClient(auth=token.httpx_auth(retry_on_401=False))
            closing.append(http)

            async def post(http: Any = http) -> None:
                (
                    await http.post(chat_url(endpoint), json={"messages": MESSAGES})
                ).raise_for_status()

            calls.append(post)
        return calls

    return setup


def test_200_rotations_under_mixed_load_fail_no_request(azure_openai_emulator, token_issuer):
    """200+ rotations across every adapter, threads and coroutines: 0 failures, 0 expired."""
    aoai = azure_openai_emulator
    credentials = [IssuerCredential(token_issuer, LIFETIME) for _ in range(IDENTITIES)]
    clients = Clients()
    for credential in credentials:
        clients.add(aoai.endpoint, credential=credential)
    load = clients.load(aoai.endpoint)

    def rotations() -> int:
        return sum(max(credential.calls - 1, 0) for credential in credentials)

    reached = load.run_until(lambda: rotations() >= ROTATIONS)
    clients.close()

    providers = [get_provider(credential=credential) for credential in credentials]
    assert (reached, load.failures) == (True, [])
    assert aoai.expired_tokens == 0
    assert aoai.api_key_headers == 0
    assert aoai.statuses == {200: aoai.requests}
    assert [p.stats.failures for p in providers] == [0] * IDENTITIES
    assert [c.max_concurrent for c in credentials] == [1] * IDENTITIES  # single flight
    assert [p.stats.fetches for p in providers] == [c.calls for c in credentials]
    assert aoai.requests >= 10 * sum(c.calls for c in credentials)


async def test_rotations_with_real_managed_identity_credentials_fail_no_request(
    managed_identity_env, azure_openai_emulator, monkeypatch
):
    """The real ManagedIdentityCredential and its aio twin rotate under mixed load cleanly."""
    mi, aoai = managed_identity_env, azure_openai_emulator
    mi.token_lifetime = 2.0
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", aoai.endpoint)
    clients = Clients()
    clients.add(aoai.endpoint)
    provider = get_provider()
    assert provider.choice is not None
    assert provider.choice.async_credential is not None
    clients.async_clients.append(provider.choice.async_credential)  # closed on its loop
    load = clients.load(aoai.endpoint)

    reached = await asyncio.to_thread(
        load.run_until, lambda: mi.tokens_issued >= REAL_ROTATIONS + 1
    )
    clients.close()

    assert provider.credential_name == "ManagedIdentityCredential"
    assert (reached, load.failures) == (True, [])
    assert (aoai.expired_tokens, aoai.api_key_headers) == (0, 0)
    assert aoai.statuses == {200: aoai.requests}
    assert (provider.stats.failures, mi.failures) == (0, 0)
