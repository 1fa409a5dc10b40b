"""The Entra ID-shaped token issuer shared by the emulators."""

from __future__ import annotations

from collections.abc import Callable

import jwt
import pytest

from adapters.errors import KeylessError
from adapters.testing._jwt import (
    COGNITIVE_SERVICES_RESOURCE,
    DEFAULT_TENANT_ID,
    OPENAI_USER_ROLE,
    Principal,
    TokenIssuer,
    TokenRejectedError,
    default_issuer,
    resource_from_scope,
    token_fingerprint,
)

NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def issuer() -> TokenIssuer:
    """One RSA key for the module: key generation is the slow part."""
    return TokenIssuer(clock=lambda: NOW)


def test_token_carries_entra_claims(issuer: TokenIssuer) -> None:
    """An app token has aud, iss, tid, oid, appid, iat, nbf, exp, jti and the role."""
    claims = issuer.issue(lifetime=60).claims
    assert claims["aud"] == COGNITIVE_SERVICES_RESOURCE
    assert claims["iss"] == f"https://sts.windows.net/{DEFAULT_TENANT_ID}/"
    assert claims["tid"] == DEFAULT_TENANT_ID
    assert claims["oid"] == Principal().oid
    assert claims["appid"] == Principal().client_id
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (NOW, NOW, NOW + 60)
    assert claims["roles"] == [OPENAI_USER_ROLE]
    assert claims["jti"]


def test_scope_becomes_audience_without_default_suffix(issuer: TokenIssuer) -> None:
    """A scope's `/.default` suffix is dropped from the audience."""
    minted = issuer.issue("https://cognitiveservices.azure.com/.default")
    assert minted.claims["aud"] == "https://cognitiveservices.azure.com"


def test_user_token_has_upn_and_no_app_type(issuer: TokenIssuer) -> None:
    """A user principal's token carries `upn` and `idtyp` user."""
    claims = issuer.issue(principal=Principal.user("ana@contoso.example")).claims
    assert claims["upn"] == "ana@contoso.example"
    assert claims["idtyp"] == "user"


def test_principal_without_role_gets_empty_roles(issuer: TokenIssuer) -> None:
    """`has_role=False` leaves the `roles` claim empty."""
    assert issuer.issue(principal=Principal().without_role()).claims["roles"] == []


def test_tenant_override_sets_tid_and_iss(issuer: TokenIssuer) -> None:
    """An explicit tenant shows in both `tid` and `iss`."""
    claims = issuer.issue(tenant_id="t-2").claims
    assert (claims["tid"], claims["iss"]) == ("t-2", "https://sts.windows.net/t-2/")


def test_every_token_has_a_unique_jti(issuer: TokenIssuer) -> None:
    """Tokens minted back to back differ by `jti` (and so as strings)."""
    minted = [issuer.issue() for _ in range(20)]
    assert len({m.jti for m in minted}) == 20
    assert len({m.token for m in minted}) == 20


def test_header_is_rs256_with_the_issuer_kid(issuer: TokenIssuer) -> None:
    """The JWT header names RS256 and the issuer's key id."""
    header = jwt.get_unverified_header(issuer.issue().token)
    assert (header["alg"], header["kid"]) == ("RS256", issuer.kid)


def test_fractional_lifetime_gives_fractional_exp(issuer: TokenIssuer) -> None:
    """A 1.5 s lifetime yields `exp` = now + 1.5 and a floor for `expires_on_int`."""
    minted = issuer.issue(lifetime=1.5)
    assert minted.expires_on == NOW + 1.5
    assert minted.expires_on_int == int(NOW) + 1


def test_verify_returns_claims(issuer: TokenIssuer) -> None:
    """A fresh token verifies and yields its claims."""
    minted = issuer.issue(lifetime=5)
    assert issuer.verify(minted.token)["jti"] == minted.jti


def test_verify_accepts_any_of_several_audiences(issuer: TokenIssuer) -> None:
    """An audience list accepts a token for any of its members."""
    token = issuer.issue("https://example.test").token
    assert issuer.verify(token, audience=["https://other.test", "https://example.test"])


@pytest.mark.parametrize(
    ("make_token", "now", "reason"),
    [
        (lambda i: None, NOW, "missing"),
        (lambda i: "", NOW, "missing"),
        (lambda i: "not-a-jwt", NOW, "invalid"),
        (lambda i: TokenIssuer().issue().token, NOW, "invalid"),
        (lambda i: i.issue().token[:-4] + "AAAA", NOW, "invalid"),
        (lambda i: i.issue(now=NOW + 10).token, NOW, "invalid"),
        (lambda i: i.issue(lifetime=2).token, NOW + 2, "expired"),
        (lambda i: i.issue(lifetime=2).token, NOW + 3, "expired"),
        (lambda i: i.issue("https://management.azure.com").token, NOW, "audience"),
    ],
    ids=[
        "none",
        "empty",
        "garbage",
        "foreign-key",
        "bad-signature",
        "not-yet-valid",
        "exp-equals-now",
        "expired",
        "wrong-audience",
    ],
)
def test_verify_rejects_with_a_reason(
    issuer: TokenIssuer, make_token: Callable[[TokenIssuer], str | None], now: float, reason: str
) -> None:
    """Each kind of bad token is rejected with its specific reason, with no leeway."""
    with pytest.raises(TokenRejectedError) as caught:
        issuer.verify(make_token(issuer), now=now)
    assert caught.value.reason == reason


def test_rejection_is_a_keyless_error(issuer: TokenIssuer) -> None:
    """`TokenRejectedError` belongs to the package's error hierarchy."""
    with pytest.raises(KeylessError):
        issuer.verify(None)


def test_issued_token_repr_hides_the_token(issuer: TokenIssuer) -> None:
    """Neither the token nor its claims appear in the repr."""
    minted = issuer.issue()
    assert minted.token not in repr(minted)
    assert minted.jti in repr(minted)


def test_issued_counter_counts_tokens() -> None:
    """`issued` counts every minted token."""
    issuer = TokenIssuer()
    issuer.issue()
    issuer.issue()
    assert issuer.issued == 2


def test_default_issuer_is_a_singleton() -> None:
    """`default_issuer()` returns the same issuer every time."""
    assert default_issuer() is default_issuer()


def test_jwks_publishes_the_public_key() -> None:
    """The JWKS verifies the issuer's tokens with a standard JWT library."""
    issuer = default_issuer()
    key = jwt.PyJWK(issuer.jwks()["keys"][0])
    claims = jwt.decode(
        issuer.issue(lifetime=60).token,
        key.key,
        algorithms=["RS256"],
        audience=COGNITIVE_SERVICES_RESOURCE,
    )
    assert claims["tid"] == DEFAULT_TENANT_ID


def test_fingerprint_is_stable_and_hides_the_token() -> None:
    """A fingerprint is deterministic and does not contain the token."""
    assert token_fingerprint("secret-token") == token_fingerprint("secret-token")
    assert "secret-token" not in token_fingerprint("secret-token")


@pytest.mark.parametrize(
    ("scope", "resource"),
    [
        ("https://cognitiveservices.azure.com/.default", "https://cognitiveservices.azure.com"),
        ("https://cognitiveservices.azure.com", "https://cognitiveservices.azure.com"),
    ],
)
def test_resource_from_scope(scope: str, resource: str) -> None:
    """Only a trailing `/.default` is removed."""
    assert resource_from_scope(scope) == resource
