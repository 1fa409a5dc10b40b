"""``adapters demo``: every adapter, through several token rotations, against local emulators.

What it shows, with the real libraries and nothing mocked:

* The real ``azure.identity.ManagedIdentityCredential`` is chosen from the environment
  (``IDENTITY_ENDPOINT`` / ``IDENTITY_HEADER`` point at the bundled App Service
  managed-identity emulator) and gets tokens that live a couple of seconds.
* The openai clients (sync, async, v1 sync and async), LangChain's chat model and
  embeddings, LlamaIndex's LLM and embedding, and the raw-token shim (an ``httpx.Auth``
  and plain ``requests`` headers) all call the bundled Azure OpenAI emulator at once,
  which validates each JWT and refuses expired tokens and ``api-key`` headers.
* ``AZURE_OPENAI_API_KEY`` is set on purpose for the whole run: no client sends it.
* One shared provider feeds every client: each token is fetched once, whatever the
  number of clients.

Frameworks load one after another in a background thread (the display says which), then
every client starts at once. Loading them while traffic flows would save nothing on two
cores and races libraries that peek into ``sys.modules`` (openai checks for ``httpx2``
that way and can find it half-imported). Each client's HTTP requests are watched through
httpx event hooks, which see the headers exactly as they go on the wire: the token each
request carried (as a fingerprint, never the token) and whether an ``api-key`` header was
present.

The run ends once every client has carried ``tokens_per_client`` distinct tokens and has
run for ``duration`` seconds, or at a deadline; the exit code is 1 if any request failed,
any ``api-key`` header was sent, or the server saw an expired token.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import logging
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from adapters._provider import TokenProvider
    from adapters.testing import AzureOpenAIEmulator, ManagedIdentityEmulator

__all__ = ["STRAY_KEY", "run"]

STRAY_KEY = "demo-key-should-never-be-sent"
"""The ``AZURE_OPENAI_API_KEY`` the demo sets, to show that no client sends it."""

CHAT = "chat"
EMBEDDING = "embedding"
_PAUSE = 0.1  # between two calls of one client: ~10 calls/s each keeps 2 cores responsive
_TIMEOUT = 5.0  # per HTTP request (the emulator answers in milliseconds)
_DEADLINE = 24.0  # seconds after start: the demo must end well within 30 s
_REFRESH = 0.25  # seconds between display updates
_PLAIN_EVERY = 1.0  # seconds between plain progress lines
_HELLO: Any = [{"role": "user", "content": "Say hello without a key."}]

# Variables that would select another credential or change what the clients send.
_CLEARED = (
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
    "AZURE_TOKEN_CREDENTIALS",
    "AZURE_OPENAI_SCOPE",
    "AZURE_OPENAI_AD_TOKEN",
    "RUNNING_ON_AZURE",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_API_VERSION",
    "OPENAI_CUSTOM_HEADERS",
)


# ---------------------------------------------------------------------------------------
# One client of the demo (a row of the table)


@dataclass
class Lane:
    """One client object and what its requests carried.

    Attributes:
        framework: ``"openai"``, ``"LangChain"``, ``"LlamaIndex"`` or ``"raw token"``.
        label: What the client is and does.
        extra: The keyless-adapters extra that installs the framework.
        status: ``waiting``, ``loading``, ``running``, ``done``, ``skipped`` or ``error``.
        note: Why it was skipped, or its first error.
        calls: Completed calls (successful or not).
        requests: HTTP requests seen on the wire.
        failures: Calls that raised.
        api_keys: Requests that carried an ``api-key`` header.
        tokens: Fingerprints of the distinct bearer tokens its requests carried.
        started: When it started running (``time.monotonic()``).
    """

    framework: str
    label: str
    extra: str
    status: str = "waiting"
    note: str = ""
    calls: int = 0
    requests: int = 0
    failures: int = 0
    api_keys: int = 0
    tokens: set[str] = field(default_factory=set)
    started: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def name(self) -> str:
        """``framework · label``."""
        return f"{self.framework} · {self.label}"

    def saw(self, headers: Mapping[str, str]) -> None:
        """Record one outgoing request from its headers (the token is only hashed)."""
        auth = headers.get("authorization") or headers.get("Authorization") or ""
        token = auth.partition(" ")[2]
        with self._lock:
            self.requests += 1
            if "api-key" in headers or "Api-Key" in headers:
                self.api_keys += 1
            if token:
                self.tokens.add(hashlib.sha256(token.encode()).hexdigest()[:16])

    def finished_call(self, error: BaseException | None) -> None:
        """Record the outcome of one call."""
        with self._lock:
            self.calls += 1
            if error is not None:
                self.failures += 1
                if not self.note:
                    text = " ".join(str(error).split())[:160]
                    self.note = f"{type(error).__name__}: {text}"

    def set_status(self, status: str, note: str = "") -> None:
        """Move to another status (``running`` starts its clock)."""
        with self._lock:
            self.status = status
            if note:
                self.note = note
            if status == "running" and self.started is None:
                self.started = time.monotonic()

    def ran_for(self, now: float) -> float:
        """Seconds since it started running (0 before)."""
        return 0.0 if self.started is None else now - self.started


# ---------------------------------------------------------------------------------------
# The environment and the emulators


@contextlib.contextmanager
def _environment(values: Mapping[str, str], cleared: tuple[str, ...]) -> Iterator[None]:
    """Set and clear variables of ``os.environ`` for the block, then restore them."""
    saved = {name: os.environ.get(name) for name in (*values, *cleared)}
    try:
        for name in cleared:
            os.environ.pop(name, None)
        os.environ.update(values)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _no_proxy_for_loopback() -> dict[str, str]:
    """``NO_PROXY`` values that keep a user's proxy settings away from 127.0.0.1."""
    result = {}
    for name in ("NO_PROXY", "no_proxy"):
        current = os.environ.get(name, "")
        result[name] = ",".join(p for p in (current, "127.0.0.1", "localhost") if p)
    return result


class _LogCapture(logging.Handler):
    """Collects the adapters' warnings so they do not tear the live display."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _captured_warnings() -> Iterator[_LogCapture]:
    capture = _LogCapture()
    loggers = [logging.getLogger(name) for name in ("adapters", "azure")]
    saved = [(logger, logger.propagate) for logger in loggers]
    quiet = not logging.getLogger().handlers  # keep a --verbose root handler informed
    for logger in loggers:
        logger.addHandler(capture)
        if quiet:
            logger.propagate = False
    try:
        yield capture
    finally:
        for logger, propagate in saved:
            logger.removeHandler(capture)
            logger.propagate = propagate


# ---------------------------------------------------------------------------------------
# The clients


class _Loop:
    """An event loop in a thread, where every async client of the demo runs."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="demo-asyncio", daemon=True
        )
        self._thread.start()

    def submit(self, coro: Awaitable[Any]) -> concurrent.futures.Future[Any]:
        async def wrapper() -> Any:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5.0)
        if not self._thread.is_alive():
            self.loop.close()


@dataclass
class _Run:
    """Everything the clients share: the stop signal, threads, loop and resources."""

    endpoint: str
    stop: threading.Event = field(default_factory=threading.Event)
    loop: _Loop = field(default_factory=_Loop)
    threads: list[threading.Thread] = field(default_factory=list)
    tasks: list[concurrent.futures.Future[Any]] = field(default_factory=list)
    sync_closers: list[Callable[[], Any]] = field(default_factory=list)
    async_closers: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)
    pending: list[Callable[[], None]] = field(default_factory=list)

    # -- HTTP clients that report to a lane -----------------------------------------

    def http_client(self, lane: Lane, **kwargs: Any) -> httpx.Client:
        import httpx

        def on_request(request: httpx.Request) -> None:
            lane.saw(request.headers)

        client = httpx.Client(event_hooks={"request": [on_request]}, timeout=_TIMEOUT, **kwargs)
        self.sync_closers.append(client.close)
        return client

    def async_http_client(self, lane: Lane) -> httpx.AsyncClient:
        import httpx

        async def on_request(request: httpx.Request) -> None:
            lane.saw(request.headers)

        client = httpx.AsyncClient(event_hooks={"request": [on_request]}, timeout=_TIMEOUT)
        self.async_closers.append(client.aclose)
        return client

    # -- workers ---------------------------------------------------------------------

    def start_sync(self, lane: Lane, call: Callable[[], Any]) -> None:
        """Queue a thread that calls ``call`` until the stop signal (see ``start_all``)."""

        def work() -> None:
            while not self.stop.is_set():
                try:
                    call()
                except Exception as exc:
                    lane.finished_call(exc)
                else:
                    lane.finished_call(None)
                self.stop.wait(_PAUSE)

        def start() -> None:
            lane.set_status("running")
            thread = threading.Thread(target=work, name=f"demo-{lane.label}", daemon=True)
            self.threads.append(thread)
            thread.start()

        lane.set_status("ready")
        self.pending.append(start)

    def start_async(self, lane: Lane, call: Callable[[], Awaitable[Any]]) -> None:
        """Queue a task on the demo's loop that awaits ``call`` until the stop signal."""

        async def work() -> None:
            while not self.stop.is_set():
                try:
                    await call()
                except Exception as exc:
                    lane.finished_call(exc)
                else:
                    lane.finished_call(None)
                await asyncio.sleep(_PAUSE)

        def start() -> None:
            lane.set_status("running")
            self.tasks.append(self.loop.submit(work()))

        lane.set_status("ready")
        self.pending.append(start)

    def start_all(self) -> None:
        """Start every queued client at once, so that they all run for the same time."""
        for start in self.pending:
            start()
        self.pending.clear()

    def shutdown(self, provider: TokenProvider | None) -> None:
        """Stop every client, close what they opened (on the right loop), stop the loop."""
        self.stop.set()
        deadline = time.monotonic() + _TIMEOUT
        for thread in self.threads:
            thread.join(max(deadline - time.monotonic(), 0.1))
        for task in self.tasks:
            try:
                task.result(max(deadline - time.monotonic(), 0.1))
            except Exception:  # a worker never raises; a timeout leaves it to the loop
                task.cancel()

        async def close_async() -> None:
            for closer in self.async_closers:
                await closer()
            # The aio credential's HTTP session lives on this loop: close it here.
            choice = provider.choice if provider is not None else None
            if choice is not None and choice.async_credential is not None:
                await choice.async_credential.close()

        with contextlib.suppress(Exception):  # best effort: the process is about to report
            self.loop.submit(close_async()).result(5.0)
        self.loop.close()
        for closer in self.sync_closers:
            closer()


def _lanes() -> dict[str, Lane]:
    return {
        "openai": Lane("openai", "AzureOpenAI: chat + embeddings", "openai"),
        "openai_async": Lane("openai", "AsyncAzureOpenAI: streamed chat", "openai"),
        "openai_v1": Lane("openai", "OpenAI v1: chat", "openai"),
        "openai_v1_async": Lane("openai", "AsyncOpenAI v1: embeddings", "openai"),
        "raw_httpx": Lane("raw token", "httpx.Auth: raw chat POST", "testing"),
        "raw_requests": Lane("raw token", "requests + token.headers()", "testing"),
        "lc_chat": Lane("LangChain", "AzureChatOpenAI: invoke + ainvoke", "langchain"),
        "lc_embeddings": Lane("LangChain", "AzureOpenAIEmbeddings", "langchain"),
        "li_llm": Lane("LlamaIndex", "AzureOpenAI: complete", "llama-index"),
        "li_embedding": Lane("LlamaIndex", "AzureOpenAIEmbedding: async", "llama-index"),
    }


def _start_openai(run: _Run, lanes: dict[str, Lane]) -> None:
    from adapters import openai as keyless

    lane = lanes["openai"]
    client = keyless.client(max_retries=0, http_client=run.http_client(lane))
    turn = [0]

    def chat_or_embed() -> None:
        turn[0] += 1
        if turn[0] % 2:
            client.chat.completions.create(model=CHAT, messages=_HELLO, max_tokens=16)
        else:
            client.embeddings.create(model=EMBEDDING, input="keyless")

    run.start_sync(lane, chat_or_embed)

    lane = lanes["openai_async"]
    aclient = keyless.async_client(max_retries=0, http_client=run.async_http_client(lane))

    async def streamed_chat() -> None:
        stream = await aclient.chat.completions.create(model=CHAT, messages=_HELLO, stream=True)
        async for _ in stream:
            pass

    run.start_async(lane, streamed_chat)

    lane = lanes["openai_v1"]
    v1 = keyless.v1_client(max_retries=0, http_client=run.http_client(lane))
    run.start_sync(lane, lambda: v1.chat.completions.create(model=CHAT, messages=_HELLO))

    lane = lanes["openai_v1_async"]
    av1 = keyless.async_v1_client(max_retries=0, http_client=run.async_http_client(lane))

    async def v1_embed() -> None:
        await av1.embeddings.create(model=EMBEDDING, input="keyless")

    run.start_async(lane, v1_embed)


def _start_raw(run: _Run, lanes: dict[str, Lane]) -> None:
    import requests

    from adapters.rawtoken import refreshing_token
    from adapters.settings import DEFAULT_API_VERSION

    token = refreshing_token()
    url = (
        f"{run.endpoint}/openai/deployments/{CHAT}/chat/completions"
        f"?api-version={DEFAULT_API_VERSION}"
    )
    body: dict[str, Any] = {"messages": _HELLO, "max_tokens": 16}

    lane = lanes["raw_httpx"]
    http = run.http_client(lane, auth=token.httpx_auth())
    run.start_sync(lane, lambda: http.post(url, json=body).raise_for_status())

    lane = lanes["raw_requests"]
    session = requests.Session()
    session.trust_env = False  # no proxy or .netrc between the demo and 127.0.0.1
    run.sync_closers.append(session.close)
    requests_lane = lane

    def post_with_headers() -> None:
        headers = token.headers()  # what a library that takes a token string would get
        requests_lane.saw(headers)
        session.post(url, json=body, headers=headers, timeout=_TIMEOUT).raise_for_status()

    run.start_sync(lane, post_with_headers)


def _start_langchain(run: _Run, lanes: dict[str, Lane]) -> None:
    from adapters import langchain

    lane = lanes["lc_chat"]
    chat = langchain.chat_model(
        max_retries=0,
        max_tokens=16,
        http_client=run.http_client(lane),
        http_async_client=run.async_http_client(lane),
    )
    run.start_sync(lane, lambda: chat.invoke("Say hello without a key."))

    async def ainvoke() -> None:
        await chat.ainvoke("Say hello without a key, asynchronously.")

    run.start_async(lane, ainvoke)

    lane = lanes["lc_embeddings"]
    # check_embedding_ctx_length=False: the default downloads tiktoken's encoding first.
    embedder = langchain.embeddings(
        max_retries=0,
        check_embedding_ctx_length=False,
        http_client=run.http_client(lane),
        http_async_client=run.async_http_client(lane),
    )
    run.start_sync(lane, lambda: embedder.embed_query("keyless"))


def _start_llama_index(run: _Run, lanes: dict[str, Lane]) -> None:
    from adapters import llama_index

    lane = lanes["li_llm"]
    llm = llama_index.llm(
        model="gpt-4o-mini",
        max_retries=0,
        max_tokens=16,
        timeout=_TIMEOUT,
        http_client=run.http_client(lane),
        async_http_client=run.async_http_client(lane),
    )
    run.start_sync(lane, lambda: llm.complete("Say hello without a key."))

    lane = lanes["li_embedding"]
    embedder = llama_index.embedding(
        max_retries=0,
        timeout=_TIMEOUT,
        http_client=run.http_client(lane),
        async_http_client=run.async_http_client(lane),
    )

    async def aembed() -> None:
        await embedder.aget_query_embedding("keyless")

    run.start_async(lane, aembed)


# (group keys, builder) in loading order.
_GROUPS: tuple[tuple[tuple[str, ...], Callable[[_Run, dict[str, Lane]], None]], ...] = (
    (("openai", "openai_async", "openai_v1", "openai_v1_async"), _start_openai),
    (("raw_httpx", "raw_requests"), _start_raw),
    (("lc_chat", "lc_embeddings"), _start_langchain),
    (("li_llm", "li_embedding"), _start_llama_index),
)


def _load_all(run: _Run, lanes: dict[str, Lane], loaded: threading.Event) -> None:
    """Import each framework in turn and build its clients, then start them all (a thread)."""
    from adapters.errors import MissingExtraError

    try:
        for keys, starter in _GROUPS:
            if run.stop.is_set():
                break
            group = [lanes[key] for key in keys]
            for lane in group:
                lane.set_status("loading")
            try:
                starter(run, lanes)
            except MissingExtraError:
                for lane in group:
                    if lane.status == "loading":
                        lane.set_status("skipped", f"pip install 'keyless-adapters[{lane.extra}]'")
            except Exception as exc:
                for lane in group:
                    if lane.status == "loading":
                        lane.set_status("error")
                        lane.finished_call(exc)
        if not run.stop.is_set():
            run.start_all()
    finally:
        loaded.set()


# ---------------------------------------------------------------------------------------
# Progress and the final table


@dataclass
class _Totals:
    elapsed: float
    rotations: int
    fetches: int
    issued: int
    server_requests: int
    server_tokens: int
    expired: int
    server_api_keys: int
    non_2xx: int


def _totals(
    started: float,
    provider: TokenProvider | None,
    refreshes: list[float],
    mi: ManagedIdentityEmulator,
    aoai: AzureOpenAIEmulator,
) -> _Totals:
    statuses = aoai.statuses
    return _Totals(
        elapsed=time.monotonic() - started,
        rotations=max(len(refreshes) - 1, 0),
        fetches=provider.stats.fetches if provider is not None else 0,
        issued=mi.tokens_issued,
        server_requests=aoai.requests,
        server_tokens=aoai.distinct_tokens,
        expired=aoai.expired_tokens,
        server_api_keys=aoai.api_key_headers,
        non_2xx=sum(n for status, n in statuses.items() if not 200 <= status < 300),
    )


def _progress_line(lanes: dict[str, Lane], totals: _Totals) -> str:
    stamp = f"[{totals.elapsed:5.1f} s]"
    loading = [lane.framework for lane in lanes.values() if lane.status == "loading"]
    if loading:
        ready = sum(lane.status == "ready" for lane in lanes.values())
        return f"{stamp} loading {loading[0]}... ({ready} clients ready)"
    running = sum(lane.status == "running" for lane in lanes.values())
    failures = sum(lane.failures for lane in lanes.values())
    return (
        f"{stamp} {running} clients running: {totals.server_requests} requests, "
        f"{failures} failures, {totals.server_api_keys} api-key headers, "
        f"{totals.rotations} token rotations"
    )


def _rich_table(lanes: dict[str, Lane], totals: _Totals, final: bool) -> Any:
    from rich.table import Table

    title = (
        f"keyless-adapters demo: {totals.elapsed:.1f} s, {totals.rotations} token rotations, "
        f"identity emulator issued {totals.issued} tokens"
    )
    table = Table(title=title, show_footer=final, title_justify="left")
    table.add_column("Client", footer="All clients (server's count)")
    if not final:
        table.add_column("Status")
    table.add_column("Requests", justify="right", footer=str(totals.server_requests))
    table.add_column(
        "Failures",
        justify="right",
        footer=str(sum(lane.failures for lane in lanes.values())),
    )
    table.add_column("Tokens", justify="right", footer=str(totals.server_tokens))
    table.add_column("api-key", justify="right", footer=str(totals.server_api_keys))
    for lane in lanes.values():
        style = {"skipped": "dim", "error": "red"}.get(lane.status, "")
        if lane.failures or lane.api_keys:
            style = "red"
        name = f"{lane.name} (skipped)" if lane.status == "skipped" else lane.name
        status = [] if final else [lane.status]
        counts = [str(lane.requests), str(lane.failures), str(len(lane.tokens))]
        table.add_row(name, *status, *counts, str(lane.api_keys), style=style or None)
    return table


def _plain_table(lanes: dict[str, Lane], totals: _Totals) -> str:
    rows = [("Client", "Requests", "Failures", "Tokens", "api-key")]
    for lane in lanes.values():
        name = lane.name if lane.status != "skipped" else f"{lane.name} (skipped)"
        rows.append(
            (
                name,
                str(lane.requests),
                str(lane.failures),
                str(len(lane.tokens)),
                str(lane.api_keys),
            )
        )
    footer = (
        "All clients (server's count)",
        str(totals.server_requests),
        str(sum(lane.failures for lane in lanes.values())),
        str(totals.server_tokens),
        str(totals.server_api_keys),
    )
    widths = [max(len(row[i]) for row in (*rows, footer)) for i in range(5)]

    def render(row: tuple[str, ...]) -> str:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        return "  ".join(cells)

    rule = "-" * len(render(rows[0]))
    return "\n".join([render(rows[0]), rule, *map(render, rows[1:]), rule, render(footer)])


def _verdict(
    lanes: dict[str, Lane], totals: _Totals, provider: TokenProvider | None, lifetime: float
) -> list[str]:
    """The reasons the demo failed (empty when it succeeded)."""
    problems = []
    failures = sum(lane.failures for lane in lanes.values())
    if failures:
        problems.append(f"{failures} calls failed")
    api_keys = max(totals.server_api_keys, sum(lane.api_keys for lane in lanes.values()))
    if api_keys:
        problems.append(f"{api_keys} requests carried an api-key header")
    if totals.expired:
        problems.append(f"the server saw {totals.expired} expired tokens")
    if totals.non_2xx:
        problems.append(f"the server answered {totals.non_2xx} requests with an error")
    if provider is not None and provider.stats.failures:
        problems.append(f"the credential failed {provider.stats.failures} times")
    now = time.monotonic()
    for lane in lanes.values():
        # A client that ran for several lifetimes on one token would be using a stale one.
        if lane.status == "done" and len(lane.tokens) < 2 and lane.ran_for(now) > 4 * lifetime:
            problems.append(f"{lane.name} never changed tokens")
    if not any(lane.requests for lane in lanes.values()):
        problems.append("no client sent a request")
    return problems


# ---------------------------------------------------------------------------------------
# The command


def _require_testing_extra() -> None:
    from adapters.errors import MissingExtraError

    try:
        import httpx  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError(
            f"adapters demo needs the emulators and httpx ({exc.name} is missing): "
            "pip install 'keyless-adapters[testing]', or 'keyless-adapters[all]' to see "
            "every framework."
        ) from None


def _wait_for_refreshes(
    provider: TokenProvider | None, refreshes: list[float], limit: float = 2.0
) -> None:
    """Let a background refresh still in flight land before the emulators stop."""
    if provider is None:
        return
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        stats = provider.stats
        if stats.fetches <= len(refreshes) + stats.failures + stats.unchanged:
            return
        time.sleep(0.01)


def run(
    *,
    token_lifetime: float = 2.0,
    duration: float = 4.0,
    tokens_per_client: int = 3,
    plain: bool = False,
) -> int:
    """Run the demo and print the progress and the final table.

    Args:
        token_lifetime: Seconds each managed-identity token lives.
        duration: Minimum seconds the clients run (they all start together).
        tokens_per_client: Run until every running client has carried this many distinct
            tokens (or the deadline).
        plain: Plain progress lines even when stdout is a terminal.

    Returns:
        0 when every request succeeded keyless with a valid token, else 1.

    Raises:
        MissingExtraError: The testing extra (emulators, httpx) is not installed.
    """
    _require_testing_extra()
    from adapters._provider import clear_providers, get_provider
    from adapters.settings import DEFAULT_API_VERSION
    from adapters.testing import AzureOpenAIEmulator, ManagedIdentityEmulator, default_issuer

    live = not plain and sys.stdout.isatty()
    if live:
        try:
            import rich  # noqa: F401
        except ImportError:
            live = False
    out = sys.stdout
    started = time.monotonic()
    print(
        f"Starting a managed-identity endpoint ({token_lifetime:g}-second tokens) and an "
        "Azure OpenAI emulator on 127.0.0.1...",
        file=out,
        flush=True,
    )
    issuer = default_issuer()
    lanes = _lanes()
    refreshes: list[float] = []
    provider: TokenProvider | None = None
    with (
        ManagedIdentityEmulator(issuer=issuer, token_lifetime=token_lifetime) as mi,
        AzureOpenAIEmulator(
            issuer=issuer,
            deployments={CHAT: "gpt-4o-mini", EMBEDDING: "text-embedding-3-small"},
        ) as aoai,
    ):
        values = {
            **mi.environ,
            "AZURE_OPENAI_ENDPOINT": aoai.endpoint,
            "AZURE_OPENAI_API_VERSION": DEFAULT_API_VERSION,
            "AZURE_OPENAI_CHAT_DEPLOYMENT": CHAT,
            "AZURE_OPENAI_EMBEDDING_DEPLOYMENT": EMBEDDING,
            "AZURE_OPENAI_API_KEY": STRAY_KEY,
            **_no_proxy_for_loopback(),
        }
        with _environment(values, _CLEARED), _captured_warnings() as captured:
            clear_providers()
            provider = get_provider()
            provider.on_refresh(lambda snapshot: refreshes.append(snapshot.obtained_at))
            print(
                f"Credential: {provider.credential_name} (chosen from IDENTITY_ENDPOINT); "
                f"AZURE_OPENAI_API_KEY={STRAY_KEY} is set on purpose.",
                file=out,
                flush=True,
            )
            work = _Run(aoai.endpoint)
            loaded = threading.Event()
            loader = threading.Thread(
                target=_load_all, args=(work, lanes, loaded), name="demo-loader", daemon=True
            )
            loader.start()
            try:
                _drive(
                    work,
                    lanes,
                    loaded,
                    live=live,
                    duration=duration,
                    tokens_per_client=tokens_per_client,
                    progress=lambda: _totals(started, provider, refreshes, mi, aoai),
                )
            finally:
                work.stop.set()
                loader.join(30.0)  # it only imports and builds; never starts clients now
                work.shutdown(provider)
                for lane in lanes.values():
                    if lane.status == "running":
                        lane.set_status("done")
                _wait_for_refreshes(provider, refreshes)
                totals = _totals(started, provider, refreshes, mi, aoai)
                warnings = list(captured.messages)
                clear_providers()

    problems = _verdict(lanes, totals, provider, token_lifetime)
    _report(lanes, totals, provider, warnings, problems, live=live)
    return 1 if problems else 0


def _drive(
    work: _Run,
    lanes: dict[str, Lane],
    loaded: threading.Event,
    *,
    live: bool,
    duration: float,
    tokens_per_client: int,
    progress: Callable[[], _Totals],
) -> None:
    """Show progress until every client has rotated enough, or the deadline."""
    deadline = time.monotonic() + _DEADLINE

    def finished() -> bool:
        now = time.monotonic()
        if not loaded.is_set() or now >= deadline:
            return now >= deadline
        running = [lane for lane in lanes.values() if lane.status == "running"]
        return all(
            len(lane.tokens) >= tokens_per_client and lane.ran_for(now) >= duration
            for lane in running
        )

    if live:
        from rich.console import Console
        from rich.live import Live

        console = Console()
        with Live(
            _rich_table(lanes, progress(), final=False),
            console=console,
            refresh_per_second=1 / _REFRESH,
            transient=True,
        ) as display:
            while not finished():
                time.sleep(_REFRESH)
                display.update(_rich_table(lanes, progress(), final=False))
        return
    next_line = time.monotonic() + _PLAIN_EVERY
    while not finished():
        time.sleep(_REFRESH)
        if time.monotonic() >= next_line:
            next_line += _PLAIN_EVERY
            print(_progress_line(lanes, progress()), flush=True)


def _report(
    lanes: dict[str, Lane],
    totals: _Totals,
    provider: TokenProvider | None,
    warnings: list[str],
    problems: list[str],
    *,
    live: bool,
) -> None:
    if live:
        from rich.console import Console

        Console().print(_rich_table(lanes, totals, final=True))
    else:
        print("", flush=True)
        print(_plain_table(lanes, totals))
    name = provider.credential_name if provider is not None else "the credential"
    lines = [
        "",
        f"Tokens: the shared provider fetched {totals.fetches} from {name} for all clients; "
        f"the identity emulator issued {totals.issued}; the server saw "
        f"{totals.server_tokens} distinct tokens, {totals.expired} expired.",
        f"Keys: AZURE_OPENAI_API_KEY={STRAY_KEY} was set the whole time; the server saw "
        f"{totals.server_api_keys} api-key headers.",
    ]
    ignored = [m for m in warnings if "ignoring" in m and "AZURE_OPENAI_API_KEY" in m]
    if ignored:
        lines.append(
            f"The adapters logged {len(ignored)} warnings that they ignore "
            "AZURE_OPENAI_API_KEY (one per client built), as intended."
        )
    others = [m for m in warnings if m not in ignored]
    lines.extend(f"Warning: {message}" for message in others[:5])
    for lane in lanes.values():
        if lane.status == "skipped":
            lines.append(f"Skipped {lane.name}: {lane.note}")
        elif lane.failures and lane.note:
            lines.append(f"{lane.name} failed: {lane.note}")
    running = sum(lane.status != "skipped" for lane in lanes.values())
    if problems:
        lines.append(f"Result: FAILED ({'; '.join(problems)})")
    else:
        lines.append(
            f"Result: OK ({totals.server_requests} requests from {running} clients, "
            f"0 failures, 0 api-key headers, across {totals.rotations} token rotations in "
            f"{totals.elapsed:.1f} s)"
        )
    print("\n".join(lines), flush=True)
