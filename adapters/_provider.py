"""The shared token provider: one cache, one refresh at a time, sync and async faces.

Design notes (why, not what):

* A refresh is a *flight*: a ``concurrent.futures.Future`` that every waiting thread and
  coroutine shares, whatever loop or thread it runs on, so there is exactly one credential
  call per refresh. The lock is held only to read state and to decide who starts a flight,
  never during I/O, so async callers never block their loop on it.
* Advisory refreshes run in the background (a daemon thread, or a task on the event loop of
  a native ``azure.identity.aio`` credential); nobody waits for them.
* An ``azure.identity.aio`` credential is bound to the event loop it first ran on (its
  aiohttp session is), so it is awaited natively there and the sync credential serves other
  loops from a worker thread.
* The lock is rebuilt after ``os.fork()`` so a forked worker (gunicorn ``--preload``) never
  inherits a lock held by a thread that does not exist in the child.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import inspect
import logging
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from adapters._tokens import Action, RefreshPolicy, TokenSnapshot, decide
from adapters.errors import ConfigurationError, TokenRefreshError

if TYPE_CHECKING:
    # asyncio (with ssl) doubles the import time of the package; sync users never need it.
    import asyncio

__all__ = [
    "ProviderStats",
    "TokenProvider",
    "clear_providers",
    "get_provider",
]

logger = logging.getLogger("adapters")

PUBLIC_SCOPE = "https://cognitiveservices.azure.com/.default"


@dataclass(frozen=True)
class ProviderStats:
    """Counters of one provider, for tests, benchmarks and ``adapters doctor``.

    Attributes:
        fetches: Credential calls made (successful or not).
        failures: Credential calls that raised.
        unchanged: Refreshes that handed back a token expiring no later than the cached one
            (credentials cache too); the next attempt is scheduled after a back-off.
        background_refreshes: Refreshes started in the advisory window.
        last_refresh: Provider-clock time of the last successful refresh, if any.
        last_error: The last failure, explained (never holds a token).
    """

    fetches: int = 0
    failures: int = 0
    unchanged: int = 0
    background_refreshes: int = 0
    last_refresh: float | None = None
    last_error: str | None = None


class _FlightAbortedError(Exception):
    """The refresh was abandoned (its task was cancelled); waiters start another."""


class _Flight:
    """One refresh in progress, shared by every caller waiting for it."""

    __slots__ = ("background", "future", "loop")

    def __init__(self, *, background: bool, loop: asyncio.AbstractEventLoop | None) -> None:
        self.future: concurrent.futures.Future[TokenSnapshot] = concurrent.futures.Future()
        self.background = background
        self.loop = loop


def _running_loop() -> asyncio.AbstractEventLoop | None:
    if "asyncio" not in sys.modules:  # nobody imported it, so no loop can be running
        return None
    import asyncio

    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _is_async_credential(credential: Any) -> bool:
    method = getattr(type(credential), "get_token_info", None) or getattr(
        type(credential), "get_token", None
    )
    return inspect.iscoroutinefunction(method)


class TokenProvider:
    """A cached, single-flight, refresh-ahead bearer-token source for one scope and identity.

    Call it (``provider()``) for a token string; ``await provider.aget_token()`` in async
    code. ``provider`` plugs into ``azure_ad_token_provider`` and callable ``api_key``
    parameters, ``provider.async_provider`` into their async twins. Sync and async faces
    share one cache. Use :func:`get_provider` to get the process-wide shared instance.

    Args:
        credential: A sync ``azure.core.credentials.TokenCredential``.
        scope: The scope to request, ending in ``/.default``.
        async_credential: Optionally an ``azure.identity.aio`` credential, awaited natively
            on the event loop it first runs on.
        clock: Returns the current epoch time in seconds; injected by tests.
        policy: Refresh windows and back-off.
        name: The credential's name in messages (defaults to its class name).
        fix: What to tell users when the credential fails (for example "run `az login`").
        explain: Turns a credential exception into one sentence (no secrets).
        wait_timeout: Seconds a caller waits for a refresh before giving up.
    """

    def __init__(
        self,
        credential: Any | None = None,
        scope: str = PUBLIC_SCOPE,
        *,
        async_credential: Any | None = None,
        clock: Callable[[], float] = time.time,
        policy: RefreshPolicy | None = None,
        name: str | None = None,
        fix: str | None = None,
        explain: Callable[[BaseException], str] | None = None,
        wait_timeout: float = 120.0,
    ) -> None:
        if credential is not None and _is_async_credential(credential):
            if async_credential is not None:
                raise ConfigurationError(
                    "credential= is an async (azure.identity.aio) credential; pass the sync "
                    "one as credential= and the aio one as async_credential="
                )
            credential, async_credential = None, credential
        if credential is None and async_credential is None:
            raise ConfigurationError("TokenProvider needs a credential (sync or aio)")
        if not scope.endswith("/.default"):
            raise ConfigurationError(
                f"scope {scope!r} must end in '/.default', for example {PUBLIC_SCOPE!r}"
            )
        self.scope = scope
        self.policy = policy or RefreshPolicy()
        self._credential = credential
        self._async_credential = async_credential
        self._clock = clock
        self._name = name or type(credential or async_credential).__name__
        self._fix = fix
        self._explain = explain
        self._wait_timeout = wait_timeout
        self._snapshot: TokenSnapshot | None = None
        self._retry_at = 0.0
        self._hold_until = 0.0
        self._failures_in_row = 0
        self._stats = ProviderStats()
        self.choice: Any | None = None
        """The :class:`adapters.credentials.CredentialChoice` behind a shared provider."""
        self._callbacks: list[Callable[[TokenSnapshot], None]] = []
        self._init_sync_state()
        _LIVE_PROVIDERS.add(self)

    def _init_sync_state(self) -> None:
        self._lock = threading.Lock()
        self._flight: _Flight | None = None
        self._home_loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"TokenProvider(scope={self.scope!r}, credential={self._name})"

    # -- public faces -------------------------------------------------------------------

    @property
    def credential_name(self) -> str:
        """The credential's name, as used in messages."""
        return self._name

    @property
    def clock(self) -> Callable[[], float]:
        """The clock the snapshots' thresholds are measured on."""
        return self._clock

    @property
    def stats(self) -> ProviderStats:
        """A consistent copy of the counters."""
        return self._stats

    def __call__(self) -> str:
        """Returns a valid bearer token (no ``Bearer`` prefix); the hot path takes no lock."""
        snapshot = self._snapshot
        if snapshot is not None and self._clock() < snapshot.refresh_at:
            return snapshot.token
        return self.snapshot().token

    def get_token(self, min_lifetime: float = 0.0) -> str:
        """Returns a token valid for at least ``min_lifetime`` more seconds."""
        return self.snapshot(min_lifetime).token

    async def aget_token(self, min_lifetime: float = 0.0) -> str:
        """Async twin of :meth:`get_token`; never blocks the event loop."""
        snapshot = self._snapshot
        if snapshot is not None and min_lifetime == 0.0 and self._clock() < snapshot.refresh_at:
            return snapshot.token
        return (await self.asnapshot(min_lifetime)).token

    @property
    def async_provider(self) -> Callable[[], Coroutine[Any, Any, str]]:
        """An ``async def`` callable for ``azure_ad_async_token_provider`` and friends."""
        return self.aget_token

    def close(self) -> None:
        """Closes the sync credential (an aio credential needs :meth:`aclose`)."""
        close = getattr(self._credential, "close", None)
        if callable(close):
            close()

    async def aclose(self) -> None:
        """Closes both credentials, releasing the aio credential's HTTP session.

        Call it on the event loop the provider's async face ran on, before that loop ends,
        to avoid aiohttp's "Unclosed client session" warning at exit.
        """
        self.close()
        close = getattr(self._async_credential, "close", None)
        if callable(close):
            await close()

    def on_refresh(self, callback: Callable[[TokenSnapshot], None]) -> Callable[[], None]:
        """Calls ``callback(snapshot)`` after each refresh that brings a new token.

        Returns:
            A function that unsubscribes the callback.
        """
        with self._lock:
            self._callbacks.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return unsubscribe

    def snapshot(self, min_lifetime: float = 0.0) -> TokenSnapshot:
        """Returns the current token snapshot, refreshing first when it must.

        Raises:
            TokenRefreshError: No token valid for ``min_lifetime`` seconds could be obtained.
        """
        retried = False
        while True:
            current, action, flight, started = self._plan(min_lifetime, loop=None)
            if action is Action.SERVE:
                assert current is not None
                return current
            if action is Action.REFRESH_IN_BACKGROUND:
                assert current is not None
                if flight is not None and started:
                    self._launch_background(flight)
                return current
            assert flight is not None
            if started:
                self._run_sync(flight)
            elif flight.loop is not None and flight.loop is _running_loop():
                # Waiting here would block the very loop that runs the refresh.
                return self._checked(self._fetch_outside_flight(), min_lifetime)
            try:
                result = flight.future.result(timeout=self._wait_timeout)
            except _FlightAbortedError:
                continue
            except concurrent.futures.TimeoutError:
                raise self._timeout_error() from None
            except TokenRefreshError as exc:
                raise TokenRefreshError(str(exc)) from exc.__cause__
            if not retried and not self._sufficient(result, min_lifetime):
                # Minted before a suspend or a long wait: one fresh attempt of our own.
                retried = True
                continue
            return self._checked(result, min_lifetime)

    async def asnapshot(self, min_lifetime: float = 0.0) -> TokenSnapshot:
        """Async twin of :meth:`snapshot`."""
        import asyncio

        loop = asyncio.get_running_loop()
        retried = False
        while True:
            current, action, flight, started = self._plan(min_lifetime, loop=loop)
            if action is Action.SERVE:
                assert current is not None
                return current
            if flight is not None and started:
                if flight.loop is loop:
                    task = loop.create_task(self._run_async(flight))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                else:
                    self._launch_background(flight)
            if action is Action.REFRESH_IN_BACKGROUND:
                assert current is not None
                return current
            assert flight is not None
            try:
                result = await self._await_flight(flight, loop)
            except _FlightAbortedError:
                continue
            except TimeoutError:
                raise self._timeout_error() from None
            except TokenRefreshError as exc:
                raise TokenRefreshError(str(exc)) from exc.__cause__
            if not retried and not self._sufficient(result, min_lifetime):
                # Minted before a suspend or a long wait: one fresh attempt of our own.
                retried = True
                continue
            return self._checked(result, min_lifetime)

    # -- flights ------------------------------------------------------------------------

    def _plan(
        self, min_lifetime: float, loop: asyncio.AbstractEventLoop | None
    ) -> tuple[TokenSnapshot | None, Action, _Flight | None, bool]:
        """Decides under the lock; joins or starts a flight when the token needs one.

        Returns the cached snapshot, the action (``SERVE`` also when a background refresh
        is already running), the flight to wait for or launch, and whether we started it.
        """
        now = self._clock()
        with self._lock:
            current = self._snapshot
            action = decide(
                current,
                now,
                min_lifetime=min_lifetime,
                retry_at=self._retry_at,
                hold_until=self._hold_until,
            )
            if action is Action.SERVE or (
                action is Action.REFRESH_IN_BACKGROUND and self._flight is not None
            ):
                return current, Action.SERVE, None, False
            flight, started = self._join_or_start(action, loop=loop)
        return current, action, flight, started

    def _join_or_start(
        self, action: Action, loop: asyncio.AbstractEventLoop | None
    ) -> tuple[_Flight | None, bool]:
        """Under the lock: joins the flight in progress, or starts one. True if started.

        Returns no flight only for a background refresh that nobody here can run.
        """
        if self._flight is not None:
            return self._flight, False
        background = action is Action.REFRESH_IN_BACKGROUND
        native_loop = None
        # Nobody waits for a background refresh, so it goes to the sync twin in a thread when
        # there is one: aio credentials throttle themselves to one request per 30 s and hand
        # back their cached token meanwhile, which would stall short-lived tokens.
        if (
            loop is not None
            and self._async_credential is not None
            and not (background and self._credential is not None)
        ):
            # Rebinding to another loop is a last resort, for aio-only credentials.
            home = self._home_loop
            if home is None or (home.is_closed() and self._credential is None):
                self._home_loop = loop
            if self._home_loop is loop:
                native_loop = loop
        if native_loop is None and self._credential is None:
            if background:
                return None, False
            raise ConfigurationError(
                f"{self._name} is an azure.identity.aio credential bound to another event loop "
                "(or used from sync code); pass the sync credential too "
                "(credential=<sync>, async_credential=<aio>) so other loops and threads "
                "can be served"
            )
        flight = _Flight(background=background, loop=native_loop)
        self._flight = flight
        if background:
            self._stats = replace(
                self._stats, background_refreshes=self._stats.background_refreshes + 1
            )
        return flight, True

    def _launch_background(self, flight: _Flight) -> None:
        threading.Thread(
            target=self._run_sync, args=(flight,), name="adapters-token-refresh", daemon=True
        ).start()

    def _run_sync(self, flight: _Flight) -> None:
        try:
            snapshot = self._fetch_sync()
        except BaseException as exc:
            self._finish(flight, None, exc)
            if not isinstance(exc, Exception):
                raise
        else:
            self._finish(flight, snapshot, None)

    async def _run_async(self, flight: _Flight) -> None:
        try:
            snapshot = await self._fetch_async()
            current = self._snapshot
            if (
                self._credential is not None
                and current is not None
                and snapshot.expires_on <= current.expires_on
                and snapshot.obtained_at >= current.must_refresh_at
            ):
                # The aio credential's 30-s throttle handed back a token that is about to
                # expire; its sync twin has no such throttle.
                import asyncio

                snapshot = await asyncio.to_thread(self._fetch_sync)
        except BaseException as exc:
            self._finish(flight, None, exc)
            if not isinstance(exc, Exception):
                raise
        else:
            self._finish(flight, snapshot, None)

    async def _await_flight(
        self, flight: _Flight, loop: asyncio.AbstractEventLoop
    ) -> TokenSnapshot:
        future = flight.future
        if not future.done():
            waiter: asyncio.Future[None] = loop.create_future()

            def wake(_: object) -> None:
                def set_done() -> None:
                    if not waiter.done():
                        waiter.set_result(None)

                # RuntimeError: that loop has closed, so nobody is waiting there.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(set_done)

            future.add_done_callback(wake)
            import asyncio

            await asyncio.wait_for(waiter, self._wait_timeout)
        return future.result()

    def _finish(
        self, flight: _Flight, snapshot: TokenSnapshot | None, error: BaseException | None
    ) -> None:
        """Records the outcome of a flight and wakes everyone waiting for it."""
        callbacks: list[Callable[[TokenSnapshot], None]] = []
        with self._lock:
            if self._flight is flight:
                self._flight = None
            if error is not None and not isinstance(error, Exception):
                outcome: BaseException | TokenSnapshot = _FlightAbortedError()
            elif error is not None:
                outcome = self._record_failure(error, flight.background)
            else:
                assert snapshot is not None
                outcome, callbacks = self._record_success(snapshot)
        if isinstance(outcome, BaseException):
            flight.future.set_exception(outcome)
        else:
            flight.future.set_result(outcome)
            for callback in callbacks:
                try:
                    callback(outcome)
                except Exception:
                    logger.exception("on_refresh callback %r failed", callback)

    def _record_success(
        self, snapshot: TokenSnapshot
    ) -> tuple[TokenSnapshot, list[Callable[[TokenSnapshot], None]]]:
        current = self._snapshot
        if current is not None and snapshot.expires_on <= current.expires_on:
            # The credential handed back its cached token: not a failure, but do not ask
            # again on every call; try again after a back-off.
            self._failures_in_row += 1
            self._retry_at = self._hold_until = snapshot.obtained_at + self.policy.backoff(
                self._failures_in_row, current
            )
            self._stats = replace(self._stats, unchanged=self._stats.unchanged + 1)
            logger.debug("%s returned the cached token again; retrying later", self._name)
            return current, []
        self._snapshot = snapshot
        self._failures_in_row = 0
        self._retry_at = self._hold_until = 0.0
        self._stats = replace(self._stats, last_refresh=snapshot.obtained_at)
        logger.debug(
            "New token for %s from %s; valid for %.0f s",
            self.scope,
            self._name,
            snapshot.expires_on - snapshot.obtained_at,
        )
        return snapshot, list(self._callbacks)

    def _record_failure(self, error: BaseException, background: bool) -> TokenRefreshError:
        now = self._clock()
        self._failures_in_row += 1
        self._retry_at = now + self.policy.backoff(self._failures_in_row, self._snapshot)
        message = self._failure_message(error)
        if background:
            logger.warning(
                "Background token refresh failed (%s); the cached token keeps serving, "
                "next attempt in %.1f s",
                message,
                self._retry_at - now,
            )
        else:
            # The caller gets the error raised; a log record on top would say it twice.
            logger.debug("Token refresh failed: %s", message)
        # Counted after logging, so whoever sees the count also sees the log record.
        self._stats = replace(self._stats, failures=self._stats.failures + 1, last_error=message)
        result = TokenRefreshError(message)
        result.__cause__ = error
        return result

    def _failure_message(self, error: BaseException) -> str:
        message = f"Could not get an Entra ID token for {self.scope}: "
        if self._explain is not None:
            # The explanation names the credential and carries the most specific fix.
            return message + self._explain(error)
        message += f"{self._name} raised {type(error).__name__}: {error}"
        if self._fix:
            message += f" Fix: {self._fix}"
        return message

    def _sufficient(self, snapshot: TokenSnapshot, min_lifetime: float) -> bool:
        left = snapshot.remaining(self._clock())
        return left > 0 and left >= min_lifetime

    def _checked(self, snapshot: TokenSnapshot, min_lifetime: float) -> TokenSnapshot:
        left = snapshot.remaining(self._clock())
        if left <= 0:
            raise TokenRefreshError(
                f"{self._name} returned a token for {self.scope} that had already expired by "
                "this machine's clock; check that the system clock is right"
            )
        if left < min_lifetime:
            raise TokenRefreshError(
                f"{self._name} returned a token for {self.scope} with {max(left, 0):.0f} s "
                f"left, but {min_lifetime:.0f} s were required; lower min_lifetime or use a "
                "credential that can issue a fresh token"
            )
        return snapshot

    def _timeout_error(self) -> TokenRefreshError:
        return TokenRefreshError(
            f"Timed out after {self._wait_timeout:.0f} s waiting for {self._name} to return a "
            f"token for {self.scope}." + (f" Fix: {self._fix}" if self._fix else "")
        )

    # -- credential calls ----------------------------------------------------------------

    def _count_fetch(self) -> None:
        with self._lock:
            self._stats = replace(self._stats, fetches=self._stats.fetches + 1)

    def _fetch_sync(self) -> TokenSnapshot:
        credential = self._credential
        assert credential is not None
        self._count_fetch()
        if hasattr(credential, "get_token_info"):
            info = credential.get_token_info(self.scope)
            refresh_on = info.refresh_on
        else:
            info = credential.get_token(self.scope)
            refresh_on = None
        return self.policy.snapshot(info.token, info.expires_on, self._clock(), refresh_on)

    async def _fetch_async(self) -> TokenSnapshot:
        credential = self._async_credential
        assert credential is not None
        self._count_fetch()
        if hasattr(credential, "get_token_info"):
            info = await credential.get_token_info(self.scope)
            refresh_on = info.refresh_on
        else:
            info = await credential.get_token(self.scope)
            refresh_on = None
        return self.policy.snapshot(info.token, info.expires_on, self._clock(), refresh_on)

    def _fetch_outside_flight(self) -> TokenSnapshot:
        """A sync fetch for the one caller that cannot wait for the loop's own flight."""
        if self._credential is None:
            raise ConfigurationError(
                f"{self._name} is async-only and its refresh runs on this thread's event "
                "loop; call aget_token() from async code, or pass a sync credential too"
            )
        try:
            snapshot = self._fetch_sync()
        except Exception as exc:
            with self._lock:
                error = self._record_failure(exc, background=False)
            raise error from exc
        with self._lock:
            result, callbacks = self._record_success(snapshot)
        for callback in callbacks:
            callback(result)
        return result

    def _reset_after_fork(self) -> None:
        self._init_sync_state()


_LIVE_PROVIDERS: weakref.WeakSet[TokenProvider] = weakref.WeakSet()
_REGISTRY: dict[tuple[Any, ...], TokenProvider] = {}
_REGISTRY_LOCK = threading.Lock()


def _after_fork_in_child() -> None:
    global _REGISTRY_LOCK
    _REGISTRY_LOCK = threading.Lock()
    for provider in list(_LIVE_PROVIDERS):
        provider._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def get_provider(
    settings: Any | None = None,
    *,
    credential: Any | None = None,
    async_credential: Any | None = None,
    **overrides: Any,
) -> TokenProvider:
    """Returns the process-wide provider for the settings' scope and identity.

    Asking twice for the same scope and identity returns the same provider, and so one
    token cache shared by every client built from it.

    Args:
        settings: Resolved :class:`adapters.settings.Settings`; read from the environment
            (with ``overrides``) when omitted.
        credential: A credential to use instead of the environment's choice (sync or aio).
        async_credential: The ``azure.identity.aio`` twin of ``credential``, if you have one.
        **overrides: Settings keywords (``scope``, ``client_id``, ``endpoint``...).

    Raises:
        ConfigurationError: A setting or the environment is wrong; the message says how.
    """
    from adapters.credentials import explain_failure, select_credential
    from adapters.settings import Settings

    if settings is None:
        settings = Settings.from_env(**overrides)
    elif overrides:
        raise TypeError("pass either settings= or settings keywords, not both")
    choice = select_credential(settings, credential)
    if async_credential is not None:
        choice = replace(
            choice,
            async_credential=async_credential,
            identity_key=(*choice.identity_key, str(id(async_credential))),
        )
    key = (settings.scope, choice.identity_key)
    with _REGISTRY_LOCK:
        provider = _REGISTRY.get(key)
        if provider is None:
            provider = TokenProvider(
                choice.credential,
                settings.scope,
                async_credential=choice.async_credential,
                name=choice.name,
                fix=choice.fix,
                explain=lambda exc: explain_failure(choice, exc),
            )
            provider.choice = choice
            _REGISTRY[key] = provider
        return provider


def clear_providers() -> list[TokenProvider]:
    """Forgets every shared provider, so the next :func:`get_provider` starts afresh.

    Tests call it between cases (the pytest plugin's ``fresh_providers`` fixture does).
    Credentials are left open; close them with :meth:`TokenProvider.aclose` if needed.

    Returns:
        The providers forgotten.
    """
    with _REGISTRY_LOCK:
        forgotten = list(_REGISTRY.values())
        _REGISTRY.clear()
    return forgotten
