"""Cold-start storm: many callers ask for the first token at once, from a slow endpoint.

64 threads (released together by a barrier), and separately 1,000 coroutines on one event
loop, call a provider that holds no token yet, while the managed-identity emulator takes
200 ms to answer. We count the calls that reach the credential (a counting wrapper around
the real ``ManagedIdentityCredential``) and the requests that reach the endpoint.

azure-core's sync ``BearerTokenCredentialPolicy`` has no lock, so plain
``get_bearer_token_provider`` makes one credential call per thread; its async policy has
one. Ours makes one call in both cases (single flight).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from benchmarks._common import (
    HOUR,
    SCOPE,
    AsyncCountingCredential,
    CountingCredential,
    Row,
    environment,
    fmt_ratio,
    fmt_time,
)

SECTION = "Cold-start storm (200 ms identity endpoint)"
THREADS = 64
COROUTINES = 1_000
LATENCY = 0.2


def _thread_storm(provider: Callable[[], str]) -> tuple[float, int]:
    """Call ``provider`` from THREADS threads at once; returns (seconds, failures)."""
    barrier = threading.Barrier(THREADS + 1)
    failures = []

    def worker() -> None:
        barrier.wait()
        try:
            provider()
        except Exception as exc:  # counted, reported in the table
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, len(failures)


async def _coroutine_storm(provider: Callable[[], Any]) -> tuple[float, int]:
    start = time.perf_counter()
    results = await asyncio.gather(*(provider() for _ in range(COROUTINES)), return_exceptions=True)
    failures = sum(isinstance(result, BaseException) for result in results)
    return time.perf_counter() - start, failures


def _fewer(ours: int, plain: int) -> str:
    if ours == plain:
        return "same"
    return f"{fmt_ratio(plain / max(ours, 1))} fewer"


def run(*, quick: bool) -> list[Row]:
    """Measure both storms; returns the table rows."""
    import azure.identity
    import azure.identity.aio

    from adapters import TokenProvider
    from adapters.testing import ManagedIdentityEmulator, TokenIssuer

    del quick  # a storm is short either way
    rows: list[Row] = []
    with (
        ManagedIdentityEmulator(issuer=TokenIssuer(), token_lifetime=HOUR, latency=LATENCY) as mi,
        environment(mi.environ),
    ):
        # Threads.
        ours_credential = CountingCredential(azure.identity.ManagedIdentityCredential())
        ours = TokenProvider(ours_credential)
        mi.reset_counters()
        ours_time, ours_failures = _thread_storm(ours)
        ours_requests = mi.requests
        plain_credential = CountingCredential(azure.identity.ManagedIdentityCredential())
        plain = azure.identity.get_bearer_token_provider(plain_credential, SCOPE)
        mi.reset_counters()
        plain_time, plain_failures = _thread_storm(plain)
        plain_requests = mi.requests
        rows.append(
            Row(
                SECTION,
                f"{THREADS} threads: credential calls (endpoint requests), vs "
                "`get_bearer_token_provider`",
                f"{ours_credential.calls} ({ours_requests})",
                f"{plain_credential.calls} ({plain_requests})",
                _fewer(ours_credential.calls, plain_credential.calls),
                "exactly 1",
                ours_credential.calls == 1 and ours_failures == 0,
                ours_credential.calls,
                "{:.0f}",
            )
        )
        rows.append(
            Row(
                SECTION,
                f"{THREADS} threads: time until every thread has a token (failures)",
                f"{fmt_time(ours_time)} ({ours_failures})",
                f"{fmt_time(plain_time)} ({plain_failures})",
                "",
                key=ours_time * 1e3,
                key_format="{:.0f} ms",
            )
        )

        # Coroutines.
        async def storms() -> dict[str, Any]:
            sync_twin = CountingCredential(azure.identity.ManagedIdentityCredential())
            native = AsyncCountingCredential(azure.identity.aio.ManagedIdentityCredential())
            plain_native = AsyncCountingCredential(azure.identity.aio.ManagedIdentityCredential())
            provider = TokenProvider(sync_twin, async_credential=native)
            plain_provider = azure.identity.aio.get_bearer_token_provider(plain_native, SCOPE)
            try:
                mi.reset_counters()
                ours = await _coroutine_storm(provider.aget_token)
                ours_requests = mi.requests
                mi.reset_counters()
                plain = await _coroutine_storm(plain_provider)
                return {
                    "ours": ours,
                    "ours_calls": sync_twin.calls + native.calls,
                    "ours_requests": ours_requests,
                    "plain": plain,
                    "plain_calls": plain_native.calls,
                    "plain_requests": mi.requests,
                }
            finally:
                await native.close()
                await plain_native.close()

        result = asyncio.run(storms())
        rows.append(
            Row(
                SECTION,
                f"{COROUTINES:,} coroutines: credential calls (endpoint requests), vs aio "
                "`get_bearer_token_provider`",
                f"{result['ours_calls']} ({result['ours_requests']})",
                f"{result['plain_calls']} ({result['plain_requests']})",
                _fewer(result["ours_calls"], result["plain_calls"]),
                "exactly 1",
                result["ours_calls"] == 1 and result["ours"][1] == 0,
                result["ours_calls"],
                "{:.0f}",
            )
        )
        rows.append(
            Row(
                SECTION,
                f"{COROUTINES:,} coroutines: time until every coroutine has a token (failures)",
                f"{fmt_time(result['ours'][0])} ({result['ours'][1]})",
                f"{fmt_time(result['plain'][0])} ({result['plain'][1]})",
                "",
                key=result["ours"][0] * 1e3,
                key_format="{:.0f} ms",
            )
        )
    return rows
