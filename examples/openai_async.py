"""Concurrent and streamed chat with the keyless ``openai.AsyncAzureOpenAI`` client.

Run it with ``python examples/openai_async.py`` after setting ``AZURE_OPENAI_ENDPOINT``
and ``AZURE_OPENAI_CHAT_DEPLOYMENT`` and signing in (``az login`` locally; a managed
identity on Azure).

The client awaits the provider's async face, so fetching a token never blocks the event
loop, and the concurrent requests below share one token fetch.
"""

from __future__ import annotations

import asyncio

from adapters import Settings, get_provider
from adapters.openai import async_client

QUESTIONS = ["What is Entra ID?", "What is a managed identity?", "Why avoid API keys?"]


async def run() -> None:
    """Ask three questions at once, then stream one answer."""
    deployment = Settings.from_env().require_deployment("chat")
    llm = async_client()

    async def ask(question: str) -> str:
        completion = await llm.chat.completions.create(
            model=deployment, messages=[{"role": "user", "content": question}]
        )
        return completion.choices[0].message.content or ""

    answers = await asyncio.gather(*(ask(q) for q in QUESTIONS))
    for question, answer in zip(QUESTIONS, answers, strict=True):
        print(f"Q: {question}\nA: {answer}")

    stream = await llm.chat.completions.create(
        model=deployment,
        messages=[{"role": "user", "content": "Stream me a short greeting."}],
        stream=True,
    )
    pieces = [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
    print(f"streamed in {len(pieces)} chunks: {''.join(pieces)}")

    provider = get_provider()
    print(f"token fetches: {provider.stats.fetches} for {len(QUESTIONS) + 1} requests")
    await llm.close()


def main() -> None:
    """Run the async example."""
    asyncio.run(run())


if __name__ == "__main__":
    main()
