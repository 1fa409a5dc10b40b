"""A loopback Azure OpenAI data plane that accepts only Entra ID bearer tokens.

Routes:

- `POST /openai/deployments/{deployment}/chat/completions` (also SSE streaming),
  `/embeddings` and `/completions` (legacy), all requiring `?api-version=`;
- `POST /openai/v1/chat/completions`, `/openai/v1/embeddings`, `/openai/v1/completions`
  (the deployment is the body's `model`) and `GET /openai/v1/models`, no api-version.

Every request is checked in this order, answering as Azure does:

1. an `api-key` header: 400 (counted in `api_key_headers`), whatever else is sent;
2. a missing, malformed, badly signed, expired (counted in `expired_tokens`) or
   wrong-audience bearer token: 401, code `"401"`, with `WWW-Authenticate: Bearer ...`;
3. a token without the "Cognitive Services OpenAI User" role: 401 `PermissionDenied`;
4. a missing `api-version` on the deployment-scoped routes: 400;
5. an unknown deployment: 404 `DeploymentNotFound` (a chat call on an embedding model,
   or the reverse: 400 `OperationNotSupported`);
6. injected faults (`throttle_next`, `fail_next`), consumed only by requests that got
   this far: 429 with `retry-after` and `retry-after-ms`, or a 5xx.

Answers are deterministic: chat replies "Hello from <deployment>! You said: <last user
text>", calls the first (or the forced) tool when `tools` are offered (arguments built
from the tool's JSON schema), and embeddings are unit vectors hashed from the words of
the input (texts that share words get similar vectors).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import re
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from adapters.testing import missing_extra
from adapters.testing._jwt import (
    COGNITIVE_SERVICES_RESOURCE,
    OPENAI_USER_ROLE,
    TokenIssuer,
    TokenRejectedError,
    default_issuer,
    token_fingerprint,
)
from adapters.testing._server import LoopbackServer

try:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_extra(exc) from exc

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "AzureOpenAIEmulator",
    "DEFAULT_DEPLOYMENTS",
    "DEPLOYMENT_NOT_FOUND_MESSAGE",
    "MISSING_API_VERSION_MESSAGE",
    "PERMISSION_DENIED_MESSAGE",
    "RecordedRequest",
    "UNAUTHORIZED_MESSAGE",
]

DEFAULT_DEPLOYMENTS: Mapping[str, str] = {
    "chat": "gpt-4o-mini",
    "embedding": "text-embedding-3-small",
}
"""Deployment name -> model name served when no deployments are given."""

UNAUTHORIZED_MESSAGE = (
    "Unauthorized. Access token is missing, invalid, audience is incorrect "
    "(https://cognitiveservices.azure.com), or have expired."
)
PERMISSION_DENIED_MESSAGE = "Principal does not have access to API/Operation."
DEPLOYMENT_NOT_FOUND_MESSAGE = (
    "The API deployment for this resource does not exist. If you created the deployment "
    "within the last 5 minutes, please wait a moment and try again."
)
MISSING_API_VERSION_MESSAGE = (
    "The api-version query parameter (?api-version=) is required for all requests."
)
_LOG_LIMIT = 10_000
_WORDS = re.compile(r"\w+|[^\w\s]")
_OPERATIONS = {
    "chat/completions": "chatCompletion",
    "completions": "completion",
    "embeddings": "embeddings",
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request the Azure OpenAI emulator answered.

    Attributes:
        method: The HTTP method.
        path: The URL path, e.g. `/openai/deployments/chat/chat/completions`.
        api_version: The `api-version` query parameter, if any.
        deployment: The deployment addressed (path or body `model`), if any.
        status: The HTTP status answered.
        token_id: The bearer token's `jti` (also for expired or wrong-audience tokens
            with a valid signature), else a SHA-256 fingerprint; None when no token was
            sent. Never the token itself.
        oid: The caller's object id when the token verified.
        api_key: Whether an `api-key` header was sent.
        stream: Whether a streamed answer was requested.
    """

    method: str
    path: str
    api_version: str | None
    deployment: str | None
    status: int
    token_id: str | None
    oid: str | None
    api_key: bool
    stream: bool


@dataclass(frozen=True)
class _Fault:
    status: int
    retry_after: float | None


class _Reject(Exception):  # noqa: N818 - internal control flow, never escapes
    def __init__(self, response: Response, token_id: str | None = None) -> None:
        self.response = response
        self.token_id = token_id


class AzureOpenAIEmulator:
    """Azure OpenAI chat completions, embeddings and the v1 surface, on 127.0.0.1.

    Configuration and counters are thread-safe and may change while the server runs.

    Args:
        issuer: Whose tokens are trusted; `default_issuer()` when None. Pass the issuer of
            the identity emulator and fake CLIs (they share the default one unless told).
        deployments: Deployment name -> model name; `DEFAULT_DEPLOYMENTS` when None. A
            model whose name contains "embedding" only serves embeddings.
        latency: Seconds to wait before answering each request.
        audience: The accepted token audience(s).
        embedding_dimensions: Vector length when the request gives no `dimensions`.
        content_filter: Add Azure's `prompt_filter_results` / `content_filter_results`
            (and the first, choice-less stream chunk Azure sends). False gives plain
            OpenAI shapes.
        port: The port to listen on; 0 picks a free one.

    Example:
        >>> with AzureOpenAIEmulator() as aoai:  # doctest: +SKIP
        ...     client = openai.AzureOpenAI(
        ...         azure_endpoint=aoai.endpoint,
        ...         api_version="2024-10-21",
        ...         azure_ad_token_provider=lambda: default_issuer().issue().token,
        ...     )
        ...     client.chat.completions.create(model="chat", messages=[...])
    """

    def __init__(
        self,
        *,
        issuer: TokenIssuer | None = None,
        deployments: Mapping[str, str] | None = None,
        latency: float = 0.0,
        audience: str | Sequence[str] = COGNITIVE_SERVICES_RESOURCE,
        embedding_dimensions: int = 8,
        content_filter: bool = True,
        port: int = 0,
    ) -> None:
        self.issuer = issuer or default_issuer()
        self.audience: tuple[str, ...] = (
            (audience,) if isinstance(audience, str) else tuple(audience)
        )
        self.embedding_dimensions = embedding_dimensions
        self.content_filter = content_filter
        self._initial_deployments = dict(
            DEFAULT_DEPLOYMENTS if deployments is None else deployments
        )
        self._initial_latency = float(latency)
        self._lock = threading.Lock()
        self._deployments = dict(self._initial_deployments)
        self._latency = self._initial_latency
        self._faults: deque[_Fault] = deque()
        self._serial = 0
        self._requests = 0
        self._successes = 0
        self._statuses: dict[int, int] = {}
        self._per_token: dict[str, int] = {}
        self._api_key_headers = 0
        self._expired_tokens = 0
        self._paths: dict[str, int] = {}
        self._log: deque[RecordedRequest] = deque(maxlen=_LOG_LIMIT)
        deployment = "/openai/deployments/{deployment}"
        routes = [
            Route(f"{deployment}/chat/completions", self._deployment_route, methods=["POST"]),
            Route(f"{deployment}/embeddings", self._deployment_route, methods=["POST"]),
            Route(f"{deployment}/completions", self._deployment_route, methods=["POST"]),
            Route("/openai/v1/chat/completions", self._v1_route, methods=["POST"]),
            Route("/openai/v1/embeddings", self._v1_route, methods=["POST"]),
            Route("/openai/v1/completions", self._v1_route, methods=["POST"]),
            Route("/openai/v1/models", self._models_route, methods=["GET"]),
            Route("/{path:path}", self._unknown_route, methods=["GET", "POST", "PUT", "DELETE"]),
        ]
        self._server = LoopbackServer(Starlette(routes=routes), port=port, name="azure-openai")

    def __repr__(self) -> str:
        return f"AzureOpenAIEmulator(endpoint={self.endpoint!r}, requests={self.requests})"

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        """Start listening; returns once requests are accepted."""
        self._server.start()
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

    @property
    def running(self) -> bool:
        """Whether the emulator is listening."""
        return self._server.running

    @property
    def endpoint(self) -> str:
        """`http://127.0.0.1:PORT`: the `azure_endpoint` for `openai.AzureOpenAI`."""
        return self._server.url

    @property
    def v1_base_url(self) -> str:
        """`http://127.0.0.1:PORT/openai/v1/`: the `base_url` for `openai.OpenAI`."""
        return self._server.url + "/openai/v1/"

    @property
    def port(self) -> int:
        """The bound port."""
        return self._server.port

    # -- configuration -----------------------------------------------------------------

    @property
    def deployments(self) -> dict[str, str]:
        """A copy of the deployment name -> model name mapping."""
        with self._lock:
            return dict(self._deployments)

    def add_deployment(self, name: str, model: str) -> None:
        """Serve a new deployment (or change a deployment's model).

        Args:
            name: The deployment name clients address.
            model: The model name reported in answers.
        """
        with self._lock:
            self._deployments[name] = model

    def remove_deployment(self, name: str) -> None:
        """Stop serving a deployment (requests for it get 404 `DeploymentNotFound`).

        Args:
            name: The deployment name.
        """
        with self._lock:
            self._deployments.pop(name, None)

    @property
    def latency(self) -> float:
        """Seconds to wait before answering each request."""
        with self._lock:
            return self._latency

    @latency.setter
    def latency(self, value: float) -> None:
        with self._lock:
            self._latency = float(value)

    def throttle_next(self, count: int = 1, *, retry_after: float = 0.01) -> None:
        """Answer the next `count` otherwise-successful requests with 429.

        Args:
            count: How many requests are throttled (each SDK retry consumes one).
            retry_after: Seconds to ask for: `retry-after-ms` carries it exactly (the
                openai SDK prefers it), `retry-after` rounded up to whole seconds.
        """
        with self._lock:
            self._faults.extend([_Fault(429, retry_after)] * count)

    def fail_next(
        self, count: int = 1, *, status: int = 500, retry_after: float | None = None
    ) -> None:
        """Answer the next `count` otherwise-successful requests with an error status.

        Args:
            count: How many requests fail (each SDK retry consumes one).
            status: The HTTP status (e.g. 500, 503).
            retry_after: Seconds for `retry-after` / `retry-after-ms` (omitted when None).
        """
        with self._lock:
            self._faults.extend([_Fault(status, retry_after)] * count)

    def clear_faults(self) -> None:
        """Drop pending injected faults."""
        with self._lock:
            self._faults.clear()

    @property
    def pending_faults(self) -> int:
        """Injected faults not consumed yet."""
        with self._lock:
            return len(self._faults)

    def reset(self) -> None:
        """Restore constructor settings and zero the counters."""
        with self._lock:
            self._deployments = dict(self._initial_deployments)
            self._latency = self._initial_latency
            self._faults.clear()
            self._reset_counters_locked()

    def reset_counters(self) -> None:
        """Zero every counter and clear the request log."""
        with self._lock:
            self._reset_counters_locked()

    def _reset_counters_locked(self) -> None:
        self._requests = 0
        self._successes = 0
        self._statuses = {}
        self._per_token = {}
        self._api_key_headers = 0
        self._expired_tokens = 0
        self._paths = {}
        self._log.clear()

    # -- counters ----------------------------------------------------------------------

    @property
    def requests(self) -> int:
        """Every request received."""
        with self._lock:
            return self._requests

    @property
    def successes(self) -> int:
        """Requests answered with a 2xx status."""
        with self._lock:
            return self._successes

    @property
    def statuses(self) -> dict[int, int]:
        """Requests per answered status, e.g. `{200: 3, 401: 1}`."""
        with self._lock:
            return dict(self._statuses)

    @property
    def requests_per_token(self) -> dict[str, int]:
        """Requests per bearer token, keyed by `jti` (a fingerprint for unsigned/forged ones)."""
        with self._lock:
            return dict(self._per_token)

    @property
    def distinct_tokens(self) -> int:
        """How many different bearer tokens were presented."""
        with self._lock:
            return len(self._per_token)

    @property
    def api_key_headers(self) -> int:
        """Requests that carried an `api-key` header (all rejected with 400)."""
        with self._lock:
            return self._api_key_headers

    @property
    def expired_tokens(self) -> int:
        """Requests rejected because their token had expired."""
        with self._lock:
            return self._expired_tokens

    @property
    def paths(self) -> dict[str, int]:
        """Requests per URL path."""
        with self._lock:
            return dict(self._paths)

    @property
    def log(self) -> list[RecordedRequest]:
        """The answered requests, oldest first (the last 10,000)."""
        with self._lock:
            return list(self._log)

    # -- request pipeline --------------------------------------------------------------

    async def _deployment_route(self, request: Request) -> Response:
        operation = request.url.path.split("/", 4)[4]
        return await self._handle(request, operation, request.path_params["deployment"], True)

    async def _v1_route(self, request: Request) -> Response:
        operation = request.url.path[len("/openai/v1/") :]
        return await self._handle(request, operation, None, False)

    async def _models_route(self, request: Request) -> Response:
        return await self._handle(request, "models", None, False)

    async def _unknown_route(self, request: Request) -> Response:
        return await self._handle(request, "unknown", None, False)

    async def _handle(
        self, request: Request, operation: str, deployment: str | None, scoped: bool
    ) -> Response:
        raw = await request.body()
        api_version = request.query_params.get("api-version")
        has_api_key = "api-key" in request.headers
        with self._lock:
            self._requests += 1
            self._serial += 1
            serial = self._serial
            self._paths[request.url.path] = self._paths.get(request.url.path, 0) + 1
            if has_api_key:
                self._api_key_headers += 1
            latency = self._latency
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        if not scoped and operation in _OPERATIONS and isinstance(body, dict):
            model = body.get("model")
            deployment = model if isinstance(model, str) else None
        stream = isinstance(body, dict) and body.get("stream") is True
        token_id: str | None = None
        oid: str | None = None

        def finish(response: Response) -> Response:
            with self._lock:
                status = response.status_code
                self._statuses[status] = self._statuses.get(status, 0) + 1
                if 200 <= status < 300:
                    self._successes += 1
                self._log.append(
                    RecordedRequest(
                        request.method,
                        request.url.path,
                        api_version,
                        deployment,
                        status,
                        token_id,
                        oid,
                        has_api_key,
                        stream,
                    )
                )
            response.headers["apim-request-id"] = str(uuid.UUID(int=serial))
            response.headers["x-request-id"] = str(uuid.UUID(int=serial))
            return response

        if latency > 0:
            await self._server.sleep(latency, request)
        try:
            if has_api_key:
                both = "authorization" in request.headers
                raise _Reject(_api_key_rejection(both))
            token_id, claims = self._authenticate(request)
            oid = str(claims.get("oid")) if claims.get("oid") else None
            roles = claims.get("roles")
            if not (isinstance(roles, list) and OPENAI_USER_ROLE in roles):
                raise _Reject(_error(401, "PermissionDenied", PERMISSION_DENIED_MESSAGE))
            if scoped and not api_version:
                raise _Reject(
                    _error(400, "MissingApiVersionParameter", MISSING_API_VERSION_MESSAGE)
                )
            if operation == "models":
                return finish(self._models())
            if operation not in _OPERATIONS:
                raise _Reject(_error(404, "404", "Resource not found"))
            if not isinstance(body, dict):
                raise _Reject(_error(400, "BadRequest", "The request body must be a JSON object."))
            if deployment is None:
                raise _Reject(
                    _error(400, "BadRequest", "The 'model' field (the deployment) is required.")
                )
            with self._lock:
                model = self._deployments.get(deployment)
            if model is None:
                raise _Reject(_error(404, "DeploymentNotFound", DEPLOYMENT_NOT_FOUND_MESSAGE))
            if ("embedding" in model.lower()) != (operation == "embeddings"):
                raise _Reject(_unsupported(operation, model))
            with self._lock:
                fault = self._faults.popleft() if self._faults else None
            if fault is not None:
                raise _Reject(_fault_response(fault, operation, api_version))
            if operation == "embeddings":
                return finish(self._embeddings(body, model))
            if operation == "completions":
                return finish(self._completions(body, deployment, model, serial, stream))
            return finish(self._chat(body, deployment, model, serial, stream))
        except _Reject as rejection:
            token_id = rejection.token_id or token_id
            return finish(rejection.response)

    def _authenticate(self, request: Request) -> tuple[str | None, dict[str, Any]]:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        token_id: str | None = None
        try:
            claims = self.issuer.verify(token or None, audience=self.audience)
        except TokenRejectedError as rejected:
            if token:
                # Signed tokens keep their jti even when expired, so a token is one key.
                jti = (rejected.claims or {}).get("jti")
                token_id = str(jti) if jti else token_fingerprint(token)
                self._count_token(token_id)
            if rejected.reason == "expired":
                with self._lock:
                    self._expired_tokens += 1
            response = _error(401, "401", UNAUTHORIZED_MESSAGE)
            response.headers["WWW-Authenticate"] = self._challenge(rejected.reason)
            raise _Reject(response, token_id) from None
        token_id = str(claims.get("jti") or token_fingerprint(token))
        self._count_token(token_id)
        return token_id, claims

    def _count_token(self, token_id: str) -> None:
        with self._lock:
            self._per_token[token_id] = self._per_token.get(token_id, 0) + 1

    def _challenge(self, reason: str) -> str:
        description = {
            "missing": "The access token is missing",
            "invalid": "The access token is invalid",
            "expired": "The access token has expired",
            "audience": "The audience of the access token is invalid",
        }.get(reason, "The access token is invalid")
        return (
            f'Bearer authorization_uri="https://login.microsoftonline.com/{self.issuer.tenant_id}'
            f'/oauth2/authorize", error="invalid_token", error_description="{description}"'
        )

    # -- operations --------------------------------------------------------------------

    def _models(self) -> Response:
        with self._lock:
            names = sorted(self._deployments)
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": "organization-owner"}
            for name in names
        ]
        return JSONResponse({"object": "list", "data": data})

    def _embeddings(self, body: dict[str, Any], model: str) -> Response:
        items = _embedding_inputs(body.get("input"))
        if items is None:
            return _error(
                400, "BadRequest", "'input' must be a string, a list of strings or token lists."
            )
        dimensions = body.get("dimensions") or self.embedding_dimensions
        if not isinstance(dimensions, int) or dimensions < 1:
            return _error(400, "BadRequest", "'dimensions' must be a positive integer.")
        as_base64 = body.get("encoding_format") == "base64"
        data: list[dict[str, Any]] = []
        tokens = 0
        for index, item in enumerate(items):
            words = (
                _WORDS.findall(item.lower()) if isinstance(item, str) else [str(t) for t in item]
            )
            tokens += len(words)
            vector = _embed(words, dimensions)
            encoded: list[float] | str = (
                base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
                if as_base64
                else vector
            )
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return JSONResponse({"object": "list", "data": data, "model": model, "usage": usage})

    def _completions(
        self, body: dict[str, Any], deployment: str, model: str, serial: int, stream: bool
    ) -> Response:
        prompt = body.get("prompt", "")
        prompts = [prompt] if isinstance(prompt, str) else [str(p) for p in prompt or [""]]
        created = int(time.time())
        ident = f"cmpl-emu{serial:08d}"
        choices = []
        prompt_tokens = completion_tokens = 0
        for index, text in enumerate(prompts):
            answer = f"Hello from {deployment}!"
            prompt_tokens += _count(text)
            completion_tokens += _count(answer)
            choices.append(
                {"text": answer, "index": index, "finish_reason": "stop", "logprobs": None}
            )
        usage = _usage(prompt_tokens, completion_tokens)
        result = {
            "id": ident,
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": choices,
            "usage": usage,
        }
        if not stream:
            return JSONResponse(result)

        async def events() -> AsyncIterator[str]:
            for choice in choices:
                chunk = {**result, "choices": [choice]}
                chunk.pop("usage")
                yield _sse(chunk)
            yield "data: [DONE]\n\n"

        return _stream(events())

    def _chat(
        self, body: dict[str, Any], deployment: str, model: str, serial: int, stream: bool
    ) -> Response:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _error(400, "BadRequest", "'messages' must be a non-empty array.")
        tool, error = _pick_tool(body, messages)
        if error:
            return _error(400, "BadRequest", error)
        prompt_tokens = sum(_count(_text_of(m)) + 3 for m in messages if isinstance(m, dict))
        n = body.get("n") or 1
        if not isinstance(n, int) or n < 1:
            return _error(400, "BadRequest", "'n' must be a positive integer.")
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        created = int(time.time())
        ident = f"chatcmpl-emu{serial:08d}"

        choices: list[dict[str, Any]] = []
        completion_tokens = 0
        for index in range(n):
            if tool is not None:
                name = str(tool.get("name", ""))
                arguments = json.dumps(_example(tool.get("parameters") or {}))
                call_id = f"call_emu{serial:08d}{index:02d}"
                message: dict[str, Any] = {
                    "role": "assistant",
                    "content": None,
                    "refusal": None,
                    "tool_calls": [
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {"name": name, "arguments": arguments},
                        }
                    ],
                }
                finish_reason = "tool_calls"
                completion_tokens += _count(name) + _count(arguments)
            else:
                content = _reply(deployment, messages, body.get("response_format"))
                finish_reason = "stop"
                if isinstance(limit, int) and limit > 0:
                    words = content.split(" ")
                    if len(words) > limit:
                        content, finish_reason = " ".join(words[:limit]), "length"
                message = {"role": "assistant", "content": content, "refusal": None}
                completion_tokens += _count(content)
            choice: dict[str, Any] = {
                "index": index,
                "message": message,
                "finish_reason": finish_reason,
                "logprobs": None,
            }
            if self.content_filter:
                choice["content_filter_results"] = _filter_results() if tool is None else {}
            choices.append(choice)
        result: dict[str, Any] = {
            "id": ident,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": choices,
            "usage": _usage(prompt_tokens, completion_tokens),
            "system_fingerprint": "fp_emulator",
        }
        if self.content_filter:
            result["prompt_filter_results"] = [
                {"prompt_index": 0, "content_filter_results": _filter_results()}
            ]
        if not stream:
            return JSONResponse(result)
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        return _stream(self._chat_events(result, include_usage))

    async def _chat_events(self, result: dict[str, Any], include_usage: bool) -> AsyncIterator[str]:
        base = {
            "id": result["id"],
            "object": "chat.completion.chunk",
            "created": result["created"],
            "model": result["model"],
            "system_fingerprint": result["system_fingerprint"],
        }
        extra: dict[str, Any] = {"usage": None} if include_usage else {}
        if self.content_filter:
            # Azure opens a stream with a choice-less chunk carrying the prompt filter.
            yield _sse(
                {
                    **base,
                    "model": "",
                    "choices": [],
                    "prompt_filter_results": result["prompt_filter_results"],
                }
            )
        for choice in result["choices"]:
            index = choice["index"]
            message = choice["message"]

            def chunk(delta: dict[str, Any], finish: str | None = None, idx: int = index) -> str:
                body = {"index": idx, "delta": delta, "finish_reason": finish, "logprobs": None}
                return _sse({**base, "choices": [body], **extra})

            if message.get("tool_calls"):
                call = message["tool_calls"][0]
                head = {
                    "index": 0,
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""},
                }
                yield chunk({"role": "assistant", "content": None, "tool_calls": [head]})
                arguments = call["function"]["arguments"]
                for start in range(0, len(arguments), 8):
                    piece = {"index": 0, "function": {"arguments": arguments[start : start + 8]}}
                    yield chunk({"tool_calls": [piece]})
            else:
                yield chunk({"role": "assistant", "content": "", "refusal": None})
                for piece in re.findall(r"\S+\s*", message["content"]):
                    yield chunk({"content": piece})
                    await asyncio.sleep(0)
            yield chunk({}, choice["finish_reason"])
        if include_usage:
            yield _sse({**base, "choices": [], "usage": result["usage"]})
        yield "data: [DONE]\n\n"


def _api_key_rejection(with_bearer: bool) -> JSONResponse:
    if with_bearer:
        message = "Either API-KEY or Authorization header must be provided but not both."
        return _error(400, "400", message)
    return _error(
        400, "AuthenticationTypeDisabled", "Key based authentication is disabled for this resource."
    )


def _unsupported(operation: str, model: str) -> JSONResponse:
    name = _OPERATIONS[operation]
    message = (
        f"The {name} operation does not work with the specified model, {model}. Please choose "
        "different model and try again. You can learn more about which models can be used "
        "with each operation here: https://go.microsoft.com/fwlink/?linkid=2197993."
    )
    return _error(400, "OperationNotSupported", message)


def _fault_response(fault: _Fault, operation: str, api_version: str | None) -> JSONResponse:
    headers: dict[str, str] = {}
    if fault.retry_after is not None:
        headers["retry-after"] = str(max(0, math.ceil(fault.retry_after)))
        headers["retry-after-ms"] = str(max(0, round(fault.retry_after * 1000)))
    if fault.status == 429:
        seconds = headers.get("retry-after", "1")
        message = (
            f"Requests to the {_OPERATIONS.get(operation, operation)} Operation under Azure OpenAI "
            f"API version {api_version or 'v1'} have exceeded call rate limit of your current "
            f"OpenAI S0 pricing tier. Please retry after {seconds} second."
        )
        return _error(429, "429", message, headers)
    return _error(
        fault.status, "InternalServerError", "The server had an error (injected).", headers
    )


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers=headers)


def _sse(payload: Mapping[str, Any]) -> str:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n"


def _stream(events: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        events, media_type="text/event-stream", headers={"cache-control": "no-cache"}
    )


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _filter_results() -> dict[str, Any]:
    safe = {"filtered": False, "severity": "safe"}
    return {"hate": safe, "self_harm": safe, "sexual": safe, "violence": safe}


def _count(text: str) -> int:
    return len(_WORDS.findall(text))


def _text_of(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict)]
        return " ".join(str(p) for p in parts)
    return ""


def _reply(deployment: str, messages: list[Any], response_format: Any) -> str:
    last = next(
        (
            m
            for m in reversed(messages)
            if isinstance(m, dict) and m.get("role") in ("user", "tool")
        ),
        None,
    )
    said = _text_of(last) if last is not None else ""
    if last is not None and last.get("role") == "tool":
        text = f"Hello from {deployment}! The tool said: {said}"
    else:
        text = f"Hello from {deployment}! You said: {said}" if said else f"Hello from {deployment}!"
    if isinstance(response_format, dict):
        kind = response_format.get("type")
        if kind == "json_schema":
            spec = response_format.get("json_schema") or {}
            return json.dumps(_example(spec.get("schema") or {}))
        if kind == "json_object":
            return json.dumps({"message": text})
    return text


def _pick_tool(body: Mapping[str, Any], messages: list[Any]) -> tuple[dict[str, Any] | None, str]:
    """Which function to call, if any; returns (function spec, error message)."""
    tools = body.get("tools") or []
    functions = [
        t["function"]
        for t in tools
        if isinstance(t, dict)
        and t.get("type") == "function"
        and isinstance(t.get("function"), dict)
    ]
    choice = body.get("tool_choice", "auto")
    if not functions or choice == "none":
        return None, ""
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name")
        for function in functions:
            if function.get("name") == wanted:
                return function, ""
        return None, f"tool_choice names an unknown function: {wanted!r}"
    last = messages[-1] if messages else None
    if choice != "required" and isinstance(last, dict) and last.get("role") == "tool":
        return None, ""  # answer the tool's result in words, or agent loops never end
    return functions[0], ""


def _example(schema: Any, root: Any = None, depth: int = 0) -> Any:
    """A value matching a JSON schema: strings "x", numbers 1, booleans true, enums first."""
    root = schema if root is None else root
    if not isinstance(schema, dict) or depth > 16:
        return "x"
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return _example(target, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            usable = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            return _example((usable or options)[0], root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        properties = schema.get("properties") or {}
        return {name: _example(sub, root, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        items = schema.get("items")
        return [_example(items, root, depth + 1)] if isinstance(items, dict) else []
    return {"integer": 1, "number": 1, "boolean": True, "null": None}.get(str(kind), "x")


def _embedding_inputs(value: Any) -> list[str | list[int]] | None:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value:
        return None
    if all(isinstance(v, int) for v in value):
        return [list(value)]
    items: list[str | list[int]] = []
    for item in value:
        if isinstance(item, str):
            items.append(item)
        elif isinstance(item, list) and all(isinstance(v, int) for v in item):
            items.append(list(item))
        else:
            return None
    return items


def _embed(words: Iterable[str], dimensions: int) -> list[float]:
    """Feature-hash the words into a unit vector: shared words give similar vectors."""
    vector = [0.0] * dimensions
    for word in list(words) or [""]:
        digest = hashlib.sha256(word.encode()).digest()
        while len(digest) < 2 * dimensions:
            digest += hashlib.sha256(digest).digest()
        for i in range(dimensions):
            vector[i] += int.from_bytes(digest[2 * i : 2 * i + 2], "big") / 32767.5 - 1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [round(v / norm, 6) for v in vector]
