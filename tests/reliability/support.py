"""Helpers for the reliability suite: issuer-backed credentials and a mixed-load driver.

Nothing here is a mock of the code under test: credentials mint real JWTs with the shared
``TokenIssuer`` (which the Azure OpenAI emulator verifies), and the load goes through the
real SDKs and the loopback emulators.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo

from adapters.testing import TokenIssuer

API_VERSION = "2024-10-21"
CHAT = "chat"
EMBEDDING = "embedding"
MESSAGES = [{"role": "user", "content": "hello"}]
SCOPE = "https://cognitiveservices.azure.com/.default"
PATIENCE = 60.0
"""Seconds a driver waits for a condition before failing: a guard against hangs only."""


class IssuerCredential:
    """A sync token credential whose tokens are minted by a ``TokenIssuer``.

    ``expires_on`` is the JWT's own ``exp`` (fractional for sub-second lifetimes), which the
    managed-identity emulator and the fake CLIs cannot express: they print integral epoch
    seconds, as the real endpoints do.

    Args:
        issuer: Signs the tokens; give the Azure OpenAI emulator the same one.
        lifetime: Seconds each token lives.
        clock: The issue time; ``time.time`` unless the test moves time itself.

    Attributes:
        calls: Credential calls made.
        max_concurrent: The most calls in progress at once (1 means single flight held).
        tokens: Every token handed out, for the secrets checks.
        error: When set, calls raise it (an outage).
        gate: When set, calls wait for it before answering (a refresh held in flight; the
            token is minted when the call starts, so it ages while held).
        entered: Set when a call has started.
    """

    def __init__(
        self,
        issuer: TokenIssuer,
        lifetime: float,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.lifetime = lifetime
        self.clock = clock
        self.calls = 0
        self.max_concurrent = 0
        self.tokens: list[str] = []
        self.error: Exception | None = None
        self.gate: threading.Event | None = None
        self.entered = threading.Event()
        self._active = 0
        self._lock = threading.Lock()

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        with self._lock:
            self.calls += 1
            self._active += 1
            self.max_concurrent = max(self.max_concurrent, self._active)
        # Minted when asked, as a server does; a held call delivers it later, like an answer
        # still on the wire.
        issued_at = self.clock()
        self.entered.set()
        try:
            if self.gate is not None:
                self.gate.wait(PATIENCE)
            if self.error is not None:
                raise self.error
            minted = self.issuer.issue(lifetime=self.lifetime, now=issued_at)
            with self._lock:
                self.tokens.append(minted.token)
            return AccessTokenInfo(minted.token, minted.expires_on)  # type: ignore[arg-type]
        finally:
            with self._lock:
                self._active -= 1

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        info = self.get_token_info(*scopes)
        return AccessToken(info.token, info.expires_on)

    def close(self) -> None:
        pass


class MixedLoad:
    """Threads and coroutines calling SDK operations round-robin until told to stop.

    Args:
        sync_calls: Operations run by the threads (each thread starts at its own offset).
        async_calls: Coroutine functions run by the coroutines of one event loop, in a
            thread of its own.
        threads: How many threads.
        coroutines: How many coroutines.
        async_setup: Builds the async operations inside the loop (for clients that must
            be created there); its result is appended to ``async_calls``.
        async_teardown: Runs in the loop after the coroutines stop (to close async
            clients on the loop that used them).

    Attributes:
        completed: Operations that succeeded.
        failures: ``"<type>: <message>"`` of every operation that raised.
    """

    def __init__(
        self,
        sync_calls: Sequence[Callable[[], Any]],
        async_calls: Sequence[Callable[[], Awaitable[Any]]] = (),
        *,
        threads: int = 4,
        coroutines: int = 4,
        async_setup: Callable[[], Awaitable[Sequence[Callable[[], Awaitable[Any]]]]] | None = None,
        async_teardown: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.sync_calls = list(sync_calls)
        self.async_calls = list(async_calls)
        self.async_setup = async_setup
        self.async_teardown = async_teardown
        self.threads = threads if self.sync_calls else 0
        self.coroutines = coroutines if (self.async_calls or async_setup) else 0
        self.completed = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []

    def _record(self, error: BaseException | None) -> None:
        with self._lock:
            if error is None:
                self.completed += 1
            else:
                self.failures.append(f"{type(error).__name__}: {error}"[:300])

    def _thread(self, offset: int) -> None:
        index = offset
        while not self._stop.is_set():
            call = self.sync_calls[index % len(self.sync_calls)]
            index += 1
            try:
                call()
            except Exception as exc:
                self._record(exc)
            else:
                self._record(None)

    async def _coroutines(self) -> None:
        calls = list(self.async_calls)
        if self.async_setup is not None:
            calls += await self.async_setup()

        async def worker(offset: int) -> None:
            index = offset
            while not self._stop.is_set():
                call = calls[index % len(calls)]
                index += 1
                try:
                    await call()
                except Exception as exc:
                    self._record(exc)
                else:
                    self._record(None)

        try:
            await asyncio.gather(*(worker(i) for i in range(self.coroutines)))
        finally:
            if self.async_teardown is not None:
                await self.async_teardown()

    def start(self) -> None:
        """Start the threads and the event loop's thread."""
        for offset in range(self.threads):
            self._workers.append(threading.Thread(target=self._thread, args=(offset,)))
        if self.coroutines:
            self._workers.append(threading.Thread(target=lambda: asyncio.run(self._coroutines())))
        for worker in self._workers:
            worker.start()

    def run_until(self, condition: Callable[[], bool]) -> bool:
        """Run until ``condition()`` holds (checked every 10 ms) or PATIENCE runs out.

        Returns:
            Whether the condition was reached; the load is stopped either way.
        """
        self.start()
        deadline = time.monotonic() + PATIENCE
        try:
            while not condition():
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.01)
            return True
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop and join every worker."""
        self._stop.set()
        for worker in self._workers:
            worker.join(PATIENCE)


def wait_for(condition: Callable[[], bool], what: str, *, interval: float = 0.005) -> None:
    """Wait until ``condition()`` holds; fail with ``what`` after PATIENCE seconds."""
    deadline = time.monotonic() + PATIENCE
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(interval)


def wait_until_waiting(thread: threading.Thread) -> None:
    """Wait until ``thread`` is blocked on a ``concurrent.futures.Future`` (a refresh flight).

    Reads the thread's stack instead of sleeping, so a test knows the caller has joined the
    flight before it lets the flight finish.
    """

    def blocked() -> bool:
        frame = sys._current_frames().get(thread.ident or -1)
        while frame is not None:
            code = frame.f_code
            if code.co_name == "result" and code.co_filename.endswith(
                os.path.join("concurrent", "futures", "_base.py")
            ):
                return True
            frame = frame.f_back
        return False

    wait_for(blocked, f"{thread.name} to wait for the refresh")


def chat_url(endpoint: str) -> str:
    """The deployment-scoped chat completions URL of the emulator."""
    return f"{endpoint}/openai/deployments/{CHAT}/chat/completions?api-version={API_VERSION}"


class ShiftedClock:
    """Real time plus an offset the test moves: the provider's view jumps, the world's runs.

    Attributes:
        offset: Seconds added to ``time.time()``.
    """

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Jump forward (a laptop resuming, or a test skipping ahead)."""
        self.offset += seconds


class AsyncIssuerCredential:
    """An ``azure.identity.aio``-style credential answering through a sync twin's tokens.

    Calls are counted by the twin as well (``twin.calls``, ``twin.max_concurrent``), so a
    test sees every fetch, native or not, in one place.

    Attributes:
        calls: Native (awaited) calls.
        loops: The event loop of every native call, in order.
    """

    def __init__(self, twin: IssuerCredential) -> None:
        self.twin = twin
        self.calls = 0
        self.loops: list[asyncio.AbstractEventLoop] = []

    async def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        self.calls += 1
        self.loops.append(asyncio.get_running_loop())
        return await asyncio.to_thread(self.twin.get_token_info, *scopes)

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        info = await self.get_token_info(*scopes)
        return AccessToken(info.token, info.expires_on)

    async def close(self) -> None:
        pass
