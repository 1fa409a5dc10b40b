"""Clock jumps: a laptop resumes and every cached token is suddenly expired.

The shared clock moves the provider and the emulated world together (``conftest.py``), as
real time does for a suspended process: after the jump the old token really is expired at
the data plane. The next call must refresh, not hand out the expired token, and nothing may
hang waiting for a refresh that the suspend interrupted.
"""

from __future__ import annotations

import asyncio
import threading

from tests.reliability.support import (
    CHAT,
    MESSAGES,
    PATIENCE,
    IssuerCredential,
    wait_until_waiting,
)

SUSPEND = 8 * 3600.0  # a night with the lid closed


def _chat(client) -> None:
    client.chat.completions.create(model=CHAT, messages=MESSAGES)


def test_first_request_after_resume_refreshes(chat_client, clock, clocked_identity, clocked_openai):
    """After a jump past expiry the next request carries a new token, never the expired one."""
    _chat(chat_client)
    clock.advance(SUSPEND)
    _chat(chat_client)

    assert clocked_openai.statuses == {200: 2}
    assert clocked_openai.distinct_tokens == 2
    assert clocked_openai.expired_tokens == 0
    assert clocked_identity.tokens_issued == 2


def test_threads_waking_after_resume_share_one_refresh(mi_provider, clock, clocked_identity):
    """16 threads calling at once after the jump make exactly one credential call."""
    first = mi_provider()
    clock.advance(SUSPEND)
    barrier = threading.Barrier(16)
    tokens: list[str] = []

    def call() -> None:
        barrier.wait()
        tokens.append(mi_provider())

    threads = [threading.Thread(target=call) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(PATIENCE)

    assert not any(thread.is_alive() for thread in threads)
    assert len(tokens) == 16
    assert len(set(tokens)) == 1
    assert tokens[0] != first
    assert clocked_identity.tokens_issued == 2


async def test_coroutines_after_resume_refresh_without_hanging(
    mi_provider, clock, clocked_identity
):
    """Coroutines calling after the jump get one new token, through one credential call."""
    first = await mi_provider.aget_token()
    clock.advance(SUSPEND)

    tokens = await asyncio.wait_for(
        asyncio.gather(*(mi_provider.aget_token() for _ in range(200))), PATIENCE
    )

    assert len(set(tokens)) == 1
    assert tokens[0] != first
    assert clocked_identity.tokens_issued == 2


def _held_background_refresh(world, clock) -> tuple[IssuerCredential, object, str]:
    """A provider whose background refresh (started in the advisory window) is held."""
    from adapters import TokenProvider

    credential = IssuerCredential(world[1], 240.0, clock=clock)
    provider = TokenProvider(credential, clock=clock)
    first = provider()
    credential.gate = threading.Event()
    clock.advance(130.0)  # advisory window: the next call starts a background refresh
    assert provider() == first
    assert credential.entered.wait(PATIENCE)
    return credential, provider, first


def _call_in_thread(provider) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(provider())
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    return thread, outcome


def test_caller_waits_for_a_refresh_held_across_a_short_jump(world, clock):
    """A jump into the mandatory window mid-refresh: the caller waits for it, then goes on."""
    credential, provider, first = _held_background_refresh(world, clock)
    clock.advance(100.0)  # the cached token is now in its mandatory window
    waiter, outcome = _call_in_thread(provider)
    wait_until_waiting(waiter)

    credential.gate.set()
    waiter.join(PATIENCE)

    assert not waiter.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], str)
    assert outcome[0] != first
    assert credential.calls == 2


def test_refresh_landing_expired_after_resume_does_not_fail_the_caller(world, clock):
    """A refresh sent before a suspend lands expired: the caller after resume gets a new one."""
    credential, provider, _ = _held_background_refresh(world, clock)
    clock.advance(SUSPEND)  # suspended mid-refresh: the answer on the wire is now stale
    waiter, outcome = _call_in_thread(provider)
    wait_until_waiting(waiter)

    credential.gate.set()
    waiter.join(PATIENCE)

    assert not waiter.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], str), f"the caller failed: {outcome[0]!r}"
    assert world[1].verify(outcome[0])["jti"]  # valid at the resumed time
    assert credential.calls == 3  # the stale answer, then a fresh fetch


async def test_refresh_landing_expired_after_resume_does_not_fail_a_coroutine(world, clock):
    """The async face: a coroutine joining a refresh that lands stale gets a fresh token."""
    credential, provider, _ = _held_background_refresh(world, clock)
    clock.advance(SUSPEND)
    waiter = asyncio.ensure_future(provider.aget_token())
    await asyncio.sleep(0)  # let the coroutine join the flight held in the other thread
    assert not waiter.done()

    credential.gate.set()
    outcome = await asyncio.wait_for(asyncio.gather(waiter, return_exceptions=True), PATIENCE)

    assert isinstance(outcome[0], str), f"the coroutine failed: {outcome[0]!r}"
    assert world[1].verify(outcome[0])["jti"]
    assert credential.calls == 3
