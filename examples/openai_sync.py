"""Chat and embeddings with the keyless ``openai.AzureOpenAI`` client.

Run it with ``python examples/openai_sync.py`` after setting::

    AZURE_OPENAI_ENDPOINT=https://<resource>.openai.azure.com
    AZURE_OPENAI_CHAT_DEPLOYMENT=<chat deployment name>
    AZURE_OPENAI_EMBEDDING_DEPLOYMENT=<embedding deployment name>

and signing in (``az login`` or ``azd auth login`` locally; on Azure a managed identity
is used). No API key is read or sent.
"""

from __future__ import annotations

from adapters import Settings, get_provider
from adapters.openai import client


def main() -> None:
    """Ask one chat question and embed two texts with one client."""
    settings = Settings.from_env()
    chat_deployment = settings.require_deployment("chat")
    embedding_deployment = settings.require_deployment("embedding")

    # One client serves both deployments: with no deployment bound, the SDK puts each
    # call's model= (the deployment name, not the model name) into the URL.
    llm = client()
    completion = llm.chat.completions.create(
        model=chat_deployment,
        messages=[{"role": "user", "content": "Say hello in five words."}],
    )
    print(f"chat ({chat_deployment} runs {completion.model}):")
    print(f"  {completion.choices[0].message.content}")

    result = llm.embeddings.create(model=embedding_deployment, input=["keyless", "auth"])
    print(f"embeddings: {len(result.data)} vectors of {len(result.data[0].embedding)} floats")

    provider = get_provider()  # the same shared provider the client uses
    print(f"token fetches: {provider.stats.fetches} ({provider.credential_name})")


if __name__ == "__main__":
    main()
