"""The Azure OpenAI emulator, driven by the real openai SDK with Entra ID tokens."""

from __future__ import annotations

import base64
import json
import math
import struct
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from azure.identity import AzureCliCredential, ManagedIdentityCredential, get_bearer_token_provider

from adapters.testing import (
    AzureOpenAIEmulator,
    FakeAzureCli,
    ManagedIdentityEmulator,
    Principal,
    TokenIssuer,
)
from adapters.testing.azure_openai import (
    DEPLOYMENT_NOT_FOUND_MESSAGE,
    PERMISSION_DENIED_MESSAGE,
    UNAUTHORIZED_MESSAGE,
)

API_VERSION = "2024-10-21"
SCOPE = "https://cognitiveservices.azure.com/.default"
HELLO = [{"role": "user", "content": "hi there"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "metric": {"type": "boolean"},
                "unit": {"enum": ["celsius", "fahrenheit"]},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
        },
    },
}
WEATHER_ARGS = {"city": "x", "days": 1, "metric": True, "unit": "celsius", "tags": ["x"]}
TIME_TOOL = {"type": "function", "function": {"name": "get_time", "parameters": {}}}


@pytest.fixture
def provider(token_issuer: TokenIssuer) -> Callable[[], str]:
    """A token provider minting a fresh 60-second token per call, like openai expects."""
    return lambda: token_issuer.issue(lifetime=60).token


@pytest.fixture
def client(
    azure_openai_emulator: AzureOpenAIEmulator, provider: Callable[[], str]
) -> openai.AzureOpenAI:
    """A keyless AzureOpenAI client pointed at the emulator."""
    return openai.AzureOpenAI(
        azure_endpoint=azure_openai_emulator.endpoint,
        api_version=API_VERSION,
        azure_ad_token_provider=provider,
        max_retries=2,
    )


def _post(
    emulator: AzureOpenAIEmulator, path: str, headers: dict[str, str], **body: Any
) -> httpx.Response:
    return httpx.post(emulator.endpoint + path, json=body or {"messages": HELLO}, headers=headers)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


CHAT = f"/openai/deployments/chat/chat/completions?api-version={API_VERSION}"


# -- chat ----------------------------------------------------------------------------


def test_chat_answers_deterministically(
    client: openai.AzureOpenAI, azure_openai_emulator: AzureOpenAIEmulator
) -> None:
    """A keyless chat call gets the echo answer, the model name and usage."""
    result = client.chat.completions.create(model="chat", messages=HELLO)
    assert result.choices[0].message.content == "Hello from chat! You said: hi there"
    assert (result.model, result.choices[0].finish_reason) == ("gpt-4o-mini", "stop")
    assert result.usage is not None
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens
    assert azure_openai_emulator.statuses == {200: 1}


async def test_async_chat_answers(
    azure_openai_emulator: AzureOpenAIEmulator, token_issuer: TokenIssuer
) -> None:
    """AsyncAzureOpenAI with an async token provider gets the same answer."""

    async def provide() -> str:
        return token_issuer.issue(lifetime=60).token

    client = openai.AsyncAzureOpenAI(
        azure_endpoint=azure_openai_emulator.endpoint,
        api_version=API_VERSION,
        azure_ad_token_provider=provide,
    )
    result = await client.chat.completions.create(model="chat", messages=HELLO)
    assert result.choices[0].message.content == "Hello from chat! You said: hi there"


def test_streamed_chat_matches_the_plain_answer(client: openai.AzureOpenAI) -> None:
    """Streaming yields the same text in chunk.choices deltas, ending with finish_reason."""
    chunks = list(client.chat.completions.create(model="chat", messages=HELLO, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from chat! You said: hi there"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.object == "chat.completion.chunk" for c in chunks)


def test_stream_opens_with_azure_prompt_filter_chunk(client: openai.AzureOpenAI) -> None:
    """Like Azure, the first chunk has no choices and carries prompt_filter_results."""
    first = next(iter(client.chat.completions.create(model="chat", messages=HELLO, stream=True)))
    assert first.choices == []
    assert first.model_extra is not None
    assert "prompt_filter_results" in first.model_extra


def test_stream_include_usage_ends_with_a_usage_chunk(client: openai.AzureOpenAI) -> None:
    """stream_options.include_usage adds a final choice-less chunk with usage."""
    chunks = list(
        client.chat.completions.create(
            model="chat", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens > 0


def test_stream_without_include_usage_has_no_usage(client: openai.AzureOpenAI) -> None:
    """Without include_usage no chunk carries usage."""
    chunks = list(client.chat.completions.create(model="chat", messages=HELLO, stream=True))
    assert all(c.usage is None for c in chunks)


def test_content_filter_off_gives_plain_openai_stream(
    azure_openai_emulator: AzureOpenAIEmulator, client: openai.AzureOpenAI
) -> None:
    """With content_filter=False every chunk has a choice."""
    azure_openai_emulator.content_filter = False
    chunks = list(client.chat.completions.create(model="chat", messages=HELLO, stream=True))
    assert all(c.choices for c in chunks)


def test_tools_get_a_tool_call_built_from_the_schema(client: openai.AzureOpenAI) -> None:
    """With tools offered, the answer calls the first one with schema-shaped arguments."""
    result = client.chat.completions.create(
        model="chat",
        messages=HELLO,
        tools=[WEATHER_TOOL, TIME_TOOL],
    )
    choice = result.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == WEATHER_ARGS


def test_forced_tool_choice_calls_that_tool(client: openai.AzureOpenAI) -> None:
    """tool_choice naming a function calls that function."""
    result = client.chat.completions.create(
        model="chat",
        messages=HELLO,
        tools=[WEATHER_TOOL, TIME_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    assert result.choices[0].message.tool_calls is not None
    assert result.choices[0].message.tool_calls[0].function.name == "get_time"


def test_tool_choice_none_answers_in_words(client: openai.AzureOpenAI) -> None:
    """tool_choice "none" gives a text answer."""
    result = client.chat.completions.create(
        model="chat",
        messages=HELLO,
        tools=[WEATHER_TOOL],
        tool_choice="none",
    )
    assert result.choices[0].finish_reason == "stop"


def test_tool_result_is_answered_in_words(client: openai.AzureOpenAI) -> None:
    """After a tool message the answer is text, so agent loops terminate."""
    messages = [
        *HELLO,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    result = client.chat.completions.create(
        model="chat",
        messages=messages,
        tools=[WEATHER_TOOL],
    )
    assert result.choices[0].message.content == "Hello from chat! The tool said: sunny"


def test_streamed_tool_call_accumulates_to_the_same_call(client: openai.AzureOpenAI) -> None:
    """The SDK's stream helper rebuilds the streamed tool call and its arguments."""
    with client.chat.completions.stream(
        model="chat",
        messages=HELLO,
        tools=[WEATHER_TOOL],
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.tool_calls is not None
    call = final.choices[0].message.tool_calls[0]
    assert json.loads(call.function.arguments) == WEATHER_ARGS
    assert final.choices[0].finish_reason == "tool_calls"


def test_json_schema_response_format_is_honoured(client: openai.AzureOpenAI) -> None:
    """response_format json_schema makes the content a JSON example of the schema."""
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    result = client.chat.completions.create(
        model="chat",
        messages=HELLO,
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
    )
    assert json.loads(result.choices[0].message.content or "") == {"answer": "x"}


def test_max_tokens_truncates_with_length(client: openai.AzureOpenAI) -> None:
    """A small max_tokens cuts the answer and reports finish_reason "length"."""
    result = client.chat.completions.create(model="chat", messages=HELLO, max_tokens=2)
    assert result.choices[0].message.content == "Hello from"
    assert result.choices[0].finish_reason == "length"


def test_legacy_completions_answer(client: openai.AzureOpenAI) -> None:
    """The legacy completions route answers deterministically."""
    result = client.completions.create(model="chat", prompt="say hi")
    assert result.choices[0].text == "Hello from chat!"


# -- embeddings ----------------------------------------------------------------------


def test_embeddings_default_base64_decode_to_unit_vectors(client: openai.AzureOpenAI) -> None:
    """The SDK's default base64 request decodes to 8-dimensional unit vectors."""
    result = client.embeddings.create(model="embedding", input=["hello world", "goodbye"])
    vectors = [item.embedding for item in result.data]
    assert [len(v) for v in vectors] == [8, 8]
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-4) for v in vectors)
    assert result.model == "text-embedding-3-small"


def test_embeddings_are_deterministic(client: openai.AzureOpenAI) -> None:
    """The same text always gets the same vector."""
    first = client.embeddings.create(model="embedding", input="hello world").data[0].embedding
    again = client.embeddings.create(model="embedding", input="hello world").data[0].embedding
    assert first == again


def test_float_and_base64_encodings_agree(
    azure_openai_emulator: AzureOpenAIEmulator, provider: Callable[[], str]
) -> None:
    """encoding_format base64 packs the float vector as little-endian float32."""
    path = f"/openai/deployments/embedding/embeddings?api-version={API_VERSION}"
    headers = _bearer(provider())
    floats = _post(azure_openai_emulator, path, headers, input="a b").json()
    packed = _post(azure_openai_emulator, path, headers, input="a b", encoding_format="base64")
    decoded = struct.unpack("<8f", base64.b64decode(packed.json()["data"][0]["embedding"]))
    assert decoded == pytest.approx(floats["data"][0]["embedding"], abs=1e-6)


def test_embeddings_accept_token_lists(client: openai.AzureOpenAI) -> None:
    """Token-id lists are valid input, one vector per list."""
    result = client.embeddings.create(model="embedding", input=[[1, 2, 3], [4, 5]])
    assert [item.index for item in result.data] == [0, 1]
    assert result.usage.prompt_tokens == 5


def test_embeddings_honour_dimensions(client: openai.AzureOpenAI) -> None:
    """The dimensions parameter sets the vector length."""
    result = client.embeddings.create(model="embedding", input="x", dimensions=3)
    assert len(result.data[0].embedding) == 3


# -- the v1 surface ------------------------------------------------------------------


@pytest.fixture
def v1(azure_openai_emulator: AzureOpenAIEmulator, provider: Callable[[], str]) -> openai.OpenAI:
    """A plain OpenAI client on the v1 surface, with a callable api_key (Bearer)."""
    return openai.OpenAI(base_url=azure_openai_emulator.v1_base_url, api_key=provider)


def test_v1_chat_uses_body_model_as_deployment(
    v1: openai.OpenAI, azure_openai_emulator: AzureOpenAIEmulator
) -> None:
    """/openai/v1/chat/completions routes by the body's model and needs no api-version."""
    result = v1.chat.completions.create(model="chat", messages=HELLO)
    assert result.choices[0].message.content == "Hello from chat! You said: hi there"
    assert azure_openai_emulator.log[-1].api_version is None
    assert azure_openai_emulator.log[-1].deployment == "chat"


def test_v1_embeddings(v1: openai.OpenAI) -> None:
    """/openai/v1/embeddings answers with vectors."""
    assert len(v1.embeddings.create(model="embedding", input="x").data[0].embedding) == 8


def test_v1_models_lists_deployments(v1: openai.OpenAI) -> None:
    """GET /openai/v1/models lists the deployment names."""
    assert sorted(model.id for model in v1.models.list()) == ["chat", "embedding"]


async def test_async_v1_streaming(
    azure_openai_emulator: AzureOpenAIEmulator, token_issuer: TokenIssuer
) -> None:
    """AsyncOpenAI with an async api_key callable streams from the v1 surface."""

    async def provide() -> str:
        return token_issuer.issue(lifetime=60).token

    client = openai.AsyncOpenAI(base_url=azure_openai_emulator.v1_base_url, api_key=provide)
    stream = await client.chat.completions.create(model="chat", messages=HELLO, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Hello from chat! You said: hi there"


# -- authentication and errors -------------------------------------------------------


def test_env_api_key_next_to_bearer_is_rejected(
    azure_openai_emulator: AzureOpenAIEmulator,
    provider: Callable[[], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stray AZURE_OPENAI_API_KEY makes the SDK send api-key: 400, counted."""
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "stray-key")
    client = openai.AzureOpenAI(
        azure_endpoint=azure_openai_emulator.endpoint,
        api_version=API_VERSION,
        azure_ad_token_provider=provider,
    )
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="chat", messages=HELLO)
    assert azure_openai_emulator.api_key_headers == 1


def test_api_key_alone_is_rejected(azure_openai_emulator: AzureOpenAIEmulator) -> None:
    """An api-key without a token is rejected with 400 too."""
    response = _post(azure_openai_emulator, CHAT, {"api-key": "k"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "AuthenticationTypeDisabled"


@pytest.mark.parametrize(
    "make_headers",
    [
        lambda issuer: {},
        lambda issuer: _bearer("not-a-jwt"),
        lambda issuer: {"Authorization": "Basic abc"},
        lambda issuer: _bearer(issuer.issue("https://management.azure.com").token),
        lambda issuer: _bearer(TokenIssuer().issue().token),
        lambda issuer: _bearer(issuer.issue(lifetime=-1).token),
    ],
    ids=["missing", "garbage", "not-bearer", "wrong-audience", "foreign-issuer", "expired"],
)
def test_bad_tokens_get_azure_401(
    azure_openai_emulator: AzureOpenAIEmulator,
    token_issuer: TokenIssuer,
    make_headers: Callable[[TokenIssuer], dict[str, str]],
) -> None:
    """Every kind of bad token gets Azure's 401 body and a Bearer challenge."""
    response = _post(azure_openai_emulator, CHAT, make_headers(token_issuer))
    assert response.status_code == 401
    assert response.json() == {"error": {"code": "401", "message": UNAUTHORIZED_MESSAGE}}
    assert response.headers["www-authenticate"].startswith("Bearer ")


def test_expired_tokens_are_counted(
    azure_openai_emulator: AzureOpenAIEmulator, token_issuer: TokenIssuer
) -> None:
    """An expired token is counted in expired_tokens."""
    _post(azure_openai_emulator, CHAT, _bearer(token_issuer.issue(lifetime=-1).token))
    assert azure_openai_emulator.expired_tokens == 1


def test_sdk_raises_authentication_error_on_401(
    azure_openai_emulator: AzureOpenAIEmulator, token_issuer: TokenIssuer
) -> None:
    """The openai SDK maps the 401 to AuthenticationError, without retrying."""
    client = openai.AzureOpenAI(
        azure_endpoint=azure_openai_emulator.endpoint,
        api_version=API_VERSION,
        azure_ad_token_provider=lambda: token_issuer.issue(lifetime=-1).token,
    )
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="chat", messages=HELLO)
    assert azure_openai_emulator.requests == 1


def test_missing_role_is_401_permission_denied(
    azure_openai_emulator: AzureOpenAIEmulator, token_issuer: TokenIssuer
) -> None:
    """A valid token without the role gets 401 PermissionDenied, not 403."""
    token = token_issuer.issue(principal=Principal().without_role()).token
    client = openai.AzureOpenAI(
        azure_endpoint=azure_openai_emulator.endpoint,
        api_version=API_VERSION,
        azure_ad_token_provider=lambda: token,
    )
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="chat", messages=HELLO)
    assert caught.value.body == {"code": "PermissionDenied", "message": PERMISSION_DENIED_MESSAGE}


def test_model_name_instead_of_deployment_is_404(client: openai.AzureOpenAI) -> None:
    """Using the model name where the deployment belongs gets 404 DeploymentNotFound."""
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert caught.value.body == {
        "code": "DeploymentNotFound",
        "message": DEPLOYMENT_NOT_FOUND_MESSAGE,
    }


def test_missing_api_version_is_400(
    azure_openai_emulator: AzureOpenAIEmulator, provider: Callable[[], str]
) -> None:
    """The deployment-scoped surface requires api-version."""
    response = _post(
        azure_openai_emulator, "/openai/deployments/chat/chat/completions", _bearer(provider())
    )
    assert response.status_code == 400


def test_embedding_call_on_chat_deployment_is_400(client: openai.AzureOpenAI) -> None:
    """An embeddings call on a chat model gets 400 OperationNotSupported."""
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="chat", input="x")
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["code"] == "OperationNotSupported"


def test_unknown_path_is_404(
    azure_openai_emulator: AzureOpenAIEmulator, provider: Callable[[], str]
) -> None:
    """Unknown routes answer Azure's generic 404 after authentication."""
    response = _post(azure_openai_emulator, "/openai/nothing?api-version=x", _bearer(provider()))
    assert (response.status_code, response.json()["error"]["code"]) == (404, "404")


def test_throttle_sends_retry_after_headers(
    azure_openai_emulator: AzureOpenAIEmulator, provider: Callable[[], str]
) -> None:
    """An injected 429 carries retry-after (seconds, rounded up) and retry-after-ms."""
    azure_openai_emulator.throttle_next(1, retry_after=0.25)
    response = _post(azure_openai_emulator, CHAT, _bearer(provider()))
    assert response.status_code == 429
    assert (response.headers["retry-after"], response.headers["retry-after-ms"]) == ("1", "250")


def test_sdk_retries_a_throttled_request(
    client: openai.AzureOpenAI, azure_openai_emulator: AzureOpenAIEmulator
) -> None:
    """The SDK retries a 429 and succeeds; each attempt asks the provider for a token."""
    azure_openai_emulator.throttle_next(1)
    client.chat.completions.create(model="chat", messages=HELLO)
    assert azure_openai_emulator.statuses == {429: 1, 200: 1}
    assert azure_openai_emulator.distinct_tokens == 2


def test_sdk_without_retries_raises_rate_limit(
    client: openai.AzureOpenAI, azure_openai_emulator: AzureOpenAIEmulator
) -> None:
    """With max_retries=0 the 429 surfaces as RateLimitError."""
    azure_openai_emulator.throttle_next(1)
    with pytest.raises(openai.RateLimitError):
        client.with_options(max_retries=0).chat.completions.create(model="chat", messages=HELLO)


def test_injected_500_is_retried(
    client: openai.AzureOpenAI, azure_openai_emulator: AzureOpenAIEmulator
) -> None:
    """fail_next(1) costs one SDK retry."""
    azure_openai_emulator.fail_next(1, retry_after=0.01)
    client.chat.completions.create(model="chat", messages=HELLO)
    assert azure_openai_emulator.statuses == {500: 1, 200: 1}


def test_faults_are_consumed_only_by_authenticated_requests(
    azure_openai_emulator: AzureOpenAIEmulator,
) -> None:
    """A request rejected at authentication leaves injected faults pending."""
    azure_openai_emulator.throttle_next(1)
    _post(azure_openai_emulator, CHAT, {})
    assert azure_openai_emulator.pending_faults == 1


# -- counters and configuration ------------------------------------------------------


def test_requests_per_token_is_keyed_by_jti(
    azure_openai_emulator: AzureOpenAIEmulator, token_issuer: TokenIssuer
) -> None:
    """Counting per token uses the jti; the raw token is never stored."""
    minted = token_issuer.issue(lifetime=60)
    client = openai.AzureOpenAI(
        azure_endpoint=azure_openai_emulator.endpoint,
        api_version=API_VERSION,
        azure_ad_token_provider=lambda: minted.token,
    )
    client.chat.completions.create(model="chat", messages=HELLO)
    client.chat.completions.create(model="chat", messages=HELLO)
    assert azure_openai_emulator.requests_per_token == {minted.jti: 2}
    assert minted.token not in repr(azure_openai_emulator.log)


def test_expired_token_counts_under_its_jti() -> None:
    """A token used before and after expiry is one token in the per-token counts."""
    now = [1_000_000.0]
    issuer = TokenIssuer(clock=lambda: now[0])
    minted = issuer.issue(lifetime=10)
    with AzureOpenAIEmulator(issuer=issuer) as emulator:
        assert _post(emulator, CHAT, _bearer(minted.token)).status_code == 200
        now[0] += 10
        assert _post(emulator, CHAT, _bearer(minted.token)).status_code == 401
    assert emulator.requests_per_token == {minted.jti: 2}
    assert emulator.expired_tokens == 1


def test_rejected_request_log_names_the_token(
    azure_openai_emulator: AzureOpenAIEmulator, token_issuer: TokenIssuer
) -> None:
    """The log of a 401 for an expired token carries its jti."""
    minted = token_issuer.issue(lifetime=-1)
    _post(azure_openai_emulator, CHAT, _bearer(minted.token))
    assert azure_openai_emulator.log[-1].token_id == minted.jti


def test_paths_and_successes_are_counted(
    client: openai.AzureOpenAI, azure_openai_emulator: AzureOpenAIEmulator
) -> None:
    """paths counts per URL path and successes counts 2xx answers."""
    client.chat.completions.create(model="chat", messages=HELLO)
    client.embeddings.create(model="embedding", input="x")
    assert azure_openai_emulator.paths == {
        "/openai/deployments/chat/chat/completions": 1,
        "/openai/deployments/embedding/embeddings": 1,
    }
    assert (azure_openai_emulator.requests, azure_openai_emulator.successes) == (2, 2)


def test_added_deployment_is_served(
    client: openai.AzureOpenAI, azure_openai_emulator: AzureOpenAIEmulator
) -> None:
    """add_deployment makes a new deployment answer with its model name."""
    azure_openai_emulator.add_deployment("gpt4o", "gpt-4o")
    assert client.chat.completions.create(model="gpt4o", messages=HELLO).model == "gpt-4o"


def test_removed_deployment_is_404(
    client: openai.AzureOpenAI, azure_openai_emulator: AzureOpenAIEmulator
) -> None:
    """remove_deployment makes the deployment answer 404."""
    azure_openai_emulator.remove_deployment("chat")
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="chat", messages=HELLO)


def test_reset_restores_deployments_and_counters(
    client: openai.AzureOpenAI, azure_openai_emulator: AzureOpenAIEmulator
) -> None:
    """reset() brings back the default deployments and zeroes every counter."""
    client.chat.completions.create(model="chat", messages=HELLO)
    azure_openai_emulator.remove_deployment("chat")
    azure_openai_emulator.throttle_next(2)
    azure_openai_emulator.reset()
    assert azure_openai_emulator.deployments == {
        "chat": "gpt-4o-mini",
        "embedding": "text-embedding-3-small",
    }
    assert (azure_openai_emulator.requests, azure_openai_emulator.pending_faults) == (0, 0)


def test_latency_still_answers(
    client: openai.AzureOpenAI, azure_openai_emulator: AzureOpenAIEmulator
) -> None:
    """With latency set, requests still succeed."""
    azure_openai_emulator.latency = 0.05
    assert client.chat.completions.create(model="chat", messages=HELLO).choices


# -- trust across emulators ----------------------------------------------------------


def test_managed_identity_tokens_are_trusted(
    managed_identity_env: ManagedIdentityEmulator, azure_openai_emulator: AzureOpenAIEmulator
) -> None:
    """A real ManagedIdentityCredential's tokens open the Azure OpenAI emulator."""
    client = openai.AzureOpenAI(
        azure_endpoint=azure_openai_emulator.endpoint,
        api_version=API_VERSION,
        azure_ad_token_provider=get_bearer_token_provider(ManagedIdentityCredential(), SCOPE),
    )
    client.chat.completions.create(model="chat", messages=HELLO)
    assert (managed_identity_env.tokens_issued, azure_openai_emulator.successes) == (1, 1)


def test_cli_tokens_are_trusted(
    fake_azure_cli: FakeAzureCli, azure_openai_emulator: AzureOpenAIEmulator
) -> None:
    """A real AzureCliCredential's tokens open the Azure OpenAI emulator."""
    client = openai.AzureOpenAI(
        azure_endpoint=azure_openai_emulator.endpoint,
        api_version=API_VERSION,
        azure_ad_token_provider=get_bearer_token_provider(AzureCliCredential(), SCOPE),
    )
    client.chat.completions.create(model="chat", messages=HELLO)
    assert (fake_azure_cli.az_calls, azure_openai_emulator.successes) == (1, 1)
