"""adapters.llama_index with real LlamaIndex Azure OpenAI classes against the emulators."""

from __future__ import annotations

import copy
import json
import pickle

import pytest

pytest.importorskip("llama_index.llms.azure_openai")
pytest.importorskip("llama_index.embeddings.azure_openai")

from azure.identity import ManagedIdentityCredential
from llama_index.core.llms import ChatMessage
from llama_index.embeddings.azure_openai import AzureOpenAIEmbedding
from llama_index.llms.azure_openai import AzureOpenAI

from adapters import llama_index as keyless
from adapters.errors import ConfigurationError

from .conftest import CHAT, EMBEDDING, STRAY_VARIABLES, Azure, warnings_from_adapters

HELLO = [ChatMessage(role="user", content="hello")]
REPLY = f"Hello from {CHAT}! You said: hello"
AUTH_KEYWORDS = {
    "api_key": "sk-0123",
    "azure_ad_token_provider": lambda: "a.b.c",
    "use_azure_ad": True,
}
FUNCTIONS = [keyless.llm, keyless.embedding]


def test_complete_and_chat_survive_token_rotations(azure: Azure) -> None:
    """complete and chat keep succeeding across refreshes, with one fetch per token."""
    llm = keyless.llm()

    def complete_and_chat() -> None:
        assert llm.complete("hello").text == REPLY
        assert llm.chat(HELLO).message.content == REPLY

    azure.rotate(complete_and_chat)

    azure.assert_rotated()


async def test_acomplete_and_achat_survive_token_rotations(azure: Azure) -> None:
    """acomplete and achat keep succeeding across refreshes, with one fetch per token."""
    llm = keyless.llm()

    async def acomplete_and_achat() -> None:
        assert (await llm.acomplete("hello")).text == REPLY
        assert (await llm.achat(HELLO)).message.content == REPLY

    await azure.arotate(acomplete_and_achat)

    azure.assert_rotated()


def test_stream_chat_survives_token_rotations(azure: Azure) -> None:
    """stream_chat keeps succeeding across refreshes, with one fetch per token."""
    llm = keyless.llm()

    def stream() -> None:
        assert "".join(part.delta or "" for part in llm.stream_chat(HELLO)) == REPLY

    azure.rotate(stream)

    azure.assert_rotated()


def test_embeddings_survive_token_rotations(azure: Azure) -> None:
    """get_text_embedding keeps succeeding across refreshes, with one fetch per token."""
    embedding = keyless.embedding()

    azure.rotate(lambda: embedding.get_text_embedding("hello"))

    azure.assert_rotated()


async def test_async_embeddings_survive_token_rotations(azure: Azure) -> None:
    """aget_text_embedding keeps succeeding across refreshes, with one fetch per token."""
    embedding = keyless.embedding()

    await azure.arotate(lambda: embedding.aget_text_embedding("hello"))

    azure.assert_rotated()


async def test_astream_chat_streams_the_reply(azure: Azure) -> None:
    """astream_chat yields the reply delta by delta."""
    llm = keyless.llm()

    parts = [part.delta or "" async for part in await llm.astream_chat(HELLO)]

    assert len(parts) > 2
    assert "".join(parts) == REPLY


def test_embeddings_use_the_embedding_deployment(azure: Azure) -> None:
    """Query and batch embeddings go to the embedding deployment's URL."""
    embedding = keyless.embedding(embed_batch_size=2)

    embedding.get_query_embedding("hello")
    vectors = embedding.get_text_embedding_batch(["a", "b", "c"])

    assert len(vectors) == 3
    assert azure.aoai.paths == {f"/openai/deployments/{EMBEDDING}/embeddings": 3}


async def test_stray_keys_are_never_sent(azure: Azure, stray_keys: dict[str, str]) -> None:
    """Key variables in the environment never reach the wire, sync or async."""
    llm, embedding = keyless.llm(), keyless.embedding()

    llm.complete("hello")
    await llm.acomplete("hello")
    embedding.get_text_embedding("hello")
    await embedding.aget_text_embedding("hello")

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
    """to_dict, to_json and repr show neither the token nor a stray key, even after use."""
    llm, embedding = keyless.llm(), keyless.embedding()
    llm.complete("hello")
    embedding.get_text_embedding("hello")
    secrets = [azure.provider()(), *stray_keys.values()]

    forms = [
        *(json.dumps(model.to_dict(), default=repr) for model in (llm, embedding)),
        *(model.to_json() for model in (llm, embedding)),
        *(repr(model) for model in (llm, embedding)),
    ]

    assert not [secret for secret in secrets for form in forms if secret in form]
    assert (llm.api_key, embedding.api_key) == ("", "")


def test_objects_are_the_llama_index_types(azure: Azure) -> None:
    """The functions return LlamaIndex's own classes (thin keyless subclasses)."""
    assert isinstance(keyless.llm(), AzureOpenAI)
    assert isinstance(keyless.embedding(), AzureOpenAIEmbedding)


def test_reuse_client_false_builds_keyless_clients_per_call(
    azure: Azure, stray_keys: dict[str, str]
) -> None:
    """With reuse_client=False every call gets a fresh keyless client on the same cache."""
    llm = keyless.llm(reuse_client=False)
    embedding = keyless.embedding(reuse_client=False)

    for _ in range(3):
        llm.complete("hello")
        embedding.get_text_embedding("hello")

    azure.assert_keyless()
    assert azure.aoai.requests == 6
    assert azure.provider().stats.fetches == 1


def test_reused_clients_are_built_once(azure: Azure) -> None:
    """With reuse_client=True (the default) the same openai client serves every call."""
    llm = keyless.llm()
    client = llm._get_client()

    llm.complete("hello")

    assert llm._get_client() is client


@pytest.mark.parametrize("how", ["deepcopy", "model_copy"])
def test_copies_share_the_provider_and_work(azure: Azure, how: str) -> None:
    """Deep and shallow copies keep working, on the same token cache."""
    llm, embedding = keyless.llm(), keyless.embedding()
    llm.complete("hello")
    copies = (
        [copy.deepcopy(llm), copy.deepcopy(embedding)]
        if how == "deepcopy"
        else [llm.model_copy(), embedding.model_copy()]
    )

    copies[0].complete("hello")
    copies[1].get_text_embedding("hello")

    azure.assert_keyless()
    assert azure.provider().stats.fetches == 1


def test_unpickled_copies_find_the_shared_provider_again(azure: Azure) -> None:
    """A pickled copy (as sent to worker processes) rebuilds its clients on the same cache."""
    llm, embedding = keyless.llm(), keyless.embedding()

    llm2, embedding2 = pickle.loads(pickle.dumps((llm, embedding)))  # noqa: S301 - our own bytes
    llm2.complete("hello")
    embedding2.get_text_embedding("hello")

    azure.assert_keyless()
    assert llm2._keyless_provider is embedding2._keyless_provider is azure.provider()
    assert azure.provider().stats.fetches == 1


def test_unpickled_copies_never_guess_a_passed_credential(azure: Azure) -> None:
    """A copy built with credential= cannot recover it after pickling, and says so."""
    llm = keyless.llm(credential=ManagedIdentityCredential())

    restored = pickle.loads(pickle.dumps(llm))  # noqa: S301 - our own bytes

    with pytest.raises(ConfigurationError, match="credential="):
        restored.complete("hello")


@pytest.mark.parametrize("keyword", sorted(AUTH_KEYWORDS))
@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
def test_auth_keywords_are_refused(azure: Azure, function: object, keyword: str) -> None:
    """Passing a key, a provider or use_azure_ad is a ConfigurationError."""
    with pytest.raises(ConfigurationError, match="keyless-adapters supplies authentication"):
        function(**{keyword: AUTH_KEYWORDS[keyword]})  # type: ignore[operator]


@pytest.mark.parametrize(
    ("function", "variable"),
    [
        (keyless.llm, "AZURE_OPENAI_CHAT_DEPLOYMENT"),
        (keyless.embedding, "AZURE_OPENAI_EMBEDDING_DEPLOYMENT"),
    ],
    ids=["llm", "embedding"],
)
def test_missing_deployment_is_a_configuration_error(
    azure: Azure, monkeypatch: pytest.MonkeyPatch, function: object, variable: str
) -> None:
    """Without a deployment the error names the variable to set."""
    monkeypatch.delenv(variable)

    with pytest.raises(ConfigurationError, match=variable):
        function()  # type: ignore[operator]


def test_model_is_metadata_and_deployment_picks_the_url(azure: Azure) -> None:
    """model= feeds LlamaIndex metadata; the deployment= name goes into the URL."""
    llm = keyless.llm(deployment=CHAT, model="gpt-4o")

    llm.complete("hello")

    assert azure.aoai.paths == {f"/openai/deployments/{CHAT}/chat/completions": 1}
    assert (llm.model, llm.engine) == ("gpt-4o", CHAT)


def test_framework_keywords_pass_through(azure: Azure) -> None:
    """Keywords the adapter does not own reach the LlamaIndex constructor and clients."""
    llm = keyless.llm(temperature=0.25, max_tokens=7, timeout=9.0, max_retries=1)

    assert (llm.temperature, llm.max_tokens, llm.timeout, llm.max_retries) == (0.25, 7, 9.0, 1)
    assert (llm._get_client().timeout, llm._get_client().max_retries) == (9.0, 1)
