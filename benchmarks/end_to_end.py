"""End to end: chat completions per second through the openai SDK, three ways to authenticate.

The same ``openai.AzureOpenAI`` (and ``AsyncAzureOpenAI``) requests go to the Azure OpenAI
emulator, which verifies every JWT (RS256 signature, audience, expiry), authenticated by:

- ours: ``adapters.openai.client()`` / ``async_client()`` over ``ManagedIdentityCredential``;
- plain: ``azure_ad_token_provider=get_bearer_token_provider(ManagedIdentityCredential())``
  (the aio twin for the async client);
- static: ``azure_ad_token=<token>``, the cheapest possible authentication: no provider.

Tokens live an hour, so no design fetches during the timed rounds. The emulators run in a
child process (see ``benchmarks._serve``), so the server does not compete with the client
for the interpreter lock. Rounds interleave the clients; the figure is the median
over rounds. Two identical static-token clients run as an A/A control. Within each round the
designs run back to back, so comparisons are per round (slow drift of the machine cancels):
the gap is the median over rounds of ours / static - 1, and the noise band is the largest
difference between the two identical static clients in any round.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks._common import HOUR, SCOPE, RemoteAzure, Row, environment, fmt_ratio, median

SECTION = "End to end (openai SDK -> Azure OpenAI emulator)"
API_VERSION = "2024-10-21"
MESSAGES = [{"role": "user", "content": "hello"}]
CONCURRENCY = 16
DESIGNS = ("ours", "plain", "static", "static_b")
"""``static_b`` is a second, identical static-token client: an A/A control for the noise."""


def _order(index: int) -> tuple[str, ...]:
    shift = index % len(DESIGNS)
    return DESIGNS[shift:] + DESIGNS[:shift]


def _summarise(label: str, rps: dict[str, list[float]]) -> list[Row]:
    """Rows for one client kind; gaps and noise are per-round ratios, so drift cancels."""
    ours, plain, static = median(rps["ours"]), median(rps["plain"]), median(rps["static"])
    rounds = range(len(rps["static"]))
    gap = median([rps["ours"][i] / rps["static"][i] - 1 for i in rounds])
    band = max(abs(rps["static_b"][i] / rps["static"][i] - 1) for i in rounds)
    return [
        Row(
            SECTION,
            f"{label}: requests/s, ours vs plain `get_bearer_token_provider`",
            f"{ours:,.0f}/s",
            f"{plain:,.0f}/s",
            f"{fmt_ratio(ours / plain)} the throughput",
            "",
            key=ours / plain,
            key_format="{:.2f}x",
        ),
        Row(
            SECTION,
            f"{label}: requests/s, ours vs static token (A/A noise band ±{band:.1%})",
            f"{ours:,.0f}/s",
            f"{static:,.0f}/s",
            f"{gap:+.1%}",
            "within the noise band",
            abs(gap) <= band,
            gap * 100,
            "{:+.1f}%",
        ),
    ]


def _check(remote: RemoteAzure, expected: int) -> None:
    stats = remote.stats()
    if stats["statuses"] != {"200": expected}:
        raise RuntimeError(f"unexpected answers from the emulator: {stats['statuses']}")


def run(*, quick: bool) -> list[Row]:
    """Measure sync and async throughput; returns the table rows."""
    import azure.identity
    import azure.identity.aio
    import openai

    from adapters import openai as keyless_openai

    rounds = 3 if quick else 7
    per_round = 100 if quick else 400
    rows: list[Row] = []
    with RemoteAzure() as remote, environment(remote.identity):
        remote.command("set", "lifetime", HOUR)
        static_token = remote.command("token", HOUR)["token"]
        common: dict[str, Any] = {
            "azure_endpoint": remote.endpoint,
            "api_version": API_VERSION,
            "max_retries": 0,
        }

        # Sync: one thread, sequential requests.
        clients: dict[str, Any] = {
            "ours": keyless_openai.client(
                endpoint=remote.endpoint,
                api_version=API_VERSION,
                credential=azure.identity.ManagedIdentityCredential(),
                max_retries=0,
            ),
            "plain": openai.AzureOpenAI(
                **common,
                azure_ad_token_provider=azure.identity.get_bearer_token_provider(
                    azure.identity.ManagedIdentityCredential(), SCOPE
                ),
            ),
            "static": openai.AzureOpenAI(**common, azure_ad_token=static_token),
            "static_b": openai.AzureOpenAI(**common, azure_ad_token=static_token),
        }

        def sync_batch(client: Any, count: int) -> float:
            start = time.perf_counter()
            for _ in range(count):
                client.chat.completions.create(model="chat", messages=MESSAGES)
            return count / (time.perf_counter() - start)

        rps: dict[str, list[float]] = {name: [] for name in DESIGNS}
        for client in clients.values():
            sync_batch(client, 20)  # warm up: token, connection, code paths
        remote.reset()
        for index in range(rounds):
            for name in _order(index):
                rps[name].append(sync_batch(clients[name], per_round))
        _check(remote, rounds * per_round * len(DESIGNS))
        for client in clients.values():
            client.close()
        rows += _summarise("sync client, 1 thread", rps)

        # Async: CONCURRENCY coroutines on one loop.
        async def async_rounds() -> dict[str, list[float]]:
            native = azure.identity.aio.ManagedIdentityCredential()
            plain_native = azure.identity.aio.ManagedIdentityCredential()
            aclients: dict[str, Any] = {
                "ours": keyless_openai.async_client(
                    endpoint=remote.endpoint,
                    api_version=API_VERSION,
                    credential=azure.identity.ManagedIdentityCredential(),
                    async_credential=native,
                    max_retries=0,
                ),
                "plain": openai.AsyncAzureOpenAI(
                    **common,
                    azure_ad_token_provider=azure.identity.aio.get_bearer_token_provider(
                        plain_native, SCOPE
                    ),
                ),
                "static": openai.AsyncAzureOpenAI(**common, azure_ad_token=static_token),
                "static_b": openai.AsyncAzureOpenAI(**common, azure_ad_token=static_token),
            }

            async def batch(client: Any, count: int) -> float:
                async def one_worker(n: int) -> None:
                    for _ in range(n):
                        await client.chat.completions.create(model="chat", messages=MESSAGES)

                start = time.perf_counter()
                await asyncio.gather(
                    *(one_worker(count // CONCURRENCY) for _ in range(CONCURRENCY))
                )
                return (count // CONCURRENCY * CONCURRENCY) / (time.perf_counter() - start)

            result: dict[str, list[float]] = {name: [] for name in DESIGNS}
            try:
                for client in aclients.values():
                    await batch(client, CONCURRENCY * 2)
                remote.reset()
                for index in range(rounds):
                    for name in _order(index):
                        result[name].append(await batch(aclients[name], per_round))
                _check(remote, rounds * (per_round // CONCURRENCY * CONCURRENCY) * len(DESIGNS))
            finally:
                closers: list[Callable[[], Awaitable[None]]] = [
                    *(client.close for client in aclients.values()),
                    native.close,
                    plain_native.close,
                ]
                for close in closers:
                    await close()
            return result

        rows += _summarise(f"async client, {CONCURRENCY} coroutines", asyncio.run(async_rounds()))
    return rows
