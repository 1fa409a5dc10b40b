"""The raw-token shim's rules, pinned with a fake clock and a fake credential."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from adapters import rawtoken
from adapters._provider import TokenProvider, get_provider
from adapters._tokens import RefreshPolicy
from adapters.errors import MissingExtraError, TokenRefreshError
from adapters.rawtoken import RefreshingToken, _sleep_for, refreshing_token
from tests.fakes import FakeClock, FakeCredential, requests_transport

LIFETIME = 3600.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def credential(clock: FakeClock) -> FakeCredential:
    return FakeCredential(clock, lifetime=LIFETIME)


@pytest.fixture
def token(credential: FakeCredential, clock: FakeClock) -> RefreshingToken:
    return RefreshingToken(TokenProvider(credential, clock=clock))


def expire(clock: FakeClock) -> None:
    """Moves the clock past the current token's expiry."""
    clock.advance(LIFETIME + 1)


# -- reading ----------------------------------------------------------------------------


def test_refreshing_token_uses_the_shared_provider(credential):
    """refreshing_token() reads from the provider every adapter shares for that identity."""
    assert refreshing_token(credential=credential).provider is get_provider(credential=credential)


def test_refreshing_token_takes_the_scope_like_the_adapters(credential):
    """scope= selects the provider for that scope instead of the default one."""
    scope = "api://my-gateway/.default"
    assert refreshing_token(credential=credential, scope=scope).scope == scope


def test_reads_share_one_cached_token(token, credential):
    """Many reads within the token's life make one credential call."""
    assert ({token.get() for _ in range(50)}, credential.calls) == ({"tok-1"}, 1)


def test_str_gives_the_fresh_token_after_expiry(token, clock):
    """str() reads the token when formatted, so it is fresh even after the old one expired."""
    first = str(token)
    expire(clock)
    assert (first, f"{token}") == ("tok-1", "tok-2")


def test_repr_never_shows_the_token(token):
    """repr() names the scope and the credential, never the token."""
    value = token.get()
    assert (value in repr(token), "FakeCredential" in repr(token)) == (False, True)


def test_expires_on_is_the_current_tokens_expiry(token, clock):
    """expires_on gives the current token's expiry in epoch seconds."""
    assert token.expires_on == clock.now + LIFETIME


@pytest.mark.parametrize("elapsed", [0.0, 1000.0, 1799.0, 2500.0, 3000.0, 3300.0, 3500.0])
@pytest.mark.parametrize("min_lifetime", [0.0, 600.0, 1800.0, 3000.0])
def test_never_hands_out_a_token_with_less_than_min_lifetime(token, clock, elapsed, min_lifetime):
    """Whatever the token's age, the token handed out has at least min_lifetime left."""
    token.get()
    clock.advance(elapsed)
    assert token.snapshot(min_lifetime).remaining(clock.now) >= min_lifetime


def test_a_short_token_refreshes_before_it_is_handed_out(token, clock, credential):
    """A token with less than min_lifetime left is replaced by a new one, not returned."""
    token.get()
    clock.advance(LIFETIME - 100)
    assert (token.get(min_lifetime=200), credential.calls) == ("tok-2", 2)


def test_an_impossible_min_lifetime_raises(token):
    """Asking for more life than any token has raises instead of returning a short token."""
    with pytest.raises(TokenRefreshError, match="required"):
        token.get(min_lifetime=LIFETIME * 2)


def test_headers_carry_the_bearer_token(token):
    """headers() is the Authorization header with the current token."""
    assert token.headers() == {"Authorization": "Bearer tok-1"}


async def test_async_faces_share_the_sync_cache(token, credential):
    """aget() and aheaders() read the same cached token as get()."""
    first = token.get()
    assert (await token.aget(), await token.aheaders(), credential.calls) == (
        first,
        {"Authorization": f"Bearer {first}"},
        1,
    )


def test_on_refresh_reports_each_new_token_until_unsubscribed(token, clock):
    """on_refresh callbacks get each new snapshot, and nothing after unsubscribing."""
    seen: list[str] = []
    token.get()
    unsubscribe = token.on_refresh(lambda snapshot: seen.append(snapshot.token))
    expire(clock)
    token.get()
    unsubscribe()
    expire(clock)
    token.get()
    assert seen == ["tok-2"]


def test_import_loads_no_http_library():
    """Importing adapters.rawtoken imports neither httpx, requests nor openai."""
    code = (
        "import sys, adapters.rawtoken; "
        "print(sorted(m for m in ('httpx', 'requests', 'openai') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- httpx flows, stepped by hand -------------------------------------------------------


def _request(httpx, content: object = b"{}"):
    return httpx.Request("POST", "http://127.0.0.1/x", content=content)


def test_httpx_flow_sets_a_fresh_token_per_request(token, clock):
    """Each request through the httpx auth gets the token that is current when it is sent."""
    httpx = pytest.importorskip("httpx")
    auth = token.httpx_auth()
    first = next(auth.sync_auth_flow(_request(httpx)))
    expire(clock)
    second = next(auth.sync_auth_flow(_request(httpx)))
    assert (first.headers["Authorization"], second.headers["Authorization"]) == (
        "Bearer tok-1",
        "Bearer tok-2",
    )


def test_httpx_flow_resends_once_when_the_token_rotated_in_flight(token, clock):
    """A 401 for a token that has since been replaced is retried once with the new token."""
    httpx = pytest.importorskip("httpx")
    flow = token.httpx_auth().sync_auth_flow(_request(httpx))
    request = next(flow)
    expire(clock)
    retry = flow.send(httpx.Response(401, request=request))
    assert retry.headers["Authorization"] == "Bearer tok-2"
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(401, request=retry))


def test_httpx_flow_does_not_resend_the_same_token(token, credential):
    """A 401 while the token is still current (a missing role) is returned, not retried."""
    httpx = pytest.importorskip("httpx")
    flow = token.httpx_auth().sync_auth_flow(_request(httpx))
    request = next(flow)
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(401, request=request))
    assert credential.calls == 1


def test_httpx_flow_never_resends_a_streamed_body(token, clock):
    """A body that was streamed cannot be sent twice, so its 401 is returned."""
    httpx = pytest.importorskip("httpx")
    flow = token.httpx_auth().sync_auth_flow(_request(httpx, iter([b"chunk"])))
    request = next(flow)
    expire(clock)
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(401, request=request))


def test_httpx_flow_without_retry_returns_the_401(token, clock):
    """retry_on_401=False hands every 401 back untouched."""
    httpx = pytest.importorskip("httpx")
    flow = token.httpx_auth(retry_on_401=False).sync_auth_flow(_request(httpx))
    request = next(flow)
    expire(clock)
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(401, request=request))


async def test_httpx_async_flow_resends_once_when_the_token_rotated(token, clock):
    """The async flow awaits the async face and retries a rotated 401 once, like the sync."""
    httpx = pytest.importorskip("httpx")
    flow = token.httpx_auth().async_auth_flow(_request(httpx))
    request = await flow.__anext__()
    sent = request.headers["Authorization"]
    expire(clock)
    retry = await flow.asend(httpx.Response(401, request=request))
    assert (sent, retry.headers["Authorization"]) == ("Bearer tok-1", "Bearer tok-2")
    with pytest.raises(StopAsyncIteration):
        await flow.asend(httpx.Response(200, request=retry))


def test_httpx_auth_through_a_client(token, clock):
    """An httpx.Client using the auth sends the current token on each request."""
    httpx = pytest.importorskip("httpx")
    seen: list[str] = []

    def handler(request):
        seen.append(request.headers["Authorization"])
        return httpx.Response(200)

    with httpx.Client(transport=httpx.MockTransport(handler), auth=token.httpx_auth()) as client:
        client.get("http://127.0.0.1/")
        expire(clock)
        client.get("http://127.0.0.1/")
    assert seen == ["Bearer tok-1", "Bearer tok-2"]


@pytest.mark.parametrize(
    ("module", "method"), [("httpx", "httpx_auth"), ("requests", "requests_auth")]
)
def test_missing_http_library_names_the_install(token, monkeypatch, module, method):
    """Without httpx or requests, the auth helper raises MissingExtraError with the fix."""
    monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.setitem(sys.modules, f"{module}.auth", None)
    rawtoken._httpx_auth_class.cache_clear()
    rawtoken._requests_auth_class.cache_clear()
    try:
        with pytest.raises(MissingExtraError, match="pip install"):
            getattr(token, method)()
    finally:
        rawtoken._httpx_auth_class.cache_clear()
        rawtoken._requests_auth_class.cache_clear()


def test_requests_auth_sets_the_current_token(token, clock):
    """The requests auth writes the token that is current when the request is prepared."""
    requests = pytest.importorskip("requests")
    auth = token.requests_auth()
    first = auth(requests.Request("GET", "http://127.0.0.1/").prepare())
    expire(clock)
    second = auth(requests.Request("GET", "http://127.0.0.1/").prepare())
    assert (first.headers["Authorization"], second.headers["Authorization"]) == (
        "Bearer tok-1",
        "Bearer tok-2",
    )


def _requests_session(requests, handler):
    session = requests.Session()
    session.mount("http://", requests_transport(handler))
    return session


def test_requests_auth_resends_once_when_the_token_rotated_in_flight(token, clock):
    """A requests 401 for a token since replaced is resent once, with the new token."""
    requests = pytest.importorskip("requests")
    seen: list[str] = []

    def handler(request) -> int:
        seen.append(request.headers["Authorization"])
        if len(seen) == 1:
            expire(clock)  # the token expires while the request is in flight
            return 401
        return 200

    with _requests_session(requests, handler) as session:
        response = session.post("http://127.0.0.1/x", json={}, auth=token.requests_auth())
    assert (seen, response.status_code, len(response.history)) == (
        ["Bearer tok-1", "Bearer tok-2"],
        200,
        1,
    )


def test_requests_auth_does_not_resend_the_same_token(token, credential):
    """A requests 401 while the token is still current is returned as is."""
    requests = pytest.importorskip("requests")
    seen: list[str] = []

    def handler(request) -> int:
        seen.append(request.headers["Authorization"])
        return 401

    with _requests_session(requests, handler) as session:
        response = session.get("http://127.0.0.1/x", auth=token.requests_auth())
    assert (seen, response.status_code, credential.calls) == (["Bearer tok-1"], 401, 1)


def test_requests_auth_resends_at_most_once(token, clock):
    """Even if every answer is a 401 and the token keeps rotating, one resend is the limit."""
    requests = pytest.importorskip("requests")
    seen: list[str] = []

    def handler(request) -> int:
        seen.append(request.headers["Authorization"])
        expire(clock)
        return 401

    with _requests_session(requests, handler) as session:
        response = session.get("http://127.0.0.1/x", auth=token.requests_auth())
    assert (seen, response.status_code) == (["Bearer tok-1", "Bearer tok-2"], 401)


# -- rebuild ----------------------------------------------------------------------------


class Client:
    """A token-only client: the token is fixed at construction."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, suffix: str) -> str:
        return self.token + suffix


def test_rebuild_forwards_attributes_and_calls(token):
    """The wrapper reads attributes of, and calls, the client built with the token."""
    wrapped = token.rebuild(Client)
    assert (wrapped.token, wrapped("!")) == ("tok-1", "tok-1!")


def test_rebuild_makes_one_client_per_rotation(token, clock):
    """make() runs once per token, however often the client is used."""
    made: list[str] = []
    wrapped = token.rebuild(lambda t: made.append(t) or Client(t))
    for _ in range(3):
        for _ in range(10):
            wrapped.current()
        expire(clock)
    assert (made, wrapped.builds) == (["tok-1", "tok-2", "tok-3"], 3)


def test_rebuild_is_single_flight_across_threads(token, clock):
    """With 32 threads crossing rotations, make() still runs exactly once per token."""
    made: list[str] = []
    lock = threading.Lock()

    def make(value: str) -> Client:
        with lock:
            made.append(value)
        time.sleep(0.01)  # a slow build, so the other threads pile up behind it
        return Client(value)

    wrapped = token.rebuild(make)

    def use(barrier: threading.Barrier) -> None:
        barrier.wait()  # all 32 arrive at the new token together
        for _ in range(20):
            wrapped.token  # noqa: B018

    for _ in range(4):
        barrier = threading.Barrier(32)
        threads = [threading.Thread(target=use, args=(barrier,)) for _ in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        expire(clock)
    assert made == ["tok-1", "tok-2", "tok-3", "tok-4"]


def test_rebuild_never_goes_back_to_an_older_token(token, clock):
    """A caller holding an older snapshot gets the newer client, not a rebuilt old one."""
    wrapped = token.rebuild(Client)
    old = token.snapshot()
    expire(clock)
    wrapped.current()
    assert (wrapped._client_for(old).token, wrapped.builds) == ("tok-2", 1)


async def test_rebuild_async_face_builds_like_the_sync_one(token, clock):
    """acurrent() gives the same client as current(), rebuilt after rotation."""
    wrapped = token.rebuild(Client)
    first = await wrapped.acurrent()
    expire(clock)
    assert (first is wrapped.current(), (await wrapped.acurrent()).token) == (False, "tok-2")


def test_rebuild_repr_never_shows_the_token(token):
    """The wrapper's repr shows its build count, not the token."""
    wrapped = token.rebuild(Client)
    wrapped.current()
    assert ("tok-1" in repr(wrapped), "builds=1" in repr(wrapped)) == (False, True)


# -- background refresher ---------------------------------------------------------------


def test_export_env_sets_the_variable_before_returning(token):
    """export_env() writes the current token before it returns."""
    environ: dict[str, str] = {}
    with token.export_env("TOKEN", environ=environ):
        assert environ == {"TOKEN": "tok-1"}


def test_export_env_follows_each_rotation(token, clock):
    """A new token from the shared provider replaces the exported one at once."""
    environ: dict[str, str] = {}
    with token.export_env("TOKEN", environ=environ):
        expire(clock)
        token.get()
        assert environ["TOKEN"] == "tok-2"


def test_export_env_restores_the_previous_value(token):
    """Stopping puts back the value the variable had before."""
    environ = {"TOKEN": "before"}
    with token.export_env("TOKEN", environ=environ):
        pass
    assert environ == {"TOKEN": "before"}


def test_export_env_removes_a_variable_it_created(token):
    """Stopping removes a variable that did not exist before."""
    environ: dict[str, str] = {}
    token.export_env("TOKEN", environ=environ).stop()
    assert environ == {}


def test_export_env_leaves_no_thread_after_stop(token):
    """stop() ends the refresher's thread."""
    refresher = token.export_env("TOKEN", environ={})
    running = refresher.running
    refresher.stop()
    names = [t.name for t in threading.enumerate() if t.name.startswith("adapters-rawtoken")]
    assert (running, refresher.running, names) == (True, False, [])


def test_export_env_that_cannot_start_leaves_nothing(credential, clock):
    """If no first token can be had, the error propagates, nothing is set, no thread runs."""
    credential.error = RuntimeError("no identity")
    token = RefreshingToken(TokenProvider(credential, clock=clock))
    environ: dict[str, str] = {}
    with pytest.raises(TokenRefreshError):
        token.export_env("TOKEN", environ=environ)
    names = [t.name for t in threading.enumerate() if t.name.startswith("adapters-rawtoken")]
    assert (environ, names) == ({}, [])


def test_keep_fresh_reports_the_current_and_each_new_token(token, clock):
    """keep_fresh() calls back with the token at start and with every new one."""
    seen: list[str] = []
    with token.keep_fresh(lambda snapshot: seen.append(snapshot.token)):
        expire(clock)
        token.get()
    assert seen == ["tok-1", "tok-2"]


def test_a_refresher_starts_only_once(token):
    """Starting a refresher twice is an error, not a second thread."""
    with (
        token.keep_fresh() as refresher,
        pytest.raises(RuntimeError, match="already started"),
    ):
        refresher.start()


_POLICY = RefreshPolicy()


@pytest.mark.parametrize(
    ("elapsed", "min_lifetime", "sleep"),
    [
        (0.0, 0.0, 3300.0),  # sleep until the advisory threshold
        (3000.0, 0.0, 300.0),
        (3300.0, 0.0, 1.0),  # in the advisory window: re-check now and then
        (3539.99, 0.0, 0.05),  # just before the mandatory window: never busy-loops
        (0.0, 1200.0, 2400.0),  # a longer min_lifetime wakes it earlier
    ],
)
def test_refresher_sleeps_until_the_refresh_threshold(elapsed, min_lifetime, sleep):
    """The refresher wakes at the refresh threshold, then polls within bounds."""
    snapshot = _POLICY.snapshot("t", expires_on=LIFETIME, obtained_at=0.0)
    assert _sleep_for(snapshot, elapsed, min_lifetime) == pytest.approx(sleep)
