"""``os.fork()`` after use (gunicorn ``--preload``): children get working locks and refresh.

Each test forks at a bad moment (after use, while another thread holds the provider's
lock or the registry's, while a refresh is in flight). The child calls the provider, so it
must take the lock and may need its own refresh, then exits with a status code; the parent
waits (never forever) and checks it. A deadlocked child is killed and reported.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable

import pytest

from adapters import TokenProvider
from adapters import _provider as provider_module
from tests.reliability.support import PATIENCE, IssuerCredential, ShiftedClock

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork() is POSIX only")

OK, WRONG, ERROR = 0, 3, 4
CHILD_PATIENCE = 20.0
LONGER = 1000.0  # seconds of validity asked for: more than a 240-s token, less than 1 h


def _run_child(body: Callable[[], bool]) -> int:
    """Fork; the child runs ``body`` and exits 0 if it returns True. Returns the exit code.

    A child that raises exits with ERROR and sends its traceback up a pipe, so the failure
    message shows it.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        os.close(read_end)
        code = ERROR
        try:
            code = OK if body() else WRONG
        except BaseException:
            os.write(write_end, traceback.format_exc().encode())
        finally:
            os._exit(code)
    os.close(write_end)
    deadline = time.monotonic() + CHILD_PATIENCE
    try:
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                code = os.waitstatus_to_exitcode(status)
                with os.fdopen(read_end, "rb") as pipe:
                    report = pipe.read().decode(errors="replace")
                    read_end = -1
                assert code != ERROR, f"the child raised:\n{report}"
                return code
            time.sleep(0.01)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child deadlocked (killed after waiting)")
    finally:
        if read_end >= 0:
            os.close(read_end)


def test_child_refreshes_on_its_own_after_fork(mi_provider, clocked_identity):
    """A child forked after use serves the inherited token, then refreshes by itself."""
    first = mi_provider()
    clocked_identity.token_lifetime = 3600.0  # new tokens outlive the inherited one

    def child() -> bool:
        inherited = mi_provider()
        fresh = mi_provider.get_token(min_lifetime=LONGER)  # more than the inherited has
        return inherited == first != fresh and mi_provider.stats.fetches == 2

    assert _run_child(child) == OK
    assert clocked_identity.tokens_issued == 2  # the child's refresh reached the endpoint
    assert mi_provider() == first  # the parent is untouched
    assert mi_provider.stats.fetches == 1


def test_fork_while_another_thread_holds_the_provider_lock(token_issuer):
    """A child forked while a thread holds the provider's lock can still take it."""
    clock = ShiftedClock()
    credential = IssuerCredential(token_issuer, 3600.0, clock=clock)
    provider = TokenProvider(credential, clock=clock)
    first = provider()
    holding, release = threading.Event(), threading.Event()

    def child() -> bool:
        inherited = provider.snapshot().token  # takes the lock
        clock.advance(7200.0)  # the child's own clock and credential: the token expires
        return inherited == first != provider() and credential.calls == 2

    def hold() -> None:
        with provider._lock:
            holding.set()
            release.wait(PATIENCE)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(PATIENCE)
    try:
        code = _run_child(child)
    finally:
        release.set()
        holder.join(PATIENCE)

    assert code == OK


def test_fork_while_a_refresh_is_in_flight(token_issuer):
    """A child forked mid-refresh does not wait for the parent's flight: it fetches its own."""
    credential = IssuerCredential(token_issuer, 3600.0)
    credential.gate = threading.Event()
    provider = TokenProvider(credential)
    tokens: list[str] = []
    parent_caller = threading.Thread(target=lambda: tokens.append(provider()))
    parent_caller.start()
    assert credential.entered.wait(PATIENCE)

    def child() -> bool:
        credential.gate = None  # the child's copy: its own fetch answers at once
        token = provider()
        async_token = asyncio.run(provider.aget_token())
        return token == async_token and credential.calls == 2

    try:
        code = _run_child(child)
    finally:
        credential.gate.set()
        parent_caller.join(PATIENCE)

    assert code == OK
    assert len(tokens) == 1  # the parent's own flight completed normally
    assert credential.calls == 1


def test_fork_while_another_thread_holds_the_registry_lock(monkeypatch, clocked_identity):
    """A child forked while a thread is inside get_provider can still get a provider."""
    from adapters import get_provider

    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with provider_module._REGISTRY_LOCK:
            holding.set()
            release.wait(PATIENCE)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(PATIENCE)
    try:
        code = _run_child(lambda: get_provider().credential_name == "ManagedIdentityCredential")
    finally:
        release.set()
        holder.join(PATIENCE)

    assert code == OK


def test_many_children_each_refresh_once(mi_provider, clocked_identity):
    """Four preloaded workers, 8 threads each, make one refresh apiece."""
    mi_provider()
    clocked_identity.token_lifetime = 3600.0

    def child() -> bool:
        threads = [threading.Thread(target=mi_provider.get_token, args=(LONGER,)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(CHILD_PATIENCE)
        return mi_provider.stats.fetches == 2

    codes = [_run_child(child) for _ in range(4)]

    assert codes == [OK] * 4
    assert clocked_identity.tokens_issued == 5
