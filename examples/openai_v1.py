"""The Azure OpenAI v1 surface (``/openai/v1/``) with a keyless ``openai.OpenAI`` client.

Run it with ``python examples/openai_v1.py`` after setting ``AZURE_OPENAI_ENDPOINT``,
``AZURE_OPENAI_CHAT_DEPLOYMENT`` and ``AZURE_OPENAI_EMBEDDING_DEPLOYMENT`` and signing in.

The v1 surface takes no dated ``api-version`` and is served by the plain ``OpenAI``
client; ``v1_client()`` makes the shared token provider its callable ``api_key``, so the
SDK asks for a (cached) token on every request. The deployment name goes into ``model=``.
"""

from __future__ import annotations

import asyncio

from adapters import Settings
from adapters.openai import async_v1_client, v1_client


def main() -> None:
    """List the deployments, chat and embed on the v1 surface, sync and async."""
    settings = Settings.from_env()
    chat_deployment = settings.require_deployment("chat")
    embedding_deployment = settings.require_deployment("embedding")

    llm = v1_client()
    print(f"base URL: {llm.base_url}")
    print("models:", ", ".join(sorted(model.id for model in llm.models.list())))
    completion = llm.chat.completions.create(
        model=chat_deployment,
        messages=[{"role": "user", "content": "Hello from the v1 surface"}],
    )
    print(f"chat: {completion.choices[0].message.content}")
    result = llm.embeddings.create(model=embedding_deployment, input="keyless")
    print(f"embedding: {len(result.data[0].embedding)} floats")

    async def ask_async() -> str:
        # AsyncOpenAI awaits its api_key callable: async_v1_client() passes the
        # provider's async face, so the event loop never blocks on a token.
        async with async_v1_client() as allm:
            reply = await allm.chat.completions.create(
                model=chat_deployment,
                messages=[{"role": "user", "content": "Hello from asyncio"}],
            )
        return reply.choices[0].message.content or ""

    print(f"async chat: {asyncio.run(ask_async())}")


if __name__ == "__main__":
    main()
