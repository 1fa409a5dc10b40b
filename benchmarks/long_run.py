"""Long run: token fetches and failed requests under steady load with 2-second tokens.

For ``--duration`` seconds (60 by default), 4 threads share one ``openai.AzureOpenAI`` and
4 coroutines share one ``AsyncAzureOpenAI``, sending chat completions to the Azure OpenAI
emulator as fast as they can, while the managed-identity emulator issues tokens that live
2 seconds (so a 60-s run crosses about 30 token lifetimes). SDK retries are off
(``max_retries=0``), so every failure is seen.

- ours: ``adapters.openai.client()`` and ``async_client()`` over one shared provider
  (``ManagedIdentityCredential`` and its aio twin);
- plain: ``get_bearer_token_provider`` over ``ManagedIdentityCredential`` for the sync
  client and the aio twin for the async client (separate caches, as the SDKs are used).

azure-core refreshes a token when less than 300 s remain, so with 2-s tokens its provider
asks the credential on every call; MSAL (inside the sync ``ManagedIdentityCredential``)
serves a cached token only while more than 5 minutes remain, so every call becomes a
request to the identity endpoint. That is the regime of every token near the end of its
life; 2-s tokens just make it last the whole run.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

from benchmarks._common import (
    SCOPE,
    AsyncCountingCredential,
    CountingCredential,
    RemoteAzure,
    Row,
    environment,
    fmt_ratio,
)

SECTION = "Long run (2-s tokens, 4 threads + 4 coroutines)"
LIFETIME = 2.0
THREADS = 4
COROUTINES = 4
API_VERSION = "2024-10-21"
MESSAGES = [{"role": "user", "content": "hello"}]


class _Load:
    """Counts outcomes of the load generators."""

    def __init__(self) -> None:
        self.ok = 0
        self.errors: Counter[str] = Counter()
        self._lock = threading.Lock()

    def success(self) -> None:
        with self._lock:
            self.ok += 1

    def failure(self, exc: BaseException, where: str) -> None:
        with self._lock:
            self.errors[f"{where} {type(exc).__name__}"] += 1

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


def _drive(sync_client: Any, async_client: Any, duration: float) -> _Load:
    """Run the threads and coroutines for ``duration`` seconds."""
    load = _Load()
    stop = threading.Event()

    def thread_worker() -> None:
        while not stop.is_set():
            try:
                sync_client.chat.completions.create(model="chat", messages=MESSAGES)
            except Exception as exc:  # counted as a failed request
                load.failure(exc, "sync")
            else:
                load.success()

    async def coroutine_worker() -> None:
        while not stop.is_set():
            try:
                await async_client.chat.completions.create(model="chat", messages=MESSAGES)
            except Exception as exc:  # counted as a failed request
                load.failure(exc, "async")
            else:
                load.success()

    async def coroutines() -> None:
        await asyncio.gather(*(coroutine_worker() for _ in range(COROUTINES)))

    threads = [threading.Thread(target=thread_worker) for _ in range(THREADS)]
    loop = asyncio.new_event_loop()
    threads.append(threading.Thread(target=loop.run_until_complete, args=(coroutines(),)))
    for thread in threads:
        thread.start()
    stop.wait(duration)
    stop.set()
    for thread in threads:
        thread.join()
    loop.run_until_complete(async_client.close())
    loop.close()
    sync_client.close()
    return load


def run(*, duration: float) -> list[Row]:
    """Run both designs for ``duration`` seconds each; returns the table rows."""
    import azure.identity
    import azure.identity.aio
    import openai

    from adapters import openai as keyless_openai

    results: dict[str, dict[str, Any]] = {}
    with RemoteAzure() as remote, environment(remote.identity):
        remote.command("set", "lifetime", LIFETIME)
        common: dict[str, Any] = {
            "azure_endpoint": remote.endpoint,
            "api_version": API_VERSION,
            "max_retries": 0,
        }
        for design in ("ours", "plain"):
            sync_credential = CountingCredential(azure.identity.ManagedIdentityCredential())
            aio_credential = AsyncCountingCredential(azure.identity.aio.ManagedIdentityCredential())
            if design == "ours":
                keywords: dict[str, Any] = {
                    "endpoint": remote.endpoint,
                    "api_version": API_VERSION,
                    "credential": sync_credential,
                    "async_credential": aio_credential,
                    "max_retries": 0,
                }
                sync_client: Any = keyless_openai.client(**keywords)
                async_client: Any = keyless_openai.async_client(**keywords)
            else:
                sync_client = openai.AzureOpenAI(
                    **common,
                    azure_ad_token_provider=azure.identity.get_bearer_token_provider(
                        sync_credential, SCOPE
                    ),
                )
                async_client = openai.AsyncAzureOpenAI(
                    **common,
                    azure_ad_token_provider=azure.identity.aio.get_bearer_token_provider(
                        aio_credential, SCOPE
                    ),
                )
            remote.reset()
            load = _drive(sync_client, async_client, duration)
            stats = remote.stats()
            asyncio.run(aio_credential.close())
            results[design] = {
                "load": load,
                "stats": stats,
                "credential_calls": sync_credential.calls + aio_credential.calls,
            }

    rows: list[Row] = []
    ours, plain = results["ours"], results["plain"]

    def fewer(a: float, b: float) -> str:
        return f"{fmt_ratio(b / max(a, 1))} fewer"

    lifetimes = duration / LIFETIME
    rows.append(
        Row(
            SECTION,
            f"identity endpoint token requests in {duration:.0f} s (~{lifetimes:.0f} token "
            "lifetimes), vs `get_bearer_token_provider`",
            f"{ours['stats']['mi_requests']:,}",
            f"{plain['stats']['mi_requests']:,}",
            fewer(ours["stats"]["mi_requests"], plain["stats"]["mi_requests"]),
            "about 1-2 per token lifetime",
            ours["stats"]["mi_requests"] <= 2 * lifetimes + 2,
        )
    )
    rows.append(
        Row(
            SECTION,
            "credential calls (sync + aio)",
            f"{ours['credential_calls']:,}",
            f"{plain['credential_calls']:,}",
            fewer(ours["credential_calls"], plain["credential_calls"]),
        )
    )

    def kinds(load: _Load) -> str:
        listed = ", ".join(f"{k}: {v}" for k, v in load.errors.most_common())
        return f" ({listed})" if listed else ""

    rows.append(
        Row(
            SECTION,
            "failed requests",
            f"{ours['load'].failed:,}{kinds(ours['load'])}",
            f"{plain['load'].failed:,}{kinds(plain['load'])}",
            "",
            "0",
            ours["load"].failed == 0,
        )
    )
    rows.append(
        Row(
            SECTION,
            "expired tokens reaching the server",
            f"{ours['stats']['expired']:,}",
            f"{plain['stats']['expired']:,}",
            "",
            "0",
            ours["stats"]["expired"] == 0,
        )
    )
    rows.append(
        Row(
            SECTION,
            "requests completed",
            f"{ours['load'].ok:,}",
            f"{plain['load'].ok:,}",
            f"{fmt_ratio(ours['load'].ok / max(plain['load'].ok, 1))} the throughput",
        )
    )
    return rows
