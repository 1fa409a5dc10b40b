"""A token string that is always fresh, for code that accepts nothing but a token.

Raw HTTP code, websocket clients and subprocess tools often take a bearer token as a plain
string. An Entra ID token lives about an hour, so a string handed over once fails silently
later. :class:`RefreshingToken` is bound to the shared
:class:`~adapters.TokenProvider` instead: every read gives a token that is valid now, from
the same cache the other adapters use, so nothing fetches its own token or goes stale::

    from adapters.rawtoken import refreshing_token

    token = refreshing_token()
    httpx.Client(auth=token.httpx_auth())          # a fresh token on every request
    requests.get(url, auth=token.requests_auth())
    client = token.rebuild(lambda t: SomeClient(token=t))   # rebuilt once per rotation
    with token.export_env("MY_TOOL_TOKEN", environ=child_env):
        ...                                        # the variable stays valid

Importing this module imports neither httpx nor requests: each is imported by the method
that needs it.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Generator, MutableMapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from adapters._provider import TokenProvider, get_provider
from adapters._tokens import TokenSnapshot
from adapters.errors import KeylessError, MissingExtraError

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    import httpx
    import requests
    from typing_extensions import Self

    from adapters.settings import Settings

__all__ = [
    "BackgroundRefresher",
    "RebuildingClient",
    "RefreshingToken",
    "refreshing_token",
]

logger = logging.getLogger("adapters")

T = TypeVar("T")

# How often a background refresher re-checks while a refresh is due but not yet landed
# (it is woken at once when the new token arrives), and after a failed refresh.
_MIN_POLL = 0.05
_MAX_POLL = 1.0
_RETRY_AFTER_FAILURE = 1.0


def refreshing_token(
    *,
    settings: Settings | None = None,
    credential: Any | None = None,
    async_credential: Any | None = None,
    **overrides: Any,
) -> RefreshingToken:
    """Returns an always-fresh token bound to the shared provider for the settings' scope.

    Args:
        settings: Resolved :class:`adapters.settings.Settings`; read from the environment
            (with ``overrides``) when omitted.
        credential: A credential to use instead of the environment's choice (sync or aio).
        async_credential: The ``azure.identity.aio`` twin of ``credential``, if you have one.
        **overrides: Settings keywords, such as ``scope=`` or ``client_id=``.

    Returns:
        A :class:`RefreshingToken` sharing its cache with every adapter built from the same
        scope and identity.

    Raises:
        ConfigurationError: A setting or the environment is wrong; the message says how.
    """
    provider = get_provider(
        settings, credential=credential, async_credential=async_credential, **overrides
    )
    return RefreshingToken(provider)


class RefreshingToken:
    """A bearer token that reads as a valid string whenever it is read.

    Every read goes through the shared :class:`~adapters.TokenProvider`, which caches the
    token and refreshes it ahead of expiry (one credential call per refresh, whatever the
    number of threads). Nothing here caches a token string of its own.

    Args:
        provider: The token provider to read from; :func:`refreshing_token` passes the
            shared one.
        clock: Returns the current epoch time in seconds, on the provider's clock (used by
            background refreshers to decide when to wake up). Defaults to the provider's.
    """

    def __init__(
        self, provider: TokenProvider, *, clock: Callable[[], float] | None = None
    ) -> None:
        self._provider = provider
        # The snapshot thresholds are on the provider's clock, so compare them with it.
        self._clock: Callable[[], float] = clock or provider.clock

    def __repr__(self) -> str:
        return (
            f"RefreshingToken(scope={self._provider.scope!r}, "
            f"credential={self._provider.credential_name})"
        )

    def __str__(self) -> str:
        """The current token, for code that formats the token late (``f"Bearer {token}"``)."""
        return self.get()

    # -- reading -------------------------------------------------------------------------

    @property
    def provider(self) -> TokenProvider:
        """The provider this token reads from."""
        return self._provider

    @property
    def scope(self) -> str:
        """The scope the token is for."""
        return self._provider.scope

    @property
    def expires_on(self) -> float:
        """Expiry of the current token, epoch seconds (refreshing first if it must)."""
        return self.snapshot().expires_on

    def get(self, min_lifetime: float = 0.0) -> str:
        """Returns the current token, valid for at least ``min_lifetime`` more seconds.

        Args:
            min_lifetime: Seconds the token must stay valid; a token with less left is
                refreshed first, never handed out.

        Returns:
            The bearer token, without the ``Bearer`` prefix.

        Raises:
            TokenRefreshError: No token valid that long could be obtained.
        """
        return self.snapshot(min_lifetime).token

    async def aget(self, min_lifetime: float = 0.0) -> str:
        """Async twin of :meth:`get`; never blocks the event loop."""
        return (await self.asnapshot(min_lifetime)).token

    def snapshot(self, min_lifetime: float = 0.0) -> TokenSnapshot:
        """Returns the current token with its expiry and refresh thresholds, as one value.

        Args:
            min_lifetime: Seconds the token must stay valid.

        Raises:
            TokenRefreshError: No token valid that long could be obtained.
        """
        return self._provider.snapshot(min_lifetime)

    async def asnapshot(self, min_lifetime: float = 0.0) -> TokenSnapshot:
        """Async twin of :meth:`snapshot`."""
        return await self._provider.asnapshot(min_lifetime)

    def headers(self, min_lifetime: float = 0.0) -> dict[str, str]:
        """Returns ``{"Authorization": "Bearer <token>"}`` with the current token.

        Args:
            min_lifetime: Seconds the token must stay valid.
        """
        return {"Authorization": f"Bearer {self.get(min_lifetime)}"}

    async def aheaders(self, min_lifetime: float = 0.0) -> dict[str, str]:
        """Async twin of :meth:`headers`."""
        return {"Authorization": f"Bearer {await self.aget(min_lifetime)}"}

    def on_refresh(self, callback: Callable[[TokenSnapshot], None]) -> Callable[[], None]:
        """Calls ``callback(snapshot)`` each time the shared provider gets a new token.

        The callback runs on the thread that completed the refresh; keep it short. Refreshes
        happen when something reads the token (or a :meth:`keep_fresh` /
        :meth:`export_env` refresher is running), not on a timer of their own.

        Args:
            callback: Receives the new :class:`~adapters.TokenSnapshot`
                (``snapshot.token``, ``snapshot.expires_on``).

        Returns:
            A function that unsubscribes the callback.
        """
        return self._provider.on_refresh(callback)

    # -- HTTP clients --------------------------------------------------------------------

    def httpx_auth(self, *, min_lifetime: float = 0.0, retry_on_401: bool = True) -> httpx.Auth:
        """Returns an ``httpx.Auth`` that puts a fresh token on every request.

        Works with ``httpx.Client`` and ``httpx.AsyncClient``; the async flow awaits the
        async face, so it never blocks the event loop.

        Args:
            min_lifetime: Seconds each token must stay valid when sent.
            retry_on_401: On a 401, resend once if the provider holds a different token by
                then (the token expired in flight). No credential call is forced, so a 401
                for a missing role costs nothing extra; a streamed body is never resent.

        Raises:
            MissingExtraError: httpx is not installed.
        """
        return _httpx_auth_class()(self, min_lifetime=min_lifetime, retry_on_401=retry_on_401)

    def requests_auth(
        self, *, min_lifetime: float = 0.0, retry_on_401: bool = True
    ) -> requests.auth.AuthBase:
        """Returns a ``requests`` auth that puts a fresh token on every request.

        Args:
            min_lifetime: Seconds each token must stay valid when sent.
            retry_on_401: As for :meth:`httpx_auth`; only bodies held in memory are resent.

        Raises:
            MissingExtraError: requests is not installed
                (``pip install "keyless-adapters[requests]"``).
        """
        return _requests_auth_class()(self, min_lifetime=min_lifetime, retry_on_401=retry_on_401)

    # -- token-only clients --------------------------------------------------------------

    def rebuild(
        self, make: Callable[[str], T], *, min_lifetime: float = 0.0
    ) -> RebuildingClient[T]:
        """Wraps a client that takes a token only when built, rebuilding it on rotation.

        Args:
            make: Builds the client from a token string, for example
                ``lambda t: openai.AzureOpenAI(azure_ad_token=t, ...)``.
            min_lifetime: Seconds the token must stay valid when a client is handed out.

        Returns:
            A :class:`RebuildingClient` that forwards attribute access and calls to a client
            built with a valid token; ``make`` runs once per token rotation.
        """
        return RebuildingClient(self, make, min_lifetime=min_lifetime)

    # -- background refresh --------------------------------------------------------------

    def keep_fresh(
        self,
        callback: Callable[[TokenSnapshot], None] | None = None,
        *,
        min_lifetime: float = 0.0,
    ) -> BackgroundRefresher:
        """Starts a daemon thread that refreshes the token ahead of expiry.

        Useful when nothing else reads the token often enough to drive refreshes, for
        example to reconnect a websocket from an :meth:`on_refresh` callback.

        Args:
            callback: Called with each new snapshot (and the current one at start).
            min_lifetime: Seconds the token must stay valid.

        Returns:
            The started refresher; call :meth:`BackgroundRefresher.stop` or use it as a
            context manager.

        Raises:
            TokenRefreshError: The first token could not be obtained (no thread is left).
        """
        refresher = BackgroundRefresher(self, callback=callback, min_lifetime=min_lifetime)
        return refresher.start()

    def export_env(
        self,
        name: str,
        *,
        environ: MutableMapping[str, str] | None = None,
        min_lifetime: float = 0.0,
    ) -> BackgroundRefresher:
        """Keeps the environment variable ``name`` holding a valid token, until stopped.

        The variable is set before this returns, then replaced by a daemon thread whenever
        the provider gets a new token. :meth:`BackgroundRefresher.stop` (or leaving the
        ``with`` block) ends the thread and restores the variable's previous value, or
        removes it.

        Prefer passing ``environ=`` a copy of ``os.environ`` meant for a subprocess: setting
        ``AZURE_OPENAI_AD_TOKEN`` in this process makes every ``openai.AzureOpenAI`` built
        afterwards use that static token instead of its token provider.

        Args:
            name: The variable, for example ``"AZURE_OPENAI_AD_TOKEN"``.
            environ: The mapping to write to; ``os.environ`` when omitted.
            min_lifetime: Seconds the exported token must stay valid when written.

        Returns:
            The started refresher.

        Raises:
            TokenRefreshError: The first token could not be obtained (nothing is left set).
        """
        refresher = BackgroundRefresher(
            self,
            variable=name,
            environ=os.environ if environ is None else environ,
            min_lifetime=min_lifetime,
        )
        return refresher.start()


# -- httpx -----------------------------------------------------------------------------


@functools.cache
def _httpx_auth_class() -> Callable[..., httpx.Auth]:
    """Builds the ``httpx.Auth`` subclass on first use, so httpx is imported only then."""
    try:
        import httpx
    except ImportError as exc:
        raise MissingExtraError(
            f"RefreshingToken.httpx_auth() needs httpx: pip install httpx ({exc})"
        ) from exc

    class RefreshingTokenAuth(httpx.Auth):
        """Sets ``Authorization: Bearer <fresh token>`` on every request."""

        def __init__(
            self, token: RefreshingToken, *, min_lifetime: float, retry_on_401: bool
        ) -> None:
            self._token = token
            self._min_lifetime = min_lifetime
            self._retry_on_401 = retry_on_401

        def __repr__(self) -> str:
            return f"RefreshingTokenAuth({self._token!r})"

        def _may_resend(self, request: httpx.Request, response: httpx.Response) -> bool:
            if response.status_code != 401 or not self._retry_on_401:
                return False
            try:
                request.content  # noqa: B018 - raises if the body is a stream
            except httpx.RequestNotRead:
                return False
            return True

        def auth_flow(
            self, request: httpx.Request
        ) -> Generator[httpx.Request, httpx.Response, None]:
            return self.sync_auth_flow(request)

        def sync_auth_flow(
            self, request: httpx.Request
        ) -> Generator[httpx.Request, httpx.Response, None]:
            sent = self._token.get(self._min_lifetime)
            request.headers["Authorization"] = f"Bearer {sent}"
            response = yield request
            if self._may_resend(request, response):
                fresh = self._token.get(self._min_lifetime)
                if fresh != sent:
                    request.headers["Authorization"] = f"Bearer {fresh}"
                    yield request

        async def async_auth_flow(
            self, request: httpx.Request
        ) -> AsyncGenerator[httpx.Request, httpx.Response]:
            sent = await self._token.aget(self._min_lifetime)
            request.headers["Authorization"] = f"Bearer {sent}"
            response = yield request
            if self._may_resend(request, response):
                fresh = await self._token.aget(self._min_lifetime)
                if fresh != sent:
                    request.headers["Authorization"] = f"Bearer {fresh}"
                    yield request

    return RefreshingTokenAuth


# -- requests --------------------------------------------------------------------------


@functools.cache
def _requests_auth_class() -> Callable[..., requests.auth.AuthBase]:
    """Builds the ``requests`` auth class on first use, so requests is imported only then."""
    try:
        from requests.auth import AuthBase
        from requests.cookies import extract_cookies_to_jar
    except ImportError as exc:
        raise MissingExtraError(
            "RefreshingToken.requests_auth() needs requests: "
            f'pip install "keyless-adapters[requests]" ({exc})'
        ) from exc

    class RefreshingTokenRequestsAuth(AuthBase):
        """Sets ``Authorization: Bearer <fresh token>`` on every request."""

        def __init__(
            self, token: RefreshingToken, *, min_lifetime: float, retry_on_401: bool
        ) -> None:
            self._token = token
            self._min_lifetime = min_lifetime
            self._retry_on_401 = retry_on_401

        def __repr__(self) -> str:
            return f"RefreshingTokenRequestsAuth({self._token!r})"

        def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
            r.headers["Authorization"] = f"Bearer {self._token.get(self._min_lifetime)}"
            # Only bodies held in memory can be sent twice.
            if self._retry_on_401 and (r.body is None or isinstance(r.body, (bytes, str))):
                r.register_hook("response", self._handle_401)
            return r

        def _handle_401(self, response: requests.Response, **kwargs: Any) -> requests.Response:
            request = response.request
            if response.status_code != 401 or getattr(request, "_adapters_resent", False):
                return response
            sent = request.headers.get("Authorization")
            fresh = f"Bearer {self._token.get(self._min_lifetime)}"
            if fresh == sent:
                return response
            # Release the connection so the resend can reuse it (as requests' digest auth).
            response.content  # noqa: B018
            response.close()
            resend = request.copy()
            resend.headers["Authorization"] = fresh
            resend._adapters_resent = True  # type: ignore[attr-defined]
            if resend._cookies is not None:
                extract_cookies_to_jar(resend._cookies, request, response.raw)
                resend.prepare_cookies(resend._cookies)
            second: requests.Response = response.connection.send(resend, **kwargs)
            second.history.append(response)
            second.request = resend
            return second

    return RefreshingTokenRequestsAuth


# -- rebuild on rotation ---------------------------------------------------------------


class RebuildingClient(Generic[T]):
    """A token-only client, rebuilt once each time the shared token rotates.

    Attribute access and calls are forwarded to the client built with the current token
    (``wrapper.chat.completions.create(...)``). When the token rotates, the first caller
    builds the new client while the others wait for it: ``make`` runs exactly once per
    rotation, whatever the number of threads. The old client is dropped, not closed, since
    other threads may still be using it.

    Two names belong to the wrapper itself: :meth:`current` and :meth:`acurrent`, plus the
    :attr:`builds` counter.

    Args:
        token: The token to build from.
        make: Builds a client from a token string.
        min_lifetime: Seconds the token must stay valid when a client is handed out.
    """

    __slots__ = ("_builds", "_lock", "_make", "_min_lifetime", "_state", "_token")

    def __init__(
        self, token: RefreshingToken, make: Callable[[str], T], *, min_lifetime: float = 0.0
    ) -> None:
        self._token = token
        self._make = make
        self._min_lifetime = min_lifetime
        self._lock = threading.Lock()
        self._state: tuple[TokenSnapshot, T] | None = None
        self._builds = 0

    def __repr__(self) -> str:
        return f"RebuildingClient({self._make!r}, builds={self._builds})"

    @property
    def builds(self) -> int:
        """How many times ``make`` has been called."""
        return self._builds

    def current(self) -> T:
        """Returns the client built with a valid token, building it first if needed."""
        return self._client_for(self._token.snapshot(self._min_lifetime))

    async def acurrent(self) -> T:
        """Async twin of :meth:`current`: waits for a refresh without blocking the loop.

        ``make`` itself runs on the calling thread, so it should be quick (constructors of
        HTTP clients are).
        """
        return self._client_for(await self._token.asnapshot(self._min_lifetime))

    def _client_for(self, snapshot: TokenSnapshot) -> T:
        state = self._state
        if state is not None and not _newer(snapshot, state[0]):
            return state[1]
        with self._lock:
            # Checked again: another thread may have built it while we waited.
            state = self._state
            if state is not None and not _newer(snapshot, state[0]):
                return state[1]
            client = self._make(snapshot.token)
            self._state = (snapshot, client)
            self._builds += 1
            return client

    def __getattr__(self, name: str) -> Any:
        if name in RebuildingClient.__slots__ or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.current(), name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        client: Any = self.current()
        return client(*args, **kwargs)


def _newer(candidate: TokenSnapshot, built: TokenSnapshot) -> bool:
    # The provider only ever moves to a token that expires later, so a later expiry is a
    # rotation, and a caller holding an older snapshot keeps the newer client.
    return candidate.expires_on > built.expires_on


# -- background refresher --------------------------------------------------------------


class BackgroundRefresher:
    """A daemon thread that keeps a token fresh, and optionally an environment variable.

    It sleeps until the current token's refresh threshold (``snapshot.refresh_at``), asks
    the provider for the token (which refreshes it), and is woken as soon as a new token
    lands. :meth:`stop` returns within about a second and leaves no thread running.

    Build it with :meth:`RefreshingToken.export_env` or :meth:`RefreshingToken.keep_fresh`.

    Args:
        token: The token to keep fresh.
        callback: Called with each new snapshot, and with the current one at start.
        variable: An environment variable to keep holding the token.
        environ: The mapping ``variable`` lives in (``os.environ`` by default).
        min_lifetime: Seconds the token must stay valid when published.
    """

    def __init__(
        self,
        token: RefreshingToken,
        *,
        callback: Callable[[TokenSnapshot], None] | None = None,
        variable: str | None = None,
        environ: MutableMapping[str, str] | None = None,
        min_lifetime: float = 0.0,
    ) -> None:
        self._token = token
        self._callback = callback
        self._variable = variable
        self._environ: MutableMapping[str, str] = os.environ if environ is None else environ
        self._min_lifetime = min_lifetime
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._published: TokenSnapshot | None = None
        self._previous: str | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._thread: threading.Thread | None = None
        self._started = False

    def __repr__(self) -> str:
        target = f"variable={self._variable!r}, " if self._variable else ""
        return f"BackgroundRefresher({target}running={self.running})"

    @property
    def running(self) -> bool:
        """Whether the refresh thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    @property
    def variable(self) -> str | None:
        """The environment variable kept fresh, if any."""
        return self._variable

    def start(self) -> Self:
        """Publishes the current token, then starts the thread (only once).

        Returns:
            This refresher.

        Raises:
            TokenRefreshError: The first token could not be obtained.
            RuntimeError: It was started before.
        """
        with self._lock:
            if self._started:
                raise RuntimeError("this BackgroundRefresher was already started")
            self._started = True
        if self._variable is not None:
            self._previous = self._environ.get(self._variable)
        # Subscribed first, so a rotation right after the first read is not missed.
        self._unsubscribe = self._token.on_refresh(self._on_refresh)
        try:
            self._publish(self._token.snapshot(self._min_lifetime))
        except BaseException:
            self.stop()
            raise
        name = f"adapters-rawtoken-{self._variable or 'refresher'}"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 1.0) -> None:
        """Stops the thread and restores the variable's previous value (or removes it).

        Safe to call more than once.

        Args:
            timeout: Seconds to wait for the thread; it only overruns this while a
                credential call it started is still running, and then exits right after.
        """
        with self._lock:
            self._stopping = True
            unsubscribe, self._unsubscribe = self._unsubscribe, None
            if self._variable is not None and self._published is not None:
                if self._previous is None:
                    self._environ.pop(self._variable, None)
                else:
                    self._environ[self._variable] = self._previous
                self._published = None
        self._wake.set()
        if unsubscribe is not None:
            unsubscribe()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                logger.warning(
                    "%s is still waiting for a token refresh; it exits when that returns", self
                )

    def __enter__(self) -> Self:
        if not self._started:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _on_refresh(self, snapshot: TokenSnapshot) -> None:
        self._publish(snapshot)
        self._wake.set()

    def _publish(self, snapshot: TokenSnapshot) -> None:
        with self._lock:
            if self._stopping:
                return
            published = self._published
            if published is not None and not _newer(snapshot, published):
                return
            self._published = snapshot
            if self._variable is not None:
                self._environ[self._variable] = snapshot.token
        if self._callback is not None:
            try:
                self._callback(snapshot)
            except Exception:
                logger.exception("%r callback failed", self)

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._stopping:
                    return
            delay = self._tick()
            self._wake.wait(delay)
            self._wake.clear()

    def _tick(self) -> float:
        """Reads (and so refreshes) the token; returns the seconds to sleep."""
        try:
            snapshot = self._token.snapshot(self._min_lifetime)
        except Exception as exc:
            # Our errors explain themselves and carry no token; others might carry one.
            why = str(exc) if isinstance(exc, KeylessError) else type(exc).__name__
            logger.warning(
                "%r could not refresh the token (%s); retrying in %.0f s",
                self,
                why,
                _RETRY_AFTER_FAILURE,
            )
            return _RETRY_AFTER_FAILURE
        self._publish(snapshot)
        return _sleep_for(snapshot, self._token._clock(), self._min_lifetime)


def _sleep_for(snapshot: TokenSnapshot, now: float, min_lifetime: float = 0.0) -> float:
    """Seconds a background refresher sleeps, given the token it just saw.

    Until the refresh threshold it sleeps right up to it. Past it, a refresh is running in
    the background (or backing off after a failure) and the refresher is woken the moment
    a new token lands, so it only re-checks now and then, and never later than the point
    where the token stops being good enough.
    """
    refresh_at = min(snapshot.refresh_at, snapshot.expires_on - min_lifetime)
    if now < refresh_at:
        return refresh_at - now
    deadline = min(snapshot.must_refresh_at, snapshot.expires_on - min_lifetime)
    return min(max(deadline - now, _MIN_POLL), _MAX_POLL)
