"""A slow identity endpoint during the advisory window never delays callers with a token.

The endpoint answers the refresh only after 60 s (far longer than the checks take), so a
call that completes while the refresh is still in flight provably did not wait for it:
the assertions are about order and counts, never durations. (The server stops at the end
of each test, which ends the slow request.) A last test lets a 2-s refresh land and checks
that callers then switch to the new token.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.reliability.support import CHAT, MESSAGES, wait_for

ADVISORY = 130.0  # past refresh_at (expiry - 120 s), before must_refresh_at (expiry - 24 s)
SLOW = 60.0
LANDS = 2.0
CALLS = 50


@pytest.fixture
def credential_options() -> dict[str, Any]:
    """The default read timeout (300 s): the credential waits for the slow endpoint."""
    return {"retry_total": 0}


def _start_slow_refresh(mi, provider, clock, latency: float = SLOW) -> str:
    """Cache a token, make the endpoint slow, enter the advisory window, trigger a refresh."""
    first = provider()
    mi.latency = latency
    clock.advance(ADVISORY)
    assert provider() == first  # the trigger itself is served at once
    wait_for(lambda: mi.requests == 2, "the refresh to reach the endpoint")
    return first


def _in_flight(mi, provider) -> bool:
    return mi.tokens_issued == 1 and provider.stats.fetches == 2 and provider.stats.failures == 0


def test_slow_refresh_does_not_delay_sync_requests(
    mi_provider, chat_client, clock, clocked_identity, clocked_openai
):
    """50 requests complete on the cached token while the slow refresh is still in flight."""
    mi, aoai = clocked_identity, clocked_openai
    first = _start_slow_refresh(mi, mi_provider, clock)

    done_in_flight = 0
    for _ in range(CALLS):
        chat_client.chat.completions.create(model=CHAT, messages=MESSAGES)
        done_in_flight += _in_flight(mi, mi_provider)

    assert done_in_flight == CALLS
    assert aoai.statuses == {200: CALLS}
    assert aoai.distinct_tokens == 1
    assert mi_provider() == first


async def test_slow_refresh_does_not_delay_coroutines(mi_provider, clock, clocked_identity):
    """1,000 coroutines get the cached token while the slow refresh is still in flight."""
    mi = clocked_identity
    first = await asyncio.to_thread(_start_slow_refresh, mi, mi_provider, clock)

    async def call() -> tuple[str, bool]:
        token = await mi_provider.aget_token()
        return token, _in_flight(mi, mi_provider)

    results = await asyncio.gather(*(call() for _ in range(1000)))

    assert set(results) == {(first, True)}


def test_slow_refresh_lands_and_callers_switch_to_the_new_token(
    mi_provider, clock, clocked_identity
):
    """When the slow refresh lands, callers get the new token; one fetch, no failure."""
    mi = clocked_identity
    first = _start_slow_refresh(mi, mi_provider, clock, latency=LANDS)
    served_in_flight = [mi_provider() for _ in range(CALLS)]
    in_flight = _in_flight(mi, mi_provider)

    wait_for(lambda: mi_provider() != first, "the refresh to land")

    assert (set(served_in_flight), in_flight) == ({first}, True)
    assert (mi_provider.stats.fetches, mi_provider.stats.failures) == (2, 0)
    assert mi.tokens_issued == 2
