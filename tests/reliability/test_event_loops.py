"""Several event loops in several threads share one provider (and one token cache).

Web servers and workers often run one event loop per thread. The provider's asyncio state
is made lazily, per loop, and a native ``azure.identity.aio`` credential is bound to the
loop it first ran on; the other loops (and loops started after that one closed) are served
through the sync twin. Counts, not timings: one credential call per refresh whatever the
number of loops, no failed request, no expired token at the server.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from adapters import TokenProvider
from tests.reliability.support import (
    API_VERSION,
    CHAT,
    MESSAGES,
    PATIENCE,
    AsyncIssuerCredential,
    IssuerCredential,
    ShiftedClock,
)

openai = pytest.importorskip("openai")

LOOPS = 4
ROTATIONS = 6


def _in_loops(count: int, main: Callable[[int], Awaitable[Any]]) -> list[Any]:
    """Run ``main(index)`` with ``asyncio.run`` in ``count`` threads; returns the results."""
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        try:
            results[index] = asyncio.run(main(index))
        except BaseException as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(PATIENCE)
    assert not any(thread.is_alive() for thread in threads), "an event loop hung"
    return results


def test_cold_start_from_four_loops_makes_one_credential_call(clocked_identity):
    """4 loops x 250 coroutines on a cold cache, 200-ms endpoint: exactly one fetch."""
    from azure.identity import ManagedIdentityCredential

    clocked_identity.latency = 0.2
    provider = TokenProvider(ManagedIdentityCredential())
    start = threading.Barrier(LOOPS)

    async def main(index: int) -> set[str]:
        await asyncio.to_thread(start.wait)
        return set(await asyncio.gather(*(provider.aget_token() for _ in range(250))))

    results = _in_loops(LOOPS, main)

    assert [len(tokens) for tokens in results] == [1] * LOOPS
    assert len(set.union(*results)) == 1
    assert provider.stats.fetches == 1
    assert clocked_identity.requests == 1


def test_loops_rotate_tokens_through_one_flight_at_a_time(token_issuer, azure_openai_emulator):
    """4 loops sending requests across 6+ rotations: no failure, one flight at a time."""
    credential = IssuerCredential(token_issuer, 1.0)
    native = AsyncIssuerCredential(credential)
    provider = TokenProvider(credential, async_credential=native)
    aoai = azure_openai_emulator

    async def main(index: int) -> int:
        client = openai.AsyncAzureOpenAI(
            azure_endpoint=aoai.endpoint,
            api_version=API_VERSION,
            azure_ad_token_provider=provider.async_provider,
            max_retries=0,
        )
        sent = 0
        try:
            while credential.calls <= ROTATIONS:
                await asyncio.gather(
                    *(
                        client.chat.completions.create(model=CHAT, messages=MESSAGES)
                        for _ in range(4)
                    )
                )
                sent += 4
        finally:
            await client.close()
        return sent

    results = _in_loops(LOOPS, main)

    assert all(isinstance(sent, int) and sent > 0 for sent in results), results
    assert aoai.statuses == {200: aoai.requests}
    assert aoai.expired_tokens == 0
    assert credential.max_concurrent == 1  # native and sync-twin fetches never overlapped
    assert provider.stats.failures == 0
    assert provider.stats.fetches == credential.calls


def test_loops_started_after_the_native_loop_closed_still_get_tokens(token_issuer):
    """When the loop that owns the aio credential has closed, later loops use the sync twin."""
    clock = ShiftedClock()
    credential = IssuerCredential(token_issuer, 3600.0, clock=clock)
    native = AsyncIssuerCredential(credential)
    provider = TokenProvider(credential, async_credential=native, clock=clock)

    first = asyncio.run(provider.aget_token())
    assert native.calls == 1
    assert native.loops[0].is_closed()
    clock.advance(7200.0)  # every loop below needs a refresh

    async def main(index: int) -> str:
        return await provider.aget_token()

    results = _in_loops(LOOPS, main)

    assert all(isinstance(token, str) for token in results), results
    assert len(set(results)) == 1
    assert results[0] != first
    assert native.calls == 1  # never awaited on a closed loop again
    assert credential.calls == 2  # one refresh, through the sync twin, shared by 4 loops
