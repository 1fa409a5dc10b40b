"""adapters.langchain with real langchain-openai against the loopback emulators."""

from __future__ import annotations

import asyncio
import inspect

import pytest

langchain_openai = pytest.importorskip("langchain_openai")

from langchain_core.load import dumps  # noqa: E402
from langchain_core.tools import tool  # noqa: E402

from adapters import langchain as keyless  # noqa: E402
from adapters.errors import ConfigurationError  # noqa: E402

from .conftest import CHAT, STRAY_VARIABLES, Azure, warnings_from_adapters  # noqa: E402

AUTH_KEYWORDS = {
    "api_key": "sk-0123",
    "openai_api_key": "sk-0123",
    "azure_ad_token": "a.b.c",
    "azure_ad_token_provider": lambda: "a.b.c",
    "azure_ad_async_token_provider": lambda: "a.b.c",
}
FUNCTIONS = [keyless.chat_model, keyless.embeddings]


@tool
def get_weather(city: str) -> str:
    """Return the weather in a city."""
    return f"sunny in {city}"


def embeddings() -> langchain_openai.AzureOpenAIEmbeddings:
    # No network for tiktoken's encoding file in tests.
    return keyless.embeddings(check_embedding_ctx_length=False)


def test_invoke_survives_token_rotations(azure: Azure) -> None:
    """invoke keeps succeeding across refreshes, with one fetch per token."""
    model = keyless.chat_model()

    azure.rotate(lambda: model.invoke("hello"))

    azure.assert_rotated()


async def test_ainvoke_survives_token_rotations(azure: Azure) -> None:
    """ainvoke keeps succeeding across refreshes, with one fetch per token."""
    model = keyless.chat_model()

    await azure.arotate(lambda: model.ainvoke("hello"))

    azure.assert_rotated()


def test_stream_survives_token_rotations(azure: Azure) -> None:
    """stream keeps succeeding across refreshes, with one fetch per token."""
    model = keyless.chat_model()

    azure.rotate(lambda: "".join(str(chunk.content) for chunk in model.stream("hello")))

    azure.assert_rotated()


def test_embeddings_survive_token_rotations(azure: Azure) -> None:
    """embed_documents keeps succeeding across refreshes, with one fetch per token."""
    model = embeddings()

    azure.rotate(lambda: model.embed_documents(["hello", "world"]))

    azure.assert_rotated()


async def test_astream_streams_the_reply(azure: Azure) -> None:
    """astream yields the reply chunk by chunk."""
    model = keyless.chat_model()

    chunks = [str(chunk.content) async for chunk in model.astream("hello")]

    assert len(chunks) > 2
    assert "".join(chunks) == f"Hello from {CHAT}! You said: hello"


def test_batch_answers_every_input(azure: Azure) -> None:
    """batch answers each input."""
    replies = keyless.chat_model().batch(["one", "two", "three"])

    assert [reply.content for reply in replies] == [
        f"Hello from {CHAT}! You said: {word}" for word in ("one", "two", "three")
    ]


async def test_abatch_answers_every_input(azure: Azure) -> None:
    """abatch answers each input."""
    replies = await keyless.chat_model().abatch(["one", "two"])

    assert [reply.content for reply in replies] == [
        f"Hello from {CHAT}! You said: {word}" for word in ("one", "two")
    ]


def test_tool_calling_returns_tool_calls(azure: Azure) -> None:
    """bind_tools + invoke returns the tool call the service chose."""
    reply = keyless.chat_model().bind_tools([get_weather]).invoke("Weather in Paris?")

    assert [call["name"] for call in reply.tool_calls] == ["get_weather"]


async def test_async_embeddings_embed(azure: Azure) -> None:
    """aembed_query and aembed_documents return vectors."""
    model = embeddings()

    query = await model.aembed_query("hello")
    documents = await model.aembed_documents(["hello", "world"])

    assert len(documents) == 2
    assert query == documents[0]


def test_both_providers_are_the_shared_provider(azure: Azure) -> None:
    """The sync provider is the shared one and the async one its coroutine face."""
    models = [keyless.chat_model(), embeddings()]
    provider = azure.provider()

    for model in models:
        assert model.azure_ad_token_provider is provider
        assert inspect.iscoroutinefunction(model.azure_ad_async_token_provider)
        assert model.azure_ad_async_token_provider == provider.async_provider


async def test_ainvoke_does_not_block_the_event_loop(azure: Azure) -> None:
    """A slow token fetch during ainvoke leaves the event loop free."""
    azure.mi.latency = 0.3
    model = keyless.chat_model()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    await model.ainvoke("hello")
    task.cancel()

    assert ticks >= 10


async def test_stray_keys_are_never_sent(azure: Azure, stray_keys: dict[str, str]) -> None:
    """Key variables in the environment never reach the wire, sync or async."""
    model, embedder = keyless.chat_model(), embeddings()

    model.invoke("hello")
    await model.ainvoke("hello")
    embedder.embed_query("hello")
    await embedder.aembed_query("hello")

    azure.assert_keyless()
    assert azure.aoai.requests == 4
    azure.assert_one_fetch_per_token()


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
def test_stray_keys_are_reported_in_one_warning(
    azure: Azure,
    stray_keys: dict[str, str],
    function: object,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each model built with key variables set logs one warning naming them."""
    caplog.set_level("WARNING", logger="adapters")

    function()  # type: ignore[operator]

    (message,) = warnings_from_adapters(caplog)
    assert all(name in message for name in STRAY_VARIABLES)


def test_serialized_forms_hold_no_secret(azure: Azure, stray_keys: dict[str, str]) -> None:
    """dumps, model_dump and repr show neither the token nor a stray key."""
    model = keyless.chat_model()
    model.invoke("hello")
    secrets = [azure.provider()(), *stray_keys.values()]

    forms = [dumps(model), str(model.model_dump()), repr(model), dumps(embeddings())]

    assert not [secret for secret in secrets for form in forms if secret in form]


@pytest.mark.parametrize("keyword", sorted(AUTH_KEYWORDS))
@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
def test_auth_keywords_are_refused(azure: Azure, function: object, keyword: str) -> None:
    """Passing a key, token or provider is a ConfigurationError."""
    with pytest.raises(ConfigurationError, match="keyless-adapters supplies authentication"):
        function(**{keyword: AUTH_KEYWORDS[keyword]})  # type: ignore[operator]


@pytest.mark.parametrize(
    ("function", "variable"),
    [
        (keyless.chat_model, "AZURE_OPENAI_CHAT_DEPLOYMENT"),
        (keyless.embeddings, "AZURE_OPENAI_EMBEDDING_DEPLOYMENT"),
    ],
    ids=["chat_model", "embeddings"],
)
def test_missing_deployment_is_a_configuration_error(
    azure: Azure, monkeypatch: pytest.MonkeyPatch, function: object, variable: str
) -> None:
    """Without a deployment the error names the variable to set."""
    monkeypatch.delenv(variable)

    with pytest.raises(ConfigurationError, match=variable):
        function()  # type: ignore[operator]


def test_model_is_metadata_and_deployment_picks_the_url(azure: Azure) -> None:
    """model= stays in the body; the deployment= name goes into the URL."""
    model = keyless.chat_model(deployment=CHAT, model="gpt-4o")

    model.invoke("hello")

    assert azure.aoai.paths == {f"/openai/deployments/{CHAT}/chat/completions": 1}
    assert model.model_name == "gpt-4o"


def test_framework_keywords_pass_through(azure: Azure) -> None:
    """Keywords the adapter does not own reach AzureChatOpenAI."""
    model = keyless.chat_model(temperature=0.25, max_tokens=7, timeout=9, max_retries=1)

    assert (model.temperature, model.max_tokens, model.request_timeout, model.max_retries) == (
        0.25,
        7,
        9,
        1,
    )
