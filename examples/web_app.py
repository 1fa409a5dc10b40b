"""An async web app (Starlette) that answers chat requests with the keyless async client.

Run it with ``python examples/web_app.py`` after setting ``AZURE_OPENAI_ENDPOINT`` and
``AZURE_OPENAI_CHAT_DEPLOYMENT`` and signing in, then::

    curl -X POST http://127.0.0.1:8000/chat -d '{"message": "hello"}'
    curl http://127.0.0.1:8000/stats

``HOST`` and ``PORT`` choose the address (``PORT=0`` picks a free port). Starlette and
uvicorn come with the ``testing`` extra; any ASGI framework works the same way.

One ``AsyncAzureOpenAI`` client is built at startup and shared by every request. Token
fetches never block the event loop, and concurrent requests share one cached token:
``/stats`` shows one fetch per token lifetime, whatever the traffic.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from adapters import Settings, get_provider
from adapters.openai import async_client


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """Build the client once at startup; close it at shutdown."""
    app.state.deployment = Settings.from_env().require_deployment("chat")
    app.state.client = async_client()
    yield
    await app.state.client.close()
    # Releases the azure.identity.aio credential's HTTP session while this loop still runs.
    await get_provider().aclose()


async def chat(request: Request) -> JSONResponse:
    """POST /chat {"message": "..."} -> {"reply": "..."}."""
    body = await request.json()
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message:
        return JSONResponse({"error": 'send {"message": "..."}'}, status_code=400)
    completion = await request.app.state.client.chat.completions.create(
        model=request.app.state.deployment,
        messages=[{"role": "user", "content": message}],
    )
    return JSONResponse({"reply": completion.choices[0].message.content})


async def stats(request: Request) -> JSONResponse:
    """GET /stats: which credential serves the app and how many tokens it fetched."""
    provider = get_provider()
    return JSONResponse(
        {"credential": provider.credential_name, "token_fetches": provider.stats.fetches}
    )


app = Starlette(
    routes=[Route("/chat", chat, methods=["POST"]), Route("/stats", stats)],
    lifespan=lifespan,
)


def main() -> None:
    """Serve the app with uvicorn until interrupted."""
    import uvicorn

    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    print(f"keyless chat app: POST /chat, GET /stats on {host} (port {port or 'auto'})")
    uvicorn.run(app, host=host, port=port)


if __name__ == "__main__":
    main()
