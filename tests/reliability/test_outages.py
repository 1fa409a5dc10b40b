"""Identity endpoint outages: invisible while a token is cached, clear and self-healing after.

The credential is the real ``ManagedIdentityCredential`` talking to the managed-identity
emulator, wired as ``get_provider`` wires it, with fast retries (``mi_provider``; see
``conftest.py``). The test moves the shared clock to reach the advisory window or expiry.
Requests go through ``openai.AzureOpenAI`` with SDK retries off.

Outages: HTTP 500, HTTP 429 with ``Retry-After``, a hang past the read timeout, and
connection refused (the endpoint stops listening). After an outage, the sync credential's
MSAL layer keeps answering the failure it saw, without a request, for ``Retry-After``
seconds (5 s for a 500 without the header): recovery waits for that, with no restart.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from adapters import TokenRefreshError
from tests.reliability.support import CHAT, MESSAGES, wait_for

ADVISORY = 130.0  # past refresh_at (expiry - 120 s), before must_refresh_at (expiry - 24 s)
PAST_EXPIRY = 250.0
REQUESTS = 20
OUTAGES = ("http-500", "http-429-retry-after", "timeout", "connection-refused")


def _outage(mi, kind: str) -> Callable[[], None]:
    """Start an outage of the given kind; returns the function that ends it."""
    if kind == "http-500":
        mi.fail_next(1_000, status=500)
    elif kind == "http-429-retry-after":
        mi.fail_next(1_000, status=429, retry_after=1)
    elif kind == "timeout":
        mi.hang_next(1_000, seconds=5.0)
    else:
        mi.go_offline()
        return mi.go_online
    return mi.clear_faults


def _chat(client) -> None:
    client.chat.completions.create(model=CHAT, messages=MESSAGES)


@pytest.mark.parametrize("kind", OUTAGES)
def test_outage_with_a_cached_token_fails_no_request(
    kind, mi_provider, chat_client, clock, clocked_identity, clocked_openai
):
    """During an outage in the advisory window, every request succeeds on the cached token."""
    mi, aoai, provider, client = clocked_identity, clocked_openai, mi_provider, chat_client
    _chat(client)
    end = _outage(mi, kind)
    clock.advance(ADVISORY)

    for _ in range(REQUESTS):
        _chat(client)
    wait_for(lambda: provider.stats.failures >= 1, "the background refresh to fail")
    for _ in range(REQUESTS):
        _chat(client)
    end()

    assert aoai.statuses == {200: 2 * REQUESTS + 1}
    assert aoai.distinct_tokens == 1
    assert aoai.expired_tokens == 0
    assert provider.stats.failures >= 1
    assert "ManagedIdentityCredential" in (provider.stats.last_error or "")


@pytest.mark.parametrize("kind", OUTAGES)
def test_outage_past_expiry_raises_then_recovers_by_itself(
    kind, chat_client, clock, clocked_identity, clocked_openai
):
    """Past expiry an outage raises TokenRefreshError naming the credential, then heals."""
    mi, aoai, client = clocked_identity, clocked_openai, chat_client
    _chat(client)
    end = _outage(mi, kind)
    clock.advance(PAST_EXPIRY)

    with pytest.raises(TokenRefreshError, match="ManagedIdentityCredential could not get a token"):
        _chat(client)
    assert aoai.requests == 1  # the expired token was never sent
    end()

    recovered = []

    def request_succeeds() -> bool:
        try:
            _chat(client)
        except TokenRefreshError:
            return False  # MSAL still replays the outage (Retry-After / 5 s)
        recovered.append(True)
        return True

    wait_for(request_succeeds, "requests to succeed again after the outage", interval=0.05)
    assert recovered == [True]
    assert aoai.statuses == {200: 2}
    assert aoai.distinct_tokens == 2
    assert aoai.expired_tokens == 0


@pytest.mark.parametrize(("kind", "status"), [("http-500", "500"), ("http-429-retry-after", "429")])
def test_http_error_from_the_identity_endpoint_is_not_blamed_on_configuration(
    kind, status, mi_provider, clock, clocked_identity
):
    """An HTTP error from a working identity endpoint is reported as such, not as a setup fault."""
    mi_provider()
    _outage(clocked_identity, kind)
    clock.advance(PAST_EXPIRY)

    with pytest.raises(TokenRefreshError) as failure:
        mi_provider()

    message = str(failure.value)
    assert "not available in this environment" not in message
    assert "assign a managed identity" not in message
    assert status in message
