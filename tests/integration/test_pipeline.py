"""A RAG-shaped pipeline mixing the three adapters shares one provider and one cache."""

from __future__ import annotations

import pytest

pytest.importorskip("langchain_openai")
pytest.importorskip("llama_index.embeddings.azure_openai")

from adapters import langchain, llama_index
from adapters import openai as keyless_openai

from .conftest import CHAT, Azure

HELLO = [{"role": "user", "content": "hello"}]


def test_pipeline_fetches_one_token_per_lifetime_for_all_adapters(
    azure: Azure, stray_keys: dict[str, str]
) -> None:
    """LlamaIndex embeddings, a LangChain chat model and an openai client share each token."""
    embedder = llama_index.embedding()
    chat = langchain.chat_model()
    client = keyless_openai.client()

    def answer() -> None:
        embedder.get_query_embedding("what is keyless auth?")
        chat.invoke("answer from the retrieved context")
        client.chat.completions.create(model=CHAT, messages=HELLO)

    azure.rotate(answer)

    azure.assert_rotated()
    provider = azure.provider()
    assert embedder._keyless_provider is chat.azure_ad_token_provider is provider
    assert client._azure_ad_token_provider is provider
    assert len(azure.aoai.paths) == 2  # the embedding deployment and the chat deployment


async def test_async_pipeline_fetches_one_token_per_lifetime_for_all_adapters(
    azure: Azure,
) -> None:
    """The async faces of the three adapters share each token too."""
    embedder = llama_index.embedding()
    chat = langchain.chat_model()
    client = keyless_openai.async_client()

    async def answer() -> None:
        await embedder.aget_query_embedding("what is keyless auth?")
        await chat.ainvoke("answer from the retrieved context")
        await client.chat.completions.create(model=CHAT, messages=HELLO)

    await azure.arotate(answer)

    azure.assert_rotated()
