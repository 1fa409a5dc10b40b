"""Raw HTTP to Azure OpenAI with httpx and an always-fresh token, no SDK.

Run it with ``python examples/raw_token_httpx.py`` after setting ``AZURE_OPENAI_ENDPOINT``
and ``AZURE_OPENAI_CHAT_DEPLOYMENT`` and signing in.

``refreshing_token()`` is bound to the shared provider: ``httpx_auth()`` puts a valid
token on every request (sync and async clients alike), and ``headers()`` / ``get()``
serve code that only takes a header dict or a string.
"""

from __future__ import annotations

import asyncio

import httpx

from adapters import Settings
from adapters.rawtoken import refreshing_token


def main() -> None:
    """Call chat completions over plain httpx, sync and async."""
    settings = Settings.from_env()
    url = (
        f"{settings.require_endpoint()}/openai/deployments/"
        f"{settings.require_deployment('chat')}/chat/completions"
    )
    params = {"api-version": settings.api_version}
    payload = {"messages": [{"role": "user", "content": "Hello over raw HTTP"}]}

    token = refreshing_token()
    print(f"token: {token!r}")  # the repr never shows the token itself
    print(f"valid for at least 5 more minutes: {bool(token.get(min_lifetime=300))}")

    with httpx.Client(auth=token.httpx_auth(), timeout=30) as http:
        response = http.post(url, params=params, json=payload)
        response.raise_for_status()
        print("httpx:", response.json()["choices"][0]["message"]["content"])

    async def call_async() -> str:
        async with httpx.AsyncClient(auth=token.httpx_auth(), timeout=30) as http:
            response = await http.post(url, params=params, json=payload)
            response.raise_for_status()
            return str(response.json()["choices"][0]["message"]["content"])

    print("httpx async:", asyncio.run(call_async()))

    # For code that takes a header dict, read it right before each use.
    response = httpx.post(url, params=params, json=payload, headers=token.headers(), timeout=30)
    print(f"headers(): HTTP {response.status_code}")


if __name__ == "__main__":
    main()
