"""Keyless LangChain ``AzureOpenAIEmbeddings``: embed documents and a query.

Run it with ``python examples/langchain_embeddings.py`` after setting
``AZURE_OPENAI_ENDPOINT`` and ``AZURE_OPENAI_EMBEDDING_DEPLOYMENT`` and signing in.
"""

from __future__ import annotations

import math

from adapters.langchain import embeddings

DOCUMENTS = [
    "Managed identities give Azure resources a token without any secret.",
    "Bananas are rich in potassium.",
]


def cosine(a: list[float], b: list[float]) -> float:
    """Cosine similarity of two vectors."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def main() -> None:
    """Embed two documents and rank them against a query."""
    embedder = embeddings(
        # check_embedding_ctx_length=False skips LangChain's tiktoken length check, which
        # downloads an encoding file on first use: this example must also run offline
        # (tests, CI). On a machine with internet access you can leave it out.
        check_embedding_ctx_length=False,
    )
    vectors = embedder.embed_documents(DOCUMENTS)
    query = embedder.embed_query("Which Azure feature gives tokens without secrets?")
    print(f"embedded {len(vectors)} documents, {len(query)} dimensions each")
    scored = sorted(
        ((cosine(query, vector), text) for vector, text in zip(vectors, DOCUMENTS, strict=True)),
        reverse=True,
    )
    for score, text in scored:
        print(f"  {score:+.3f}  {text}")


if __name__ == "__main__":
    main()
