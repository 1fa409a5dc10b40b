"""A small RAG pipeline mixing frameworks: LlamaIndex embeddings, LangChain chat.

Run it with ``python examples/rag_pipeline.py`` after setting ``AZURE_OPENAI_ENDPOINT``,
``AZURE_OPENAI_CHAT_DEPLOYMENT`` and ``AZURE_OPENAI_EMBEDDING_DEPLOYMENT`` and signing in.

Documents are embedded with LlamaIndex, ranked against the question by cosine similarity
in memory, and the best ones go into a LangChain prompt. Both frameworks get their token
from the same shared provider: the whole pipeline fetches one token per token lifetime,
not one per framework or per request.
"""

from __future__ import annotations

import math

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from adapters import get_provider
from adapters.langchain import chat_model
from adapters.llama_index import embedding

DOCUMENTS = [
    "A managed identity lets an Azure app get Entra ID tokens without storing a secret.",
    "The Cognitive Services OpenAI User role grants access to Azure OpenAI deployments.",
    "Azure OpenAI routes requests by deployment name, not by model name.",
    "Sourdough bread needs a starter, flour, water and salt.",
    "Entra ID access tokens live about an hour and must be refreshed before they expire.",
]
QUESTION = "Which role does my managed identity need for Azure OpenAI?"
TOP_K = 2


def cosine(a: list[float], b: list[float]) -> float:
    """Cosine similarity of two vectors."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def main() -> None:
    """Embed, retrieve and answer one question."""
    embedder = embedding()
    vectors = embedder.get_text_embedding_batch(DOCUMENTS)
    query = embedder.get_query_embedding(QUESTION)
    scores = {doc: cosine(query, vector) for doc, vector in zip(DOCUMENTS, vectors, strict=True)}
    context = sorted(DOCUMENTS, key=scores.__getitem__, reverse=True)[:TOP_K]
    print(f"question: {QUESTION}")
    for rank, document in enumerate(context, 1):
        print(f"  context {rank}: {document}")

    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "Answer from this context only:\n{context}"),
            ("user", "{question}"),
        ]
    )
    chain = prompt | chat_model(temperature=0) | StrOutputParser()
    answer = chain.invoke({"context": "\n".join(context), "question": QUESTION})
    print(f"answer: {answer}")

    stats = get_provider().stats
    print(f"token fetches for the whole pipeline: {stats.fetches}")


if __name__ == "__main__":
    main()
