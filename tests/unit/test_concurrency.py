"""Single flight under cold-start storms, and an event loop that is never blocked."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from adapters._provider import TokenProvider
from tests.fakes import FakeAsyncCredential, FakeCredential


def _slow_credential(cls: type[FakeCredential] = FakeCredential) -> FakeCredential:
    credential = cls(time.time, lifetime=3600)
    credential.delay = 0.2
    return credential


def _storm_of_threads(provider: TokenProvider, count: int) -> tuple[set[str], int]:
    """Starts ``count`` threads together against a cold cache; returns tokens and errors."""
    barrier = threading.Barrier(count)

    def call() -> str:
        barrier.wait()
        return provider()

    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(call) for _ in range(count)]
    errors = sum(1 for f in futures if f.exception() is not None)
    return {f.result() for f in futures if f.exception() is None}, errors


def test_64_threads_cold_start_make_one_credential_call():
    """64 threads asking at once on a cold cache share exactly one credential call."""
    credential = _slow_credential()
    provider = TokenProvider(credential)
    tokens, errors = _storm_of_threads(provider, 64)
    assert (credential.calls, errors, tokens) == (1, 0, {"tok-1"})


async def test_1000_coroutines_cold_start_make_one_credential_call():
    """1,000 coroutines asking at once on a cold cache share one sync-credential call."""
    credential = _slow_credential()
    provider = TokenProvider(credential)
    results = await asyncio.gather(
        *(provider.aget_token() for _ in range(1000)), return_exceptions=True
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert (credential.calls, len(errors), set(results)) == (1, 0, {"tok-1"})


async def test_1000_coroutines_share_one_native_aio_call():
    """1,000 coroutines on a cold cache share one awaited aio-credential call."""
    credential = _slow_credential(FakeAsyncCredential)
    provider = TokenProvider(credential)
    results = await asyncio.gather(
        *(provider.aget_token() for _ in range(1000)), return_exceptions=True
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert (credential.calls, len(errors), set(results)) == (1, 0, {"tok-1"})


async def test_threads_and_coroutines_mixed_make_one_call():
    """32 threads and 500 coroutines arriving together make one credential call."""
    credential = _slow_credential()
    provider = TokenProvider(credential)
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(32) as pool:
        thread_calls = [loop.run_in_executor(pool, provider) for _ in range(32)]
        results = await asyncio.gather(
            *thread_calls, *(provider.aget_token() for _ in range(500)), return_exceptions=True
        )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert (credential.calls, len(errors), set(results)) == (1, 0, {"tok-1"})


def test_event_loops_in_several_threads_share_one_call():
    """Four threads, each with its own event loop and 100 coroutines, make one call."""
    credential = _slow_credential()
    provider = TokenProvider(credential)
    barrier = threading.Barrier(4)

    def run_loop() -> set[str]:
        async def main() -> set[str]:
            barrier.wait()
            return set(await asyncio.gather(*(provider.aget_token() for _ in range(100))))

        return asyncio.run(main())

    with ThreadPoolExecutor(4) as pool:
        tokens = set().union(*pool.map(lambda _: run_loop(), range(4)))
    assert (credential.calls, tokens) == (1, {"tok-1"})


def test_native_aio_credential_serves_other_loops_through_the_sync_twin():
    """An aio credential stays on its first loop; a second loop is served by the sync twin."""
    async_credential = FakeAsyncCredential(time.time, lifetime=0.5)
    sync_credential = FakeCredential(time.time, lifetime=3600)
    provider = TokenProvider(sync_credential, async_credential=async_credential)
    first = asyncio.run(provider.aget_token())
    time.sleep(0.5)  # let the aio token expire so the second loop must fetch
    second = asyncio.run(provider.aget_token())
    assert (first, second) == ("tok-1", "tok-1")
    assert (async_credential.calls, sync_credential.calls) == (1, 1)


async def test_ticker_keeps_ticking_while_a_sync_credential_sleeps():
    """The event loop keeps running other coroutines while a sync credential blocks."""
    credential = FakeCredential(time.time)
    credential.delay = 0.5
    provider = TokenProvider(credential)
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.ensure_future(ticker())
    await provider.aget_token()
    stop.set()
    await task
    # 0.5 s of blocking in the credential; a blocked loop would tick once or twice.
    assert ticks >= 10
