"""A loopback App Service managed-identity endpoint for the real `ManagedIdentityCredential`.

Speaks the protocol azure-identity 1.27 uses when `IDENTITY_ENDPOINT` and `IDENTITY_HEADER`
are set (App Service, Functions, Container Apps), for both the sync credential (through
MSAL) and `azure.identity.aio`::

    GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=<scope without /.default>
        [&client_id=<id> | &mi_res_id=<ARM id> | &object_id=<id>]
    X-IDENTITY-HEADER: {IDENTITY_HEADER}

    200 {"access_token", "expires_on": "<epoch, string>", "resource", "token_type", "client_id"}
    4xx/5xx {"statusCode": N, "message": "..."}

Retries the real credentials make (measured with azure-identity 1.27, azure-core 1.41 and
msal 1.39 against this emulator; sync and aio behave the same unless noted):

- 500/502/503/504 and 429: azure-core's `RetryPolicy` retries 3 times, so one `get_token`
  makes up to **4 requests**, sleeping about 0 s, 1.6 s and 3.2 s before retries 1-3
  (4.85 s in all). A `Retry-After` header replaces the back-off, but `Retry-After: 0`
  counts as absent. So `fail_next(1)` costs one extra request and no sleep;
  `fail_next(2)` costs 1.6 s. When all 4 fail: `CredentialUnavailableError` (sync) or
  `ClientAuthenticationError` (aio).
- After that, the **sync** credential's MSAL layer remembers the failed answer for
  `Retry-After` seconds (5 s without the header) and fails again *without a request*;
  `throttle_next()` sends `Retry-After: 0`, which MSAL does not cache. aio has no such
  throttle. The cache lives in the credential instance.
- A hang longer than the client's read timeout is a read error, retried the same way
  (4 requests, then `ServiceResponseTimeoutError`). The default read timeout is 300 s;
  `ManagedIdentityCredential(read_timeout=0.3)` shortens it. The emulator notices the
  client leaving and issues no token for that request (it counts as a failure).
- Connection refused (`go_offline()`): also 3 retries with the same back-off (4.8 s),
  then `ServiceRequestError`; those attempts never reach the emulator's counters.
- 401 (wrong `X-IDENTITY-HEADER`) and 400 are not retried: `CredentialUnavailableError`
  (sync) or `ClientAuthenticationError` (aio).
- The credentials pass pipeline keywords through: `ManagedIdentityCredential(
  retry_backoff_factor=0)` keeps the 4 requests but drops the sleeps, `retry_total=0`
  makes exactly one request. Handy for fast, exact tests.

Caching seen from the emulator: the sync credential (MSAL) serves a cached token only
while more than 5 minutes remain, so short-lived tokens reach the emulator on every
`get_token`; the aio credential reuses its cached token until `int(now) >= expires_on`
if it fetched less than 30 s before.
"""

from __future__ import annotations

import contextlib
import math
import secrets
import threading
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

from adapters.testing import missing_extra
from adapters.testing._jwt import Principal, TokenIssuer, default_issuer
from adapters.testing._server import LoopbackServer

try:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_extra(exc) from exc

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "IdentityRequest",
    "ManagedIdentityEmulator",
]

API_VERSION = "2019-08-01"
_LOG_LIMIT = 10_000


@dataclass(frozen=True)
class IdentityRequest:
    """One request the managed-identity emulator answered.

    Attributes:
        resource: The `resource` query parameter ("" when missing).
        client_id: The `client_id` selector, if any.
        mi_res_id: The `mi_res_id` (ARM resource id) selector, if any.
        object_id: The `object_id` selector, if any.
        status: The HTTP status answered; 499 when the client left (timed out) during
            a hang or latency, so no answer was sent.
        jti: The issued token's `jti` on success (never the token itself).
    """

    resource: str
    client_id: str | None
    mi_res_id: str | None
    object_id: str | None
    status: int
    jti: str | None


@dataclass(frozen=True)
class _Fault:
    kind: str  # "status" or "hang"
    status: int = 500
    retry_after: float | None = None
    seconds: float = 0.0
    message: str = ""


class ManagedIdentityEmulator:
    """The App Service managed-identity endpoint, on 127.0.0.1.

    Configuration and counters are thread-safe and may change while the server runs.

    Args:
        issuer: Signs the tokens; the process-wide `default_issuer()` when None. Give the
            Azure OpenAI emulator the same issuer so it trusts these tokens.
        secret: The expected `X-IDENTITY-HEADER` value (`IDENTITY_HEADER`); random if None.
        token_lifetime: Seconds each token lives (fractional values are fine).
        latency: Seconds to wait before answering each request.
        principal: The system-assigned identity. User-assigned identities selected by
            `client_id` get a principal derived from it (same role setting).
        tenant_id: The `tid` of issued tokens; the issuer's tenant when None.
        port: The port to listen on; 0 picks a free one.
        path: The URL path of the token endpoint.

    Example:
        >>> with ManagedIdentityEmulator(token_lifetime=2) as mi:  # doctest: +SKIP
        ...     os.environ.update(mi.environ)
        ...     ManagedIdentityCredential().get_token("https://cognitiveservices.azure.com/.default")
    """

    def __init__(
        self,
        *,
        issuer: TokenIssuer | None = None,
        secret: str | None = None,
        token_lifetime: float = 3600.0,
        latency: float = 0.0,
        principal: Principal | None = None,
        tenant_id: str | None = None,
        port: int = 0,
        path: str = "/msi/token",
    ) -> None:
        self.issuer = issuer or default_issuer()
        self.secret = secret or secrets.token_urlsafe(16)
        self.tenant_id = tenant_id
        self.path = path
        self._initial = (float(token_lifetime), float(latency), principal or Principal())
        self._lock = threading.Lock()
        self._token_lifetime, self._latency, self._principal = self._initial
        self._faults: deque[_Fault] = deque()
        self._requests = 0
        self._tokens_issued = 0
        self._failures = 0
        self._by_client_id: dict[str | None, int] = {}
        self._log: deque[IdentityRequest] = deque(maxlen=_LOG_LIMIT)
        app = Starlette(routes=[Route(path, self._token, methods=["GET"])])
        self._server = LoopbackServer(app, port=port, name="managed-identity")
        self._offline = False

    def __repr__(self) -> str:
        return f"ManagedIdentityEmulator(endpoint={self.endpoint!r}, requests={self.requests})"

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        """Start listening; returns once requests are accepted."""
        self._server.start()
        self._offline = False
        return self

    def stop(self) -> None:
        """Stop listening and close connections (idempotent)."""
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def go_offline(self) -> None:
        """Start a "connection refused" outage: stop listening, keep the port for later."""
        self._offline = True
        self._server.stop()

    def go_online(self) -> None:
        """End an outage: listen again on the same port."""
        self._server.start()
        self._offline = False

    @contextlib.contextmanager
    def offline(self) -> Iterator[None]:
        """Context manager: connections are refused inside the block."""
        self.go_offline()
        try:
            yield
        finally:
            self.go_online()

    @property
    def running(self) -> bool:
        """Whether the endpoint is listening."""
        return self._server.running

    # -- addresses ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`."""
        return self._server.url

    @property
    def port(self) -> int:
        """The bound port."""
        return self._server.port

    @property
    def endpoint(self) -> str:
        """The token endpoint URL, the value of `IDENTITY_ENDPOINT`."""
        return self._server.url + self.path

    @property
    def environ(self) -> dict[str, str]:
        """`IDENTITY_ENDPOINT` and `IDENTITY_HEADER`, ready to export."""
        return {"IDENTITY_ENDPOINT": self.endpoint, "IDENTITY_HEADER": self.secret}

    # -- configuration -----------------------------------------------------------------

    @property
    def token_lifetime(self) -> float:
        """Seconds each issued token lives."""
        with self._lock:
            return self._token_lifetime

    @token_lifetime.setter
    def token_lifetime(self, value: float) -> None:
        with self._lock:
            self._token_lifetime = float(value)

    @property
    def latency(self) -> float:
        """Seconds to wait before answering each request."""
        with self._lock:
            return self._latency

    @latency.setter
    def latency(self, value: float) -> None:
        with self._lock:
            self._latency = float(value)

    @property
    def principal(self) -> Principal:
        """The system-assigned identity (its `has_role` also applies to user-assigned ones)."""
        with self._lock:
            return self._principal

    @principal.setter
    def principal(self, value: Principal) -> None:
        with self._lock:
            self._principal = value

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 500,
        retry_after: float | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next `count` requests with an error status.

        Each request (including the credential's own retries) consumes one failure, so
        counts stay exact: see the module docstring for how many retries to expect.

        Args:
            count: How many requests fail.
            status: The HTTP status, e.g. 500, 503 or 429.
            retry_after: Seconds for a `Retry-After` header (omitted when None).
            message: The `message` of the JSON error body.
        """
        fault = _Fault(
            "status",
            status=status,
            retry_after=retry_after,
            message=message or f"Injected failure (HTTP {status}) from the emulator.",
        )
        with self._lock:
            self._faults.extend([fault] * count)

    def throttle_next(self, count: int = 1, *, retry_after: float = 0) -> None:
        """Answer the next `count` requests with 429 and a `Retry-After` header.

        Args:
            count: How many requests are throttled.
            retry_after: The `Retry-After` value in seconds. 0 keeps retries fast (azure-core
                then uses its own back-off and MSAL does not throttle).
        """
        self.fail_next(
            count, status=429, retry_after=retry_after, message="Too many requests (emulated)."
        )

    def hang_next(self, count: int = 1, *, seconds: float = 5.0) -> None:
        """Delay the next `count` requests by `seconds` (then answer normally).

        A client whose read timeout is shorter sees a timeout. A hung request ends early
        when the emulator stops or goes offline.

        Args:
            count: How many requests hang.
            seconds: How long each one hangs.
        """
        with self._lock:
            self._faults.extend([_Fault("hang", seconds=seconds)] * count)

    def clear_faults(self) -> None:
        """Drop all pending injected failures and hangs."""
        with self._lock:
            self._faults.clear()

    @property
    def pending_faults(self) -> int:
        """Injected failures and hangs not consumed yet."""
        with self._lock:
            return len(self._faults)

    def reset(self) -> None:
        """Restore constructor settings, clear faults and counters, and end any outage."""
        with self._lock:
            self._token_lifetime, self._latency, self._principal = self._initial
            self._faults.clear()
            self._reset_counters_locked()
        if self._offline:
            self.go_online()

    def reset_counters(self) -> None:
        """Zero every counter and clear the request log."""
        with self._lock:
            self._reset_counters_locked()

    def _reset_counters_locked(self) -> None:
        self._requests = 0
        self._tokens_issued = 0
        self._failures = 0
        self._by_client_id = {}
        self._log.clear()

    # -- counters ----------------------------------------------------------------------

    @property
    def requests(self) -> int:
        """Requests received on the token path (refused connections are not seen)."""
        with self._lock:
            return self._requests

    @property
    def tokens_issued(self) -> int:
        """Successful (200) answers."""
        with self._lock:
            return self._tokens_issued

    @property
    def failures(self) -> int:
        """Non-200 outcomes: injected failures, 400/401 errors and abandoned (499) requests."""
        with self._lock:
            return self._failures

    @property
    def requests_by_client_id(self) -> dict[str | None, int]:
        """Requests per `client_id` query value (None: no `client_id`, e.g. system-assigned)."""
        with self._lock:
            return dict(self._by_client_id)

    @property
    def log(self) -> list[IdentityRequest]:
        """The answered requests, oldest first (the last 10,000)."""
        with self._lock:
            return list(self._log)

    # -- the endpoint ------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        query = request.query_params
        resource = query.get("resource", "")
        client_id = query.get("client_id")
        mi_res_id = query.get("mi_res_id")
        object_id = query.get("object_id")
        with self._lock:
            self._requests += 1
            self._by_client_id[client_id] = self._by_client_id.get(client_id, 0) + 1
            latency = self._latency
            fault = self._faults.popleft() if self._faults else None

        def finish(status: int, jti: str | None = None) -> None:
            record = IdentityRequest(resource, client_id, mi_res_id, object_id, status, jti)
            with self._lock:
                self._log.append(record)
                if status == 200:
                    self._tokens_issued += 1
                else:
                    self._failures += 1

        delay = latency + (fault.seconds if fault is not None and fault.kind == "hang" else 0.0)
        if fault is not None and fault.kind == "hang":
            fault = None
        if delay > 0 and await self._server.sleep(delay, request):
            # The client gave up (timeout) or the server is stopping: nobody reads an
            # answer, so issue nothing and count a failure (status 499, "client closed").
            finish(499)
            return Response(status_code=503)
        if fault is not None:
            finish(fault.status)
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = _number(fault.retry_after)
            return _error(fault.status, fault.message, headers)
        if request.headers.get("x-identity-header") != self.secret:
            finish(401)
            return _error(401, "Unauthorized: the X-IDENTITY-HEADER header is missing or wrong.")
        if query.get("api-version") != API_VERSION:
            finish(400)
            return _error(400, f"The api-version must be {API_VERSION}.")
        if not resource:
            finish(400)
            return _error(400, "The resource query parameter is required.")
        if sum(value is not None for value in (client_id, mi_res_id, object_id)) > 1:
            finish(400)
            return _error(400, "Only one of client_id, mi_res_id and object_id may be given.")

        with self._lock:
            lifetime, principal = self._token_lifetime, self._principal
        if client_id is not None:
            principal = Principal.user_assigned(client_id, has_role=principal.has_role)
        elif mi_res_id is not None or object_id is not None:
            # A user-assigned identity named another way: stable ids derived from the name.
            selector = mi_res_id or object_id or ""
            principal = Principal(
                oid=object_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"mi-object:{selector}")),
                kind="app",
                client_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"mi-client:{selector}")),
                has_role=principal.has_role,
            )
        minted = self.issuer.issue(
            resource, lifetime=lifetime, principal=principal, tenant_id=self.tenant_id
        )
        finish(200, minted.jti)
        return JSONResponse(
            {
                "access_token": minted.token,
                # Rounded down: a client must never believe the token outlives its exp.
                "expires_on": str(math.floor(minted.expires_on)),
                "resource": minted.claims["aud"],
                "token_type": "Bearer",
                "client_id": principal.client_id,
            }
        )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"statusCode": status, "message": message}, status, headers=headers)
