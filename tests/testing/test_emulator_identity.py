"""The App Service managed-identity emulator, driven by the real azure-identity credentials."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.identity import (
    CredentialUnavailableError,
    DefaultAzureCredential,
    ManagedIdentityCredential,
)
from azure.identity.aio import ManagedIdentityCredential as AsyncManagedIdentityCredential

from adapters.testing import ManagedIdentityEmulator, Principal, TokenIssuer
from adapters.testing.identity import API_VERSION

SCOPE = "https://cognitiveservices.azure.com/.default"
RESOURCE = "https://cognitiveservices.azure.com"


@pytest.fixture
def mi(managed_identity_env: ManagedIdentityEmulator) -> ManagedIdentityEmulator:
    """The exported emulator with 2-second tokens, so no credential cache hides a request."""
    managed_identity_env.token_lifetime = 2
    return managed_identity_env


def _raw(mi: ManagedIdentityEmulator, **params: str) -> httpx.Response:
    query = {"api-version": API_VERSION, "resource": RESOURCE, **params}
    return httpx.get(mi.endpoint, params=query, headers={"X-IDENTITY-HEADER": mi.secret})


def _wait_for(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_sync_credential_gets_a_verifiable_token(
    mi: ManagedIdentityEmulator, token_issuer: TokenIssuer
) -> None:
    """The real sync ManagedIdentityCredential gets a token the shared issuer verifies."""
    token = ManagedIdentityCredential().get_token(SCOPE)
    assert token_issuer.verify(token.token)["aud"] == RESOURCE
    assert (mi.requests, mi.tokens_issued, mi.failures) == (1, 1, 0)


async def test_async_credential_gets_a_verifiable_token(
    mi: ManagedIdentityEmulator, token_issuer: TokenIssuer
) -> None:
    """The real azure.identity.aio ManagedIdentityCredential gets a token too."""
    async with AsyncManagedIdentityCredential() as credential:
        token = await credential.get_token(SCOPE)
    assert token_issuer.verify(token.token)["aud"] == RESOURCE
    assert mi.tokens_issued == 1


def test_response_has_the_app_service_shape(mi: ManagedIdentityEmulator) -> None:
    """200 JSON carries access_token, expires_on (floor of exp, as a string) and resource."""
    body = _raw(mi).json()
    exp = mi.issuer.verify(body["access_token"])["exp"]
    assert body["expires_on"] == str(math.floor(exp))
    assert (body["resource"], body["token_type"]) == (RESOURCE, "Bearer")
    assert body["client_id"] == Principal().client_id


def test_credential_expiry_never_exceeds_the_jwt_exp(mi: ManagedIdentityEmulator) -> None:
    """The credential's expires_on is at most the token's `exp` (fractional lifetimes)."""
    mi.token_lifetime = 1.9
    token = ManagedIdentityCredential().get_token(SCOPE)
    assert token.expires_on <= mi.issuer.verify(token.token)["exp"]


def test_sync_credential_fetches_short_tokens_every_time(mi: ManagedIdentityEmulator) -> None:
    """MSAL serves cached tokens only with >5 min left: two calls, two requests."""
    credential = ManagedIdentityCredential()
    credential.get_token(SCOPE)
    credential.get_token(SCOPE)
    assert mi.requests == 2


async def test_async_credential_reuses_a_valid_token(mi: ManagedIdentityEmulator) -> None:
    """The aio credential reuses its token while valid (fetched under 30 s ago)."""
    async with AsyncManagedIdentityCredential() as credential:
        first = await credential.get_token(SCOPE)
        second = await credential.get_token(SCOPE)
    assert first.token == second.token
    assert mi.requests == 1


def test_client_id_selects_a_user_assigned_identity(mi: ManagedIdentityEmulator) -> None:
    """`client_id` reaches the emulator and becomes the token's appid."""
    token = ManagedIdentityCredential(client_id="ua-client").get_token(SCOPE)
    assert mi.issuer.verify(token.token)["appid"] == "ua-client"
    assert mi.requests_by_client_id == {"ua-client": 1}


def test_system_assigned_requests_count_under_none(mi: ManagedIdentityEmulator) -> None:
    """Requests without client_id are counted under the None key."""
    ManagedIdentityCredential().get_token(SCOPE)
    assert mi.requests_by_client_id == {None: 1}


def test_resource_id_is_sent_as_mi_res_id(mi: ManagedIdentityEmulator) -> None:
    """identity_config resource_id arrives as `mi_res_id`."""
    arm_id = "/subscriptions/s/resourcegroups/g/providers/Microsoft.ManagedIdentity/x/id"
    ManagedIdentityCredential(identity_config={"resource_id": arm_id}).get_token(SCOPE)
    assert mi.log[-1].mi_res_id == arm_id


def test_object_id_is_sent_as_object_id(mi: ManagedIdentityEmulator) -> None:
    """identity_config object_id arrives as `object_id` and becomes the token's oid."""
    token = ManagedIdentityCredential(identity_config={"object_id": "obj-1"}).get_token(SCOPE)
    assert mi.log[-1].object_id == "obj-1"
    assert mi.issuer.verify(token.token)["oid"] == "obj-1"


def test_log_records_jti_not_token(mi: ManagedIdentityEmulator) -> None:
    """The request log names the issued token by jti only."""
    token = ManagedIdentityCredential().get_token(SCOPE)
    record = mi.log[-1]
    assert record.jti == mi.issuer.verify(token.token)["jti"]
    assert token.token not in repr(record)


def test_wrong_identity_header_is_401(mi: ManagedIdentityEmulator) -> None:
    """A wrong X-IDENTITY-HEADER gets 401 with the App Service error body."""
    response = httpx.get(
        mi.endpoint,
        params={"api-version": API_VERSION, "resource": RESOURCE},
        headers={"X-IDENTITY-HEADER": "wrong"},
    )
    assert response.status_code == 401
    assert response.json()["statusCode"] == 401


def test_wrong_identity_header_makes_the_credential_unavailable(
    mi: ManagedIdentityEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real credential turns the 401 into CredentialUnavailableError, without retrying."""
    monkeypatch.setenv("IDENTITY_HEADER", "wrong")
    with pytest.raises(CredentialUnavailableError):
        ManagedIdentityCredential().get_token(SCOPE)
    assert (mi.requests, mi.failures) == (1, 1)


@pytest.mark.parametrize(
    ("params", "status"),
    [({"api-version": "2017-09-01"}, 400), ({"resource": ""}, 400)],
    ids=["old-api-version", "no-resource"],
)
def test_malformed_requests_are_400(
    mi: ManagedIdentityEmulator, params: dict[str, str], status: int
) -> None:
    """A wrong api-version or a missing resource gets 400."""
    assert _raw(mi, **params).status_code == status


def test_one_injected_500_costs_one_retry(mi: ManagedIdentityEmulator) -> None:
    """fail_next(1): the credential retries at once and succeeds on the second request."""
    mi.fail_next(1)
    ManagedIdentityCredential().get_token(SCOPE)
    assert (mi.requests, mi.failures, mi.tokens_issued) == (2, 1, 1)


def test_persistent_500_gets_four_requests(mi: ManagedIdentityEmulator) -> None:
    """The sync credential makes 4 requests (3 retries) before giving up."""
    mi.fail_next(10)
    with pytest.raises(CredentialUnavailableError):
        ManagedIdentityCredential(retry_backoff_factor=0).get_token(SCOPE)
    assert (mi.requests, mi.pending_faults) == (4, 6)


async def test_async_persistent_500_gets_four_requests(mi: ManagedIdentityEmulator) -> None:
    """The aio credential also makes 4 requests, then raises ClientAuthenticationError."""
    mi.fail_next(10)
    async with AsyncManagedIdentityCredential(retry_backoff_factor=0) as credential:
        with pytest.raises(ClientAuthenticationError):
            await credential.get_token(SCOPE)
    assert mi.requests == 4


def test_sync_credential_remembers_a_500_for_five_seconds(mi: ManagedIdentityEmulator) -> None:
    """After exhausting retries, MSAL answers the next call from its throttle cache."""
    mi.fail_next(4)
    credential = ManagedIdentityCredential(retry_backoff_factor=0)
    with pytest.raises(CredentialUnavailableError):
        credential.get_token(SCOPE)
    with pytest.raises(CredentialUnavailableError):
        credential.get_token(SCOPE)
    assert (mi.requests, mi.pending_faults) == (4, 0)


def test_throttle_sends_429_with_retry_after(mi: ManagedIdentityEmulator) -> None:
    """throttle_next answers 429 with a Retry-After header and the JSON error body."""
    mi.throttle_next(1, retry_after=3)
    response = _raw(mi)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.json()["statusCode"] == 429


def test_one_429_costs_one_retry(mi: ManagedIdentityEmulator) -> None:
    """A 429 with Retry-After: 0 is retried once and succeeds."""
    mi.throttle_next(1)
    ManagedIdentityCredential().get_token(SCOPE)
    assert (mi.requests, mi.failures, mi.tokens_issued) == (2, 1, 1)


def test_sync_credential_does_not_remember_a_429_with_retry_after_zero(
    mi: ManagedIdentityEmulator,
) -> None:
    """Retry-After: 0 (throttle_next's default) keeps MSAL from caching the failure."""
    mi.throttle_next(4)
    credential = ManagedIdentityCredential(retry_backoff_factor=0)
    with pytest.raises(CredentialUnavailableError):
        credential.get_token(SCOPE)
    credential.get_token(SCOPE)
    assert (mi.requests, mi.tokens_issued) == (5, 1)


def test_concurrent_requests_are_counted_exactly(mi: ManagedIdentityEmulator) -> None:
    """Counters stay exact under concurrent requests."""
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: _raw(mi).status_code, range(40)))
    assert statuses == [200] * 40
    assert (mi.requests, mi.tokens_issued, len(mi.log)) == (40, 40, 40)


def test_retry_total_zero_makes_exactly_one_request(mi: ManagedIdentityEmulator) -> None:
    """retry_total=0 on the credential disables retries."""
    mi.fail_next(1)
    with pytest.raises(CredentialUnavailableError):
        ManagedIdentityCredential(retry_total=0).get_token(SCOPE)
    assert mi.requests == 1


def test_hang_times_out_and_issues_nothing(mi: ManagedIdentityEmulator) -> None:
    """A hung request times out at the client; the emulator issues no token for it."""
    mi.hang_next(1, seconds=30)
    credential = ManagedIdentityCredential(read_timeout=0.2, retry_total=0)
    with pytest.raises(ServiceResponseError):  # ServiceResponseTimeoutError
        credential.get_token(SCOPE)
    _wait_for(lambda: mi.failures == 1)
    assert (mi.requests, mi.failures, mi.tokens_issued) == (1, 1, 0)


def test_hang_then_retry_succeeds(mi: ManagedIdentityEmulator) -> None:
    """One hang costs one retry: the second request gets the token."""
    mi.hang_next(1, seconds=30)
    ManagedIdentityCredential(read_timeout=0.2).get_token(SCOPE)
    assert (mi.requests, mi.tokens_issued) == (2, 1)


def test_short_hang_answers_normally(mi: ManagedIdentityEmulator) -> None:
    """A hang shorter than the client's patience is just a slow success."""
    mi.hang_next(1, seconds=0.05)
    assert _raw(mi).status_code == 200


def test_offline_refuses_connections(mi: ManagedIdentityEmulator) -> None:
    """go_offline() makes the endpoint refuse connections; nothing is counted."""
    mi.go_offline()
    with pytest.raises(ServiceRequestError):
        ManagedIdentityCredential(retry_total=0).get_token(SCOPE)
    assert mi.requests == 0


def test_go_online_serves_on_the_same_port(mi: ManagedIdentityEmulator) -> None:
    """After an outage the endpoint (and IDENTITY_ENDPOINT) is unchanged."""
    endpoint = mi.endpoint
    with mi.offline():
        assert not mi.running
    assert mi.endpoint == endpoint
    ManagedIdentityCredential().get_token(SCOPE)
    assert mi.tokens_issued == 1


def test_principal_without_role_is_reflected_in_tokens(mi: ManagedIdentityEmulator) -> None:
    """A principal without the role gets tokens with empty roles."""
    mi.principal = Principal().without_role()
    token = ManagedIdentityCredential().get_token(SCOPE)
    assert mi.issuer.verify(token.token)["roles"] == []


def test_latency_delays_but_answers(mi: ManagedIdentityEmulator) -> None:
    """With latency set, requests still succeed."""
    mi.latency = 0.05
    ManagedIdentityCredential().get_token(SCOPE)
    assert mi.tokens_issued == 1


def test_environ_names_endpoint_and_header(mi: ManagedIdentityEmulator) -> None:
    """`environ` holds exactly IDENTITY_ENDPOINT and IDENTITY_HEADER."""
    assert mi.environ == {"IDENTITY_ENDPOINT": mi.endpoint, "IDENTITY_HEADER": mi.secret}


def test_reset_restores_settings_counters_and_service(mi: ManagedIdentityEmulator) -> None:
    """reset() restores constructor settings, clears faults and counters, ends an outage."""
    ManagedIdentityCredential().get_token(SCOPE)
    mi.latency = 1
    mi.fail_next(3)
    mi.go_offline()
    mi.reset()
    assert (mi.latency, mi.token_lifetime, mi.pending_faults, mi.requests) == (0, 3600, 0, 0)
    assert mi.running


def test_default_azure_credential_selects_the_emulator(mi: ManagedIdentityEmulator) -> None:
    """Under managed_identity_env, DefaultAzureCredential picks App Service managed identity."""
    DefaultAzureCredential().get_token(SCOPE)
    assert mi.tokens_issued == 1


def test_repr_hides_the_secret(mi: ManagedIdentityEmulator) -> None:
    """The emulator's repr does not show the identity header secret."""
    assert mi.secret not in repr(mi)
