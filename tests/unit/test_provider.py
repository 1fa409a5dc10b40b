"""The token core's rules, pinned with a fake clock and a fake credential."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from adapters._provider import TokenProvider
from adapters._tokens import RefreshPolicy
from adapters.errors import ConfigurationError, TokenRefreshError
from tests.fakes import FakeAsyncCredential, FakeClock, FakeCredential, auth_error


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def credential(clock: FakeClock) -> FakeCredential:
    return FakeCredential(clock, lifetime=3600)


@pytest.fixture
def provider(credential: FakeCredential, clock: FakeClock) -> TokenProvider:
    return TokenProvider(credential, clock=clock, fix="run `az login`")


def refreshed(provider: TokenProvider) -> threading.Event:
    """An event set by the provider's next successful refresh."""
    event = threading.Event()
    provider.on_refresh(lambda _snapshot: event.set())
    return event


def test_token_is_cached(provider, credential):
    """A hundred calls within the token's life make one credential call."""
    tokens = {provider() for _ in range(100)}
    assert (tokens, credential.calls) == ({"tok-1"}, 1)


def test_advisory_refresh_does_not_make_the_trigger_wait(provider, credential, clock):
    """In the advisory window the caller that starts the refresh gets the cached token."""
    provider()
    clock.advance(3301)
    credential.gate = threading.Event()  # the refresh cannot finish until we say so
    done = refreshed(provider)
    assert [provider() for _ in range(5)] == ["tok-1"] * 5
    credential.gate.set()
    assert done.wait(5)
    assert (provider(), credential.calls) == ("tok-2", 2)


def test_advisory_failure_keeps_serving_the_cached_token(provider, credential, clock):
    """A failed background refresh is counted and the cached token keeps serving."""
    provider()
    clock.advance(3301)
    credential.error = auth_error()
    provider()
    _wait_for(lambda: provider.stats.failures == 1)
    assert [provider() for _ in range(10)] == ["tok-1"] * 10


def test_advisory_failure_is_retried_after_backoff(provider, credential, clock):
    """After a failed background refresh, no attempt is made until the back-off has passed."""
    provider()
    clock.advance(3301)
    credential.error = auth_error()
    provider()
    _wait_for(lambda: provider.stats.failures == 1)
    clock.advance(0.9)  # back-off is 1 s
    provider()
    assert credential.calls == 2
    credential.error = None
    done = refreshed(provider)
    clock.advance(0.2)
    provider()
    assert done.wait(5)
    assert (provider(), credential.calls) == ("tok-2", 3)


def test_advisory_failure_is_logged_without_the_token(provider, credential, clock, caplog):
    """The warning for a failed background refresh names the cause, not the token."""
    caplog.set_level(logging.DEBUG, logger="adapters")
    provider()
    clock.advance(3301)
    credential.error = auth_error()
    provider()
    _wait_for(lambda: provider.stats.failures == 1)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("cached token keeps serving" in w for w in warnings)
    assert "tok-1" not in caplog.text


def test_mandatory_failure_raises_a_clear_error(provider, credential, clock):
    """Inside the mandatory window a failed refresh raises, naming the credential and fix."""
    provider()
    clock.advance(3545)
    credential.error = auth_error()
    with pytest.raises(TokenRefreshError) as info:
        provider()
    message = str(info.value)
    assert "FakeCredential" in message
    assert "run `az login`" in message
    assert "tok-" not in message


def test_cold_start_failure_raises_a_clear_error(provider, credential):
    """With nothing cached a failed fetch raises TokenRefreshError, not the SDK's error."""
    credential.error = auth_error()
    with pytest.raises(TokenRefreshError, match="Could not get an Entra ID token"):
        provider()


def test_recovers_after_a_mandatory_failure(provider, credential, clock):
    """Once the credential works again the next call gets a token: nothing to restart."""
    credential.error = auth_error()
    with pytest.raises(TokenRefreshError):
        provider()
    credential.error = None
    assert provider() == "tok-1"


def test_expired_token_is_never_served(provider, credential, clock):
    """After expiry (a laptop resuming), the next call refreshes before answering."""
    provider()
    clock.advance(10 * 3600)
    assert (provider(), credential.calls) == ("tok-2", 2)


def test_refresh_on_hint_is_honoured(clock):
    """A credential's refresh_on starts the background refresh at that time."""
    credential = FakeCredential(clock, lifetime=86400)
    credential.refresh_in = 600
    provider = TokenProvider(credential, clock=clock)
    provider()
    clock.advance(599)
    provider()
    assert credential.calls == 1
    done = refreshed(provider)
    clock.advance(2)
    provider()
    assert done.wait(5)
    assert credential.calls == 2


def test_short_tokens_refresh_per_lifetime_not_per_call(clock):
    """A 2-s token over 10 lifetimes and 500 calls is fetched once per half-life at most."""
    credential = FakeCredential(clock, lifetime=2)
    provider = TokenProvider(credential, clock=clock)
    for _ in range(10 * 50):
        provider.get_token()
        clock.advance(0.04)
        _wait_for(lambda: provider._flight is None)
    # The advisory window of a 2-s token is 1 s: one refresh per second of the 20 s run.
    assert credential.calls == 20


def test_min_lifetime_forces_a_refresh(provider, credential, clock):
    """A caller asking for more life than the cached token has waits for a new token."""
    provider()
    clock.advance(1000)
    assert (provider.get_token(min_lifetime=3000), credential.calls) == ("tok-2", 2)


def test_min_lifetime_is_never_violated(provider, credential, clock):
    """If the credential cannot give enough life, the caller gets an error, not the token."""
    provider()
    clock.advance(1000)
    credential.repeat = True
    with pytest.raises(TokenRefreshError, match="3000 s were required"):
        provider.get_token(min_lifetime=3000)


def test_same_token_handed_back_is_not_refetched_on_every_call(provider, credential, clock):
    """A credential returning its cached token in the advisory window is asked again later."""
    provider()
    clock.advance(3301)
    credential.repeat = True
    for _ in range(100):
        provider()
        _wait_for(lambda: provider._flight is None)
    assert credential.calls == 2
    assert provider.stats.unchanged == 1


def test_same_token_in_mandatory_window_is_not_asked_for_on_every_call(clock):
    """A credential repeating a still-valid token near expiry is asked again after a back-off."""
    credential = FakeCredential(clock, lifetime=3600)
    provider = TokenProvider(credential, clock=clock)
    provider()
    clock.advance(3545)
    credential.repeat = True
    tokens = {provider() for _ in range(100)}
    assert (tokens, credential.calls) == ({"tok-1"}, 2)


def test_repr_names_scope_and_credential_only(provider):
    """The provider's repr shows its scope and credential, never a token."""
    provider()
    assert "tok-" not in repr(provider)
    assert "FakeCredential" in repr(provider)


def test_counters_track_fetches_failures_and_last_refresh(provider, credential, clock):
    """Stats count credential calls and failures and remember the last refresh time."""
    provider()
    clock.advance(4000)
    credential.error = auth_error()
    with pytest.raises(TokenRefreshError):
        provider()
    stats = provider.stats
    assert (stats.fetches, stats.failures, stats.last_refresh) == (2, 1, 1_000_000.0)
    assert stats.last_error is not None


def test_on_refresh_unsubscribe_stops_callbacks(provider, clock):
    """An unsubscribed callback is not called on later refreshes."""
    seen: list[float] = []
    unsubscribe = provider.on_refresh(lambda snapshot: seen.append(snapshot.expires_on))
    provider()
    unsubscribe()
    clock.advance(4000)
    provider()
    assert len(seen) == 1


def test_scope_must_end_in_default(credential):
    """A scope without /.default is refused with the value to use."""
    with pytest.raises(ConfigurationError, match=r"must end in '/\.default'"):
        TokenProvider(credential, "https://cognitiveservices.azure.com")


def test_custom_windows_are_used(credential, clock):
    """A policy with a 10-minute advisory window starts refreshing 10 minutes early."""
    provider = TokenProvider(
        credential, clock=clock, policy=RefreshPolicy(advisory_window=600, mandatory_window=60)
    )
    provider()
    clock.advance(3001)
    done = refreshed(provider)
    provider()
    assert done.wait(5)


async def test_async_face_shares_the_sync_cache(provider, credential):
    """A token fetched by the sync face is served to the async face without a new fetch."""
    assert (provider(), await provider.aget_token(), credential.calls) == ("tok-1", "tok-1", 1)


async def test_async_credential_is_awaited_natively(clock):
    """An aio credential runs on the caller's own event loop."""
    credential = FakeAsyncCredential(clock)
    provider = TokenProvider(credential, clock=clock)
    assert await provider.aget_token() == "tok-1"
    assert credential.loops == [asyncio.get_running_loop()]


async def test_sync_credential_runs_off_the_event_loop(clock):
    """A sync credential called from async code runs in a worker thread."""
    threads: list[str] = []
    credential = FakeCredential(clock)
    original = credential.get_token_info
    credential.get_token_info = lambda *a, **k: (  # type: ignore[method-assign]
        threads.append(threading.current_thread().name) or original(*a, **k)
    )
    provider = TokenProvider(credential, clock=clock)
    await provider.aget_token()
    assert threads == [threads[0]]
    assert threads[0] != threading.current_thread().name


async def test_cancelled_owner_does_not_strand_waiters(clock):
    """If the coroutine that started a refresh is cancelled, the others still get a token."""
    credential = FakeAsyncCredential(clock)
    credential.delay = 0.05
    provider = TokenProvider(credential, clock=clock)
    first = asyncio.ensure_future(provider.aget_token())
    await asyncio.sleep(0)
    others = [asyncio.ensure_future(provider.aget_token()) for _ in range(10)]
    first.cancel()
    assert set(await asyncio.gather(*others)) == {"tok-1"}


async def test_async_failure_raises_the_clear_error(clock):
    """The async face raises the same TokenRefreshError as the sync one."""
    credential = FakeAsyncCredential(clock)
    credential.error = auth_error()
    provider = TokenProvider(credential, clock=clock, fix="run `az login`")
    with pytest.raises(TokenRefreshError, match="run `az login`"):
        await provider.aget_token()


async def test_background_refresh_uses_the_sync_twin(clock):
    """With both flavours, waits await the aio credential; background refreshes use the sync."""
    async_credential = FakeAsyncCredential(clock)
    sync_credential = FakeCredential(clock)
    provider = TokenProvider(sync_credential, async_credential=async_credential, clock=clock)
    await provider.aget_token()
    clock.advance(3301)
    done = refreshed(provider)
    await provider.aget_token()
    assert await asyncio.to_thread(done.wait, 5)
    assert (async_credential.calls, sync_credential.calls) == (1, 1)


async def test_throttled_aio_credential_is_bypassed_in_the_mandatory_window(clock):
    """An aio credential handing back a token about to expire is bypassed via its sync twin."""
    async_credential = FakeAsyncCredential(clock, lifetime=3600)
    sync_credential = FakeCredential(clock, lifetime=3600)
    provider = TokenProvider(sync_credential, async_credential=async_credential, clock=clock)
    first = await provider.aget_token()
    clock.advance(3550)
    async_credential.repeat = True
    second = await provider.aget_token()
    assert (first, second, sync_credential.calls) == ("tok-1", "tok-1", 1)
    assert provider.snapshot().expires_on == clock.now + 3600


def test_aio_only_credential_refuses_sync_use_clearly(clock):
    """Sync use of an aio-only provider says to pass the sync credential too."""
    provider = TokenProvider(FakeAsyncCredential(clock), clock=clock)
    with pytest.raises(ConfigurationError, match="pass the sync credential too"):
        provider()


def _wait_for(condition, timeout: float = 5.0) -> None:
    """Waits (briefly, for a background thread) until condition() is true."""
    event = threading.Event()
    for _ in range(int(timeout / 0.005)):
        if condition():
            return
        event.wait(0.005)
    raise AssertionError("condition not met in time")


async def test_aclose_closes_both_credentials(clock):
    """aclose() closes the sync credential and awaits the aio credential's close()."""
    closed: list[str] = []
    sync_credential = FakeCredential(clock)
    async_credential = FakeAsyncCredential(clock)
    sync_credential.close = lambda: closed.append("sync")  # type: ignore[method-assign]

    async def aclose() -> None:
        closed.append("aio")

    async_credential.close = aclose  # type: ignore[method-assign]
    provider = TokenProvider(sync_credential, async_credential=async_credential, clock=clock)
    await provider.aclose()
    assert closed == ["sync", "aio"]
