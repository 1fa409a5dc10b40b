"""Run an ASGI app with uvicorn in a background thread on a loopback port.

The server binds its own socket (port 0 picks a free one), so the port is known before the
thread starts and survives a stop: `stop()` then `start()` listens on the same port again,
which is how the emulators fake "connection refused" outages.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from types import TracebackType
from typing import TYPE_CHECKING

from adapters.testing import missing_extra

try:
    import uvicorn
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_extra(exc) from exc

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import ASGIApp
    from typing_extensions import Self

__all__ = [
    "LoopbackServer",
]

_START_TIMEOUT = 10.0


class LoopbackServer:
    """An ASGI app served by uvicorn on 127.0.0.1 from a daemon thread.

    No signal handlers are installed and uvicorn's logging configuration is left alone.
    Lifespan events are off.

    Args:
        app: The ASGI application.
        host: The interface to bind (an IPv4 or IPv6 literal); loopback by default.
        port: The port; 0 picks a free one on the first start (read it back from `port`).
        name: A label for the thread, for debugging.
        graceful_timeout: Seconds `stop()` waits for in-flight requests before cutting
            their connections.

    Example:
        >>> with LoopbackServer(app) as server:  # doctest: +SKIP
        ...     httpx.get(server.url + "/")
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "loopback",
        graceful_timeout: float = 0.5,
    ) -> None:
        self.app = app
        self.host = host
        self._port = port
        self.name = name
        self.graceful_timeout = graceful_timeout
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._stopping: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"LoopbackServer(name={self.name!r}, url={self.url!r}, {state})"

    @property
    def port(self) -> int:
        """The bound port (0 until the first start when constructed with port 0)."""
        return self._port

    @property
    def url(self) -> str:
        """`http://HOST:PORT`, without a trailing slash."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    @property
    def running(self) -> bool:
        """Whether the server is currently listening."""
        thread = self._thread
        return thread is not None and thread.is_alive() and self._started.is_set()

    def start(self) -> Self:
        """Bind the port and serve; returns once connections are accepted.

        Returns:
            The server itself, so `server = LoopbackServer(app).start()` reads well.

        Raises:
            RuntimeError: The server is already running or failed to start.
            OSError: The port could not be bound (for a restart: someone else took it).
        """
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise RuntimeError(f"{self!r} is already running")
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only
            # when the listening socket says it is TCP (protocol 0 costs ~40 ms a response).
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            try:
                # Lets a restart bind the same port while old connections sit in TIME_WAIT.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((self.host, self._port))
                sock.listen(128)
            except BaseException:
                sock.close()
                raise
            self._port = sock.getsockname()[1]
            self._started.clear()
            self._error = None
            thread = threading.Thread(
                target=self._run, args=(sock,), name=f"{self.name}-{self._port}", daemon=True
            )
            self._thread = thread
            thread.start()
            if not self._started.wait(_START_TIMEOUT) or self._error is not None:
                error = self._error
                self._stop_thread(thread)
                raise RuntimeError(f"{self.name} server failed to start") from error
        return self

    def stop(self) -> None:
        """Stop listening and close connections; idempotent.

        In-flight requests get `graceful_timeout` seconds to finish (handlers sleeping in
        `sleep()` wake up at once); then their connections are aborted.
        """
        with self._lock:
            thread = self._thread
            if thread is None:
                return
            self._stop_thread(thread)
            self._thread = None

    def _stop_thread(self, thread: threading.Thread) -> None:
        loop, stop_event = self._loop, self._stop_event
        if loop is not None and stop_event is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(stop_event.set)
        thread.join(self.graceful_timeout + 5.0)
        self._started.clear()

    async def sleep(self, seconds: float, request: Request | None = None) -> bool:
        """Sleep inside a request handler, waking early when the server stops.

        Args:
            seconds: How long to sleep.
            request: When given, also wake early if its client disconnects (a client
                timeout). Read the request body first: checking consumes pending messages.

        Returns:
            True when cut short (server stopping, client gone), False when the full
            time elapsed.
        """
        if seconds <= 0:
            return False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (remaining := deadline - loop.time()) > 0:
            step = remaining if request is None else min(remaining, 0.02)
            stopping = self._stopping
            if stopping is None:
                await asyncio.sleep(step)
            else:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stopping.wait(), timeout=step)
                if stopping.is_set():
                    return True
            if request is not None and await request.is_disconnected():
                return True
        return False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self, sock: socket.socket) -> None:
        try:
            asyncio.run(self._serve(sock))
        except BaseException as error:  # reported to start(); a daemon thread must not raise
            self._error = error
            self._started.set()
        finally:
            sock.close()
            self._loop = None
            self._stop_event = None
            self._stopping = None

    async def _serve(self, sock: socket.socket) -> None:
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self._port,
            log_config=None,
            access_log=False,
            lifespan="off",
            ws="none",
            http="h11",
            proxy_headers=False,
            server_header=False,
        )
        config.load()
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        self._stopping = asyncio.Event()
        await server.startup(sockets=[sock])
        await server.on_tick(0)  # sets the Date header
        self._started.set()
        while not self._stop_event.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop_event.wait(), timeout=1.0)
            await server.on_tick(0)
        await self._shutdown(server)

    async def _shutdown(self, server: uvicorn.Server) -> None:
        assert self._stopping is not None
        self._stopping.set()
        for listener in server.servers:
            listener.close()
        state = server.server_state
        for connection in list(state.connections):
            connection.shutdown()  # idle keep-alive connections close now
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.graceful_timeout
        # uvicorn offers no event for "all connections closed": poll briefly.
        while (state.connections or state.tasks) and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        for connection in list(state.connections):
            transport = getattr(connection, "transport", None)
            if isinstance(transport, asyncio.Transport):
                transport.abort()
        for task in list(state.tasks):
            task.cancel()
        for listener in server.servers:
            await listener.wait_closed()
