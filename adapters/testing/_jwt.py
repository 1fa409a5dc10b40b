"""An Entra ID-shaped token issuer: RS256 JWTs with the claims Azure OpenAI looks at.

One RSA key per issuer. The managed-identity emulator, the fake CLIs and the Azure OpenAI
emulator share an issuer, so a token minted by one is trusted by the other.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from adapters.errors import KeylessError
from adapters.testing import missing_extra

try:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_extra(exc) from exc

__all__ = [
    "COGNITIVE_SERVICES_RESOURCE",
    "DEFAULT_TENANT_ID",
    "IssuedToken",
    "OPENAI_USER_ROLE",
    "Principal",
    "RejectReason",
    "TokenIssuer",
    "TokenRejectedError",
    "default_issuer",
    "resource_from_scope",
    "token_fingerprint",
]

COGNITIVE_SERVICES_RESOURCE = "https://cognitiveservices.azure.com"
"""The audience of Azure OpenAI tokens (the scope without `/.default`)."""

DEFAULT_TENANT_ID = "72f988bf-0000-4000-8000-00000000cafe"
"""Tenant id of the emulated directory."""

OPENAI_USER_ROLE = "Cognitive Services OpenAI User"
"""The data-plane role the Azure OpenAI emulator requires in the `roles` claim."""

RejectReason = Literal["missing", "invalid", "expired", "audience"]

_JWT_ALGORITHM = "RS256"


def resource_from_scope(scope: str) -> str:
    """Turn an OAuth scope into the resource (audience) it names.

    Args:
        scope: A scope such as `https://cognitiveservices.azure.com/.default`, or a resource.

    Returns:
        The scope without a trailing `/.default`.
    """
    suffix = "/.default"
    return scope[: -len(suffix)] if scope.endswith(suffix) else scope


def token_fingerprint(token: str) -> str:
    """A short, stable, non-reversible identifier for a token, safe to log.

    Args:
        token: Any bearer token string.

    Returns:
        `sha256:` followed by the first 16 hex digits of the token's SHA-256.
    """
    return "sha256:" + hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:16]


@dataclass(frozen=True)
class Principal:
    """Who a token is for.

    Attributes:
        oid: Object id of the principal (the `oid` claim; role assignments target it).
        kind: `"app"` for service principals and managed identities (`appid` claim),
            `"user"` for people signed in with `az login` / `azd auth login` (`upn` claim).
        client_id: Application (client) id, the `appid` claim of app tokens.
        upn: User principal name, the `upn` claim of user tokens.
        name: Display name (the `name` claim of user tokens).
        has_role: Whether the `roles` claim carries "Cognitive Services OpenAI User".
            Set it to False to provoke Azure's 401 `PermissionDenied`.
    """

    oid: str = "00000000-0000-4000-8000-0000000000a1"
    kind: Literal["app", "user"] = "app"
    client_id: str = "00000000-0000-4000-8000-0000000000c1"
    upn: str = "dev@contoso.example"
    name: str = "Dev User"
    has_role: bool = True

    @classmethod
    def user(cls, upn: str = "dev@contoso.example", *, has_role: bool = True) -> Principal:
        """A signed-in developer, as `az login` / `azd auth login` produce.

        Args:
            upn: The user principal name.
            has_role: Whether the data-plane role is granted.

        Returns:
            A user principal with an object id derived from `upn`.
        """
        oid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"user:{upn}"))
        return cls(oid=oid, kind="user", upn=upn, has_role=has_role)

    @classmethod
    def user_assigned(cls, client_id: str, *, has_role: bool = True) -> Principal:
        """A user-assigned managed identity selected by client id.

        Args:
            client_id: The identity's client id.
            has_role: Whether the data-plane role is granted.

        Returns:
            An app principal with an object id derived from `client_id`.
        """
        oid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"mi:{client_id}"))
        return cls(oid=oid, kind="app", client_id=client_id, has_role=has_role)

    def without_role(self) -> Principal:
        """Return a copy of this principal that lacks the data-plane role."""
        return replace(self, has_role=False)


@dataclass(frozen=True)
class IssuedToken:
    """A token minted by a `TokenIssuer`.

    Attributes:
        token: The compact JWT (never shown in `repr`).
        expires_on: The `exp` claim, epoch seconds (may be fractional).
        jti: The token's unique id (safe to log).
        claims: All claims of the token.
    """

    token: str = field(repr=False)
    expires_on: float
    jti: str
    claims: Mapping[str, Any] = field(repr=False)

    @property
    def expires_on_int(self) -> int:
        """`expires_on` rounded down, so a client never believes the token outlives its `exp`."""
        return math.floor(self.expires_on)


class TokenRejectedError(KeylessError):
    """A token failed verification.

    Attributes:
        reason: `"missing"`, `"invalid"` (malformed, bad signature, not yet valid),
            `"expired"` or `"audience"`.
        detail: A short explanation (never the token).
        claims: The token's claims when its signature was valid (reasons `"expired"`,
            `"audience"` and a future `nbf`), else None.
    """

    def __init__(
        self, reason: RejectReason, detail: str, claims: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(f"token rejected ({reason}): {detail}")
        self.reason: RejectReason = reason
        self.detail = detail
        self.claims = claims


class TokenIssuer:
    """Signs Entra ID-shaped access tokens with its own RSA key, and verifies them.

    Tokens look like Entra ID v1 access tokens: `aud` (the resource), `iss`
    (`https://sts.windows.net/<tid>/`), `tid`, `oid`, `sub`, `appid` (apps) or `upn`
    (users), `iat`, `nbf`, `exp`, a unique `jti`, and `roles`.

    Args:
        tenant_id: The default tenant (`tid` claim).
        key_size: RSA key size in bits.
        clock: Returns the current time in epoch seconds; injected for tests.

    Example:
        >>> issuer = TokenIssuer()
        >>> minted = issuer.issue(lifetime=2.0)
        >>> issuer.verify(minted.token)["aud"]
        'https://cognitiveservices.azure.com'
    """

    def __init__(
        self,
        tenant_id: str = DEFAULT_TENANT_ID,
        *,
        key_size: int = 2048,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tenant_id = tenant_id
        self._clock = clock
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
        self._public_key = self._key.public_key()
        numbers = self._public_key.public_numbers()
        n = _b64url_uint(numbers.n)
        e = _b64url_uint(numbers.e)
        # RFC 7638 thumbprint: stable for the key, like Entra's `kid` values.
        thumb = f'{{"e":"{e}","kty":"RSA","n":"{n}"}}'.encode()
        self.kid = base64.urlsafe_b64encode(hashlib.sha256(thumb).digest()).rstrip(b"=").decode()
        self._jwk = {
            "kty": "RSA",
            "use": "sig",
            "alg": _JWT_ALGORITHM,
            "kid": self.kid,
            "n": n,
            "e": e,
        }
        self._serial = itertools.count(1)
        self._lock = threading.Lock()
        self._issued = 0

    def __repr__(self) -> str:
        return f"TokenIssuer(tenant_id={self.tenant_id!r}, kid={self.kid!r})"

    @property
    def issued(self) -> int:
        """How many tokens this issuer has signed."""
        with self._lock:
            return self._issued

    def issuer_url(self, tenant_id: str | None = None) -> str:
        """The `iss` claim for a tenant.

        Args:
            tenant_id: The tenant; the issuer's default tenant when None.

        Returns:
            `https://sts.windows.net/<tenant>/`.
        """
        return f"https://sts.windows.net/{tenant_id or self.tenant_id}/"

    def jwks(self) -> dict[str, Any]:
        """The public signing key as a JSON Web Key Set."""
        return {"keys": [dict(self._jwk)]}

    def issue(
        self,
        resource: str = COGNITIVE_SERVICES_RESOURCE,
        *,
        lifetime: float = 3600.0,
        principal: Principal | None = None,
        tenant_id: str | None = None,
        now: float | None = None,
        extra_claims: Mapping[str, Any] | None = None,
    ) -> IssuedToken:
        """Mint a signed access token.

        Args:
            resource: The audience; a trailing `/.default` is removed.
            lifetime: Seconds until `exp`; fractional values give a fractional `exp`.
            principal: Who the token is for; a default app principal with the role when None.
            tenant_id: The `tid` (and `iss`) tenant; the issuer's default when None.
            now: Issue time in epoch seconds; the issuer's clock when None.
            extra_claims: Claims to add or override.

        Returns:
            The token with its expiry, `jti` and claims.
        """
        principal = principal or Principal()
        tid = tenant_id or self.tenant_id
        issued_at = self._clock() if now is None else now
        exp_value = issued_at + lifetime
        exp: float | int = int(exp_value) if float(exp_value).is_integer() else round(exp_value, 3)
        with self._lock:
            serial = next(self._serial)
            self._issued += 1
        jti = f"{uuid.uuid4().hex[:20]}{serial:06d}"
        claims: dict[str, Any] = {
            "aud": resource_from_scope(resource),
            "iss": self.issuer_url(tid),
            "iat": math.floor(issued_at),
            "nbf": math.floor(issued_at),
            "exp": exp,
            "ver": "1.0",
            "tid": tid,
            "oid": principal.oid,
            "sub": principal.oid,
            "jti": jti,
            "uti": jti,
            "roles": [OPENAI_USER_ROLE] if principal.has_role else [],
        }
        if principal.kind == "app":
            claims.update(appid=principal.client_id, appidacr="2", idtyp="app")
        else:
            claims.update(
                upn=principal.upn,
                unique_name=principal.upn,
                name=principal.name,
                appid="04b07795-8ddb-461a-bbee-02f9e1bf7b46",  # the Azure CLI's public client
                scp="user_impersonation",
                idtyp="user",
            )
        if extra_claims:
            claims.update(extra_claims)
        token = jwt.encode(claims, self._key, algorithm=_JWT_ALGORITHM, headers={"kid": self.kid})
        return IssuedToken(token=token, expires_on=float(exp), jti=jti, claims=claims)

    def verify(
        self,
        token: str | None,
        *,
        audience: str | Iterable[str] = COGNITIVE_SERVICES_RESOURCE,
        now: float | None = None,
    ) -> dict[str, Any]:
        """Check a token's signature, expiry and audience (no leeway).

        Args:
            token: The compact JWT, or None / "" for a missing token.
            audience: The accepted audience or audiences.
            now: The time to check expiry against; the issuer's clock when None.

        Returns:
            The token's claims.

        Raises:
            TokenRejectedError: With `reason` `"missing"`, `"invalid"` (malformed, unknown
                key, bad signature, not yet valid), `"expired"` or `"audience"`.
        """
        if not token:
            raise TokenRejectedError("missing", "no bearer token")
        try:
            header = jwt.get_unverified_header(token)
            if header.get("kid") not in (None, self.kid):
                raise TokenRejectedError("invalid", "signed by an unknown key")
            claims: dict[str, Any] = jwt.decode(
                token,
                self._public_key,
                algorithms=[_JWT_ALGORITHM],
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "require": ["exp", "aud"],
                },
            )
        except jwt.PyJWTError as error:
            raise TokenRejectedError("invalid", type(error).__name__) from None
        current = self._clock() if now is None else now
        nbf = claims.get("nbf")
        if isinstance(nbf, (int, float)) and nbf > current:
            raise TokenRejectedError("invalid", "not valid yet (nbf)", claims)
        exp = claims["exp"]
        if not isinstance(exp, (int, float)) or exp <= current:
            raise TokenRejectedError("expired", "token has expired", claims)
        accepted = {audience} if isinstance(audience, str) else set(audience)
        if claims["aud"] not in accepted:
            message = f"audience {claims['aud']!r} is not accepted"
            raise TokenRejectedError("audience", message, claims)
        return claims


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


_default: TokenIssuer | None = None
_default_lock = threading.Lock()


def default_issuer() -> TokenIssuer:
    """The process-wide issuer used by emulators that are not given one.

    Returns:
        The same `TokenIssuer` on every call (created on first use).
    """
    global _default
    with _default_lock:
        if _default is None:
            _default = TokenIssuer()
        return _default
