"""A keyless LlamaIndex ``AzureOpenAI`` LLM: complete, chat and stream, sync and async.

Run it with ``python examples/llama_index_llm.py`` after setting ``AZURE_OPENAI_ENDPOINT``
and ``AZURE_OPENAI_CHAT_DEPLOYMENT`` and signing in (``az login`` locally; a managed
identity on Azure).

LlamaIndex's own ``use_azure_ad=True`` freezes a token into ``api_key`` and sends it as an
``api-key`` header; ``llm()`` leaves that off and gives LlamaIndex keyless openai clients
that ask the shared provider for a fresh token on every request.
"""

from __future__ import annotations

import asyncio

from llama_index.core.llms import ChatMessage

from adapters import get_provider
from adapters.llama_index import llm


def main() -> None:
    """Complete, chat, stream and acomplete with one LLM."""
    # model= is metadata for LlamaIndex (context window, function calling): give the
    # deployed model's name. The deployment (AZURE_OPENAI_CHAT_DEPLOYMENT) picks the model.
    model = llm(model="gpt-4o-mini", temperature=0)

    print("complete:", model.complete("Name one benefit of keyless auth.").text)
    reply = model.chat([ChatMessage(role="user", content="And one more?")])
    print("chat:", reply.message.content)
    streamed = "".join(chunk.delta or "" for chunk in model.stream_complete("Stream this."))
    print("stream:", streamed)
    print("acomplete:", asyncio.run(model.acomplete("Async, please.")).text)

    print(f"token fetches: {get_provider().stats.fetches}")


if __name__ == "__main__":
    main()
