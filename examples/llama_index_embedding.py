"""A keyless LlamaIndex ``AzureOpenAIEmbedding``, sync and async.

Run it with ``python examples/llama_index_embedding.py`` after setting
``AZURE_OPENAI_ENDPOINT`` and ``AZURE_OPENAI_EMBEDDING_DEPLOYMENT`` and signing in.
"""

from __future__ import annotations

import asyncio

from adapters.llama_index import embedding


def main() -> None:
    """Embed a batch of texts, a query, and a query from asyncio."""
    embedder = embedding(embed_batch_size=16)
    texts = ["Entra ID issues the token.", "The provider caches it.", "Clients share it."]
    vectors = embedder.get_text_embedding_batch(texts)
    print(f"batch: {len(vectors)} vectors of {len(vectors[0])} floats")
    query = embedder.get_query_embedding("Who issues the token?")
    print(f"query: {len(query)} floats, first {query[0]:+.4f}")
    aquery = asyncio.run(embedder.aget_query_embedding("Who issues the token?"))
    print(f"async query matches the sync one: {aquery == query}")


if __name__ == "__main__":
    main()
