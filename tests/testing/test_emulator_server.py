"""The background-thread uvicorn runner behind every emulator."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.testing._server import LoopbackServer


class _App:
    """A tiny app whose `/sleep` handler reports whether its sleep was cut short."""

    def __init__(self) -> None:
        self.server: LoopbackServer | None = None
        self.cut: list[bool] = []
        self.entered = threading.Event()
        self.app = Starlette(routes=[Route("/", self.hello), Route("/sleep", self.sleep)])

    async def hello(self, request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def sleep(self, request: Request) -> Response:
        assert self.server is not None
        self.entered.set()
        self.cut.append(await self.server.sleep(30, request))
        return JSONResponse({"ok": True})


@pytest.fixture
def app() -> _App:
    """A fresh app per test."""
    return _App()


@pytest.fixture
def server(app: _App) -> Iterator[LoopbackServer]:
    """A started server on a free port."""
    server = LoopbackServer(app.app)
    app.server = server
    with server:
        yield server


def test_start_binds_a_free_port_and_serves(server: LoopbackServer) -> None:
    """Port 0 becomes a real port, and the server answers as soon as start() returns."""
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert httpx.get(server.url + "/").json() == {"ok": True}


def test_stop_refuses_connections(server: LoopbackServer) -> None:
    """After stop() the port refuses connections."""
    server.stop()
    assert not server.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/")


def test_restart_listens_on_the_same_port(server: LoopbackServer) -> None:
    """stop() then start() serves again on the same port, even with a pooled client."""
    port = server.port
    with httpx.Client() as client:
        assert client.get(server.url + "/").status_code == 200
        server.stop()
        server.start()
        assert server.port == port
        assert client.get(server.url + "/").status_code == 200


def test_stop_is_idempotent(server: LoopbackServer) -> None:
    """Stopping twice is harmless."""
    server.stop()
    server.stop()
    assert not server.running


def test_start_twice_is_an_error(server: LoopbackServer) -> None:
    """Starting a running server raises instead of binding a second socket."""
    with pytest.raises(RuntimeError, match="already running"):
        server.start()


def test_context_manager_stops_the_server(app: _App) -> None:
    """Leaving the `with` block stops the server."""
    with LoopbackServer(app.app) as server:
        assert server.running
    assert not server.running


def test_no_signal_handlers_are_installed(app: _App) -> None:
    """Running the server leaves the process's SIGINT/SIGTERM handlers alone."""
    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    with LoopbackServer(app.app):
        during = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    assert during == before


def test_stop_wakes_a_sleeping_handler(app: _App, server: LoopbackServer) -> None:
    """A handler sleeping in server.sleep() wakes up when the server stops."""
    errors: list[BaseException] = []

    def call() -> None:
        try:
            httpx.get(server.url + "/sleep", timeout=10)
        except httpx.HTTPError as error:
            errors.append(error)

    caller = threading.Thread(target=call)
    caller.start()
    assert app.entered.wait(5)
    server.stop()
    caller.join(5)
    assert app.cut == [True]


def test_client_disconnect_wakes_a_sleeping_handler(app: _App, server: LoopbackServer) -> None:
    """A client that times out ends the handler's sleep early."""
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(server.url + "/sleep", timeout=0.2)
    deadline = time.monotonic() + 5
    while not app.cut and time.monotonic() < deadline:
        time.sleep(0.01)
    assert app.cut == [True]
