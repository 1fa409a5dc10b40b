"""The raw-token shim with real consumers, across many short-lived token rotations.

Tokens come from the real azure-identity ``ManagedIdentityCredential`` through the
managed-identity emulator, with a 2-second lifetime (1 to 2 s as the client sees it, since
``expires_on`` is rounded down), and the Azure OpenAI emulator counts every expired token
it is shown. Each test runs until the server has seen ``TOKENS`` different tokens.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from adapters.rawtoken import RefreshingToken, refreshing_token

httpx = pytest.importorskip("httpx")

TOKENS = 4  # distinct tokens the server must see: three rotations
LIFETIME = 2.0
API_VERSION = "2024-10-21"
BODY = {"messages": [{"role": "user", "content": "hi"}]}
# Only guards against a hang if something is broken; never asserted on.
PATIENCE = 60.0


@pytest.fixture
def token(managed_identity_env) -> RefreshingToken:
    managed_identity_env.token_lifetime = LIFETIME
    return refreshing_token()


def chat_url(emulator) -> str:
    return f"{emulator.endpoint}/openai/deployments/chat/chat/completions?api-version={API_VERSION}"


def until_rotated(emulator):
    """Yields until the emulator has seen TOKENS different tokens."""
    deadline = time.monotonic() + PATIENCE
    while emulator.distinct_tokens < TOKENS and time.monotonic() < deadline:
        yield


def served_cleanly(emulator) -> tuple[int, int, dict[int, int]]:
    """(distinct tokens, expired tokens, statuses), for one exact comparison."""
    return emulator.distinct_tokens, emulator.expired_tokens, emulator.statuses


def test_httpx_client_crosses_rotations(token, azure_openai_emulator):
    """A sync httpx client with the auth never sends an expired token across rotations."""
    with httpx.Client(auth=token.httpx_auth()) as client:
        for _ in until_rotated(azure_openai_emulator):
            client.post(chat_url(azure_openai_emulator), json=BODY)
    n = azure_openai_emulator.requests
    assert served_cleanly(azure_openai_emulator) == (TOKENS, 0, {200: n})


async def test_async_httpx_client_crosses_rotations(token, azure_openai_emulator):
    """An async httpx client with the auth never sends an expired token across rotations."""
    async with httpx.AsyncClient(auth=token.httpx_auth()) as client:
        for _ in until_rotated(azure_openai_emulator):
            await client.post(chat_url(azure_openai_emulator), json=BODY)
    n = azure_openai_emulator.requests
    assert served_cleanly(azure_openai_emulator) == (TOKENS, 0, {200: n})


def test_requests_session_crosses_rotations(token, azure_openai_emulator):
    """A requests session with the auth never sends an expired token across rotations."""
    requests = pytest.importorskip("requests")
    with requests.Session() as session:
        session.auth = token.requests_auth()
        for _ in until_rotated(azure_openai_emulator):
            session.post(chat_url(azure_openai_emulator), json=BODY, timeout=10)
    n = azure_openai_emulator.requests
    assert served_cleanly(azure_openai_emulator) == (TOKENS, 0, {200: n})


def test_rebuild_builds_one_openai_client_per_rotation_across_32_threads(
    token, azure_openai_emulator
):
    """32 threads share a rebuilt AzureOpenAI(azure_ad_token=...): one build per token."""
    openai = pytest.importorskip("openai")
    made: list[str] = []
    errors: list[BaseException] = []

    def make(value: str):
        made.append(value)  # make() never runs twice at once: the wrapper is single flight
        return openai.AzureOpenAI(
            azure_ad_token=value,
            azure_endpoint=azure_openai_emulator.endpoint,
            api_version=API_VERSION,
            max_retries=0,
        )

    client = token.rebuild(make)
    start = threading.Barrier(32)

    def work() -> None:
        start.wait()
        try:
            for _ in until_rotated(azure_openai_emulator):
                client.chat.completions.create(model="chat", messages=BODY["messages"])
        except BaseException as exc:  # reported below, with the counts
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seen = azure_openai_emulator.distinct_tokens
    # Whoever builds a client sends with it at once, so every build reaches the server.
    assert (errors, len(made), len(set(made)), client.builds) == ([], seen, seen, seen)
    assert azure_openai_emulator.expired_tokens == 0


def test_export_env_keeps_the_variable_valid_across_rotations(token, azure_openai_emulator):
    """With only the refresher driving refreshes, AZURE_OPENAI_AD_TOKEN never goes stale."""
    openai = pytest.importorskip("openai")
    with token.export_env("AZURE_OPENAI_AD_TOKEN"):
        for _ in until_rotated(azure_openai_emulator):
            # openai reads AZURE_OPENAI_AD_TOKEN when the client is built.
            with openai.AzureOpenAI(
                azure_endpoint=azure_openai_emulator.endpoint,
                api_version=API_VERSION,
                max_retries=0,
            ) as client:
                client.chat.completions.create(model="chat", messages=BODY["messages"])
    n = azure_openai_emulator.requests
    assert served_cleanly(azure_openai_emulator) == (TOKENS, 0, {200: n})


def test_export_env_stop_ends_the_thread_and_removes_the_variable(token):
    """stop() returns with its thread ended, no thread left over, the variable removed."""
    before = set(threading.enumerate())
    refresher = token.export_env("AZURE_OPENAI_AD_TOKEN")
    deadline = time.monotonic() + PATIENCE
    while token.provider.stats.fetches < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # let it cross one rotation first
    refresher.stop()
    # Refreshes the provider itself started in the background finish on their own.
    for thread in set(threading.enumerate()) - before:
        if thread.name == "adapters-token-refresh":
            thread.join(5)
    leftover = sorted(t.name for t in set(threading.enumerate()) - before)
    assert (refresher.running, leftover, "AZURE_OPENAI_AD_TOKEN" in os.environ) == (
        False,
        [],
        False,
    )
