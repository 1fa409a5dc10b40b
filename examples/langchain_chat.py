"""A LangChain chain on a keyless ``AzureChatOpenAI``, sync and async.

Run it with ``python examples/langchain_chat.py`` after setting ``AZURE_OPENAI_ENDPOINT``
and ``AZURE_OPENAI_CHAT_DEPLOYMENT`` and signing in (``az login`` locally; a managed
identity on Azure).

``chat_model()`` sets both LangChain token providers (sync and async) from one shared
cache, so ``invoke`` and ``ainvoke`` both authenticate, the async path never blocks the
event loop, and a stray ``AZURE_OPENAI_API_KEY`` is never sent.
"""

from __future__ import annotations

import asyncio

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from adapters import get_provider
from adapters.langchain import chat_model


def main() -> None:
    """Run a prompt | model | parser chain with invoke, batch and ainvoke."""
    # model= is only LangChain metadata (tracing, token counting); Azure picks the model
    # from the deployment in AZURE_OPENAI_CHAT_DEPLOYMENT.
    llm = chat_model(model="gpt-4o-mini", temperature=0)
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You answer in one sentence."), ("user", "Explain {topic}.")]
    )
    chain = prompt | llm | StrOutputParser()

    print("invoke:", chain.invoke({"topic": "keyless authentication"}))
    for answer in chain.batch([{"topic": "managed identities"}, {"topic": "RBAC"}]):
        print("batch:", answer)
    print("ainvoke:", asyncio.run(chain.ainvoke({"topic": "token refresh"})))

    print(f"token fetches: {get_provider().stats.fetches}")


if __name__ == "__main__":
    main()
