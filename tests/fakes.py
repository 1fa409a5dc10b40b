"""Test doubles for unit tests of the token core (the only place mocks are allowed)."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from typing import Any

from azure.core.credentials import AccessTokenInfo
from azure.core.exceptions import ClientAuthenticationError


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeCredential:
    """A sync credential issuing numbered tokens that live ``lifetime`` seconds on ``clock``.

    Set ``error`` to make calls fail, ``delay`` to make them slow (real sleep), ``gate`` to
    hold them until the event is set, ``refresh_in`` to return a ``refresh_on`` hint, and
    ``repeat`` to hand back the previous token (as caching credentials do).
    """

    def __init__(self, clock: Any = time.time, lifetime: float = 3600.0) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.calls = 0
        self.error: Exception | None = None
        self.delay = 0.0
        self.gate: threading.Event | None = None
        self.refresh_in: float | None = None
        self.repeat = False
        self._serial = itertools.count(1)
        self._last: AccessTokenInfo | None = None
        self._lock = threading.Lock()

    def _issue(self) -> AccessTokenInfo:
        with self._lock:
            self.calls += 1
        if self.gate is not None:
            self.gate.wait(10)
        if self.delay:
            time.sleep(self.delay)
        if self.error is not None:
            raise self.error
        if self.repeat and self._last is not None:
            return self._last
        now = self.clock()
        refresh_on = int(now + self.refresh_in) if self.refresh_in is not None else None
        # Float expiry keeps fake-clock arithmetic exact (real credentials give ints).
        expires_on: Any = now + self.lifetime
        self._last = AccessTokenInfo(f"tok-{next(self._serial)}", expires_on, refresh_on=refresh_on)
        return self._last

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return self._issue()

    def close(self) -> None:
        pass


class FakeAsyncCredential(FakeCredential):
    """The aio twin: ``get_token_info`` is a coroutine; ``delay`` sleeps without blocking."""

    def __init__(self, clock: Any = time.time, lifetime: float = 3600.0) -> None:
        super().__init__(clock, lifetime)
        self.loops: list[asyncio.AbstractEventLoop] = []

    async def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:  # type: ignore[override]
        self.loops.append(asyncio.get_running_loop())
        if self.delay:
            await asyncio.sleep(self.delay)
            delay, self.delay = self.delay, 0.0
            try:
                return self._issue()
            finally:
                self.delay = delay
        return self._issue()


def auth_error(message: str = "Please run 'az login' to set up an account") -> Exception:
    """An error shaped like azure-identity's."""
    return ClientAuthenticationError(message)


def requests_transport(handler: Any) -> Any:
    """A ``requests`` transport adapter answering ``handler(prepared_request) -> status``.

    Mount it on a ``requests.Session`` to exercise auth hooks without a server; responses
    have an empty body and carry ``connection`` as real ones do (auth handlers resend
    through it).
    """
    import requests
    from requests.adapters import BaseAdapter

    class Transport(BaseAdapter):
        def send(self, request: Any, **kwargs: Any) -> Any:
            response = requests.Response()
            response.status_code = handler(request)
            response._content = b""
            response.request = request
            response.url = request.url
            response.connection = self  # type: ignore[attr-defined]
            return response

        def close(self) -> None:
            pass

    return Transport()
