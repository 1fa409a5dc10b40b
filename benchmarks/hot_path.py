"""Hot path: the cost of one provider call when a valid token is cached.

Ours is ``TokenProvider.__call__`` (and ``aget_token``); the baseline is the wrapper
``azure.identity.get_bearer_token_provider`` returns (and its ``azure.identity.aio`` twin),
which runs azure-core's ``BearerTokenCredentialPolicy`` on a fake request each call. Both
wrap the same real credentials, talking to the loopback managed-identity emulator or the
fake ``az``. The floor is a function returning a constant string.

Each figure is the median, over repeats, of the mean cost of a timed loop; within a repeat
the contenders run back to back, so they see the same machine noise.
"""

from __future__ import annotations

import asyncio
import os
import time
import timeit
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks._common import HOUR, SCOPE, Row, environment, fmt_ratio, fmt_time, median

SECTION = "Hot path (cached token, per call)"
SHORT_CLI_LIFETIME = 240.0
"""Under azure-core's 300-s refresh margin: its provider then runs ``az`` on every call."""

_CONSTANT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.constant"


def _floor() -> str:
    return _CONSTANT


async def _async_floor() -> str:
    return _CONSTANT


def _timed(functions: dict[str, tuple[Callable[[], Any], int]], repeats: int) -> dict[str, float]:
    """Median seconds per call of each ``(function, calls per loop)``, interleaved."""
    timers = {
        name: (timeit.Timer(function), number) for name, (function, number) in functions.items()
    }
    samples: dict[str, list[float]] = {name: [] for name in functions}
    for timer, number in timers.values():
        timer.timeit(max(number // 10, 1))  # warm up
    for _ in range(repeats):
        for name, (timer, number) in timers.items():
            samples[name].append(timer.timeit(number) / number)
    return {name: median(values) for name, values in samples.items()}


async def _atimed(
    functions: dict[str, tuple[Callable[[], Awaitable[Any]], int]], repeats: int
) -> dict[str, float]:
    """Async twin of :func:`_timed` (each call awaited in a loop on the running loop)."""

    async def run(function: Callable[[], Awaitable[Any]], count: int) -> float:
        start = time.perf_counter()
        for _ in range(count):
            await function()
        return (time.perf_counter() - start) / count

    samples: dict[str, list[float]] = {name: [] for name in functions}
    for function, number in functions.values():
        await run(function, max(number // 10, 1))
    for _ in range(repeats):
        for name, (function, number) in functions.items():
            samples[name].append(await run(function, number))
    return {name: median(values) for name, values in samples.items()}


def _cheaper(ours: float, plain: float) -> str:
    return f"{fmt_ratio(plain / ours)} cheaper"


def run(*, quick: bool) -> list[Row]:
    """Measure the hot path; returns the table rows."""
    import azure.identity
    import azure.identity.aio

    from adapters import TokenProvider
    from adapters.testing import FakeAzureCli, ManagedIdentityEmulator, TokenIssuer

    number = 20_000 if quick else 200_000
    plain_number = 2_000 if quick else 20_000
    repeats = 3 if quick else 9
    rows: list[Row] = []
    issuer = TokenIssuer()
    with (
        ManagedIdentityEmulator(issuer=issuer, token_lifetime=HOUR) as mi,
        FakeAzureCli(issuer, token_lifetime=HOUR) as cli,
        environment(mi.environ),
    ):
        # Managed identity, 1-h tokens: both designs cache.
        ours = TokenProvider(azure.identity.ManagedIdentityCredential())
        plain = azure.identity.get_bearer_token_provider(
            azure.identity.ManagedIdentityCredential(), SCOPE
        )
        ours(), plain()
        costs = _timed(
            {"floor": (_floor, number), "ours": (ours, number), "plain": (plain, plain_number)},
            repeats,
        )
        floor, ours_cost, plain_cost = costs["floor"], costs["ours"], costs["plain"]
        rows.append(
            Row(
                SECTION,
                "`provider()` vs floor (a function returning a constant)",
                fmt_time(ours_cost),
                fmt_time(floor),
                f"{fmt_ratio(ours_cost / floor)} the floor",
                "<= 5x the floor",
                ours_cost <= 5 * floor,
                ours_cost / floor,
                "{:.2f}x",
            )
        )
        rows.append(
            Row(
                SECTION,
                "ManagedIdentityCredential, 1-h tokens: `provider()` vs "
                "`get_bearer_token_provider`",
                fmt_time(ours_cost),
                fmt_time(plain_cost),
                _cheaper(ours_cost, plain_cost),
                ">= 50x cheaper",
                plain_cost >= 50 * ours_cost,
                plain_cost / ours_cost,
                "{:,.0f}x",
            )
        )

        async def async_costs() -> dict[str, float]:
            native = azure.identity.aio.ManagedIdentityCredential()
            aio_ours = TokenProvider(
                azure.identity.ManagedIdentityCredential(), async_credential=native
            )
            aio_credential = azure.identity.aio.ManagedIdentityCredential()
            aio_plain = azure.identity.aio.get_bearer_token_provider(aio_credential, SCOPE)
            try:
                await aio_ours.aget_token()
                await aio_plain()
                return await _atimed(
                    {
                        "floor": (_async_floor, number),
                        "ours": (aio_ours.aget_token, number),
                        "plain": (aio_plain, plain_number),
                    },
                    repeats,
                )
            finally:
                await aio_credential.close()
                await native.close()

        costs = asyncio.run(async_costs())
        rows.append(
            Row(
                SECTION,
                "`await provider.aget_token()` vs async floor (an `async def` returning a "
                "constant)",
                fmt_time(costs["ours"]),
                fmt_time(costs["floor"]),
                f"{fmt_ratio(costs['ours'] / costs['floor'])} the floor",
                "",
                None,
                costs["ours"] / costs["floor"],
                "{:.2f}x",
            )
        )
        rows.append(
            Row(
                SECTION,
                "azure.identity.aio ManagedIdentityCredential, 1-h tokens: "
                "`await provider.aget_token()` vs aio `get_bearer_token_provider`",
                fmt_time(costs["ours"]),
                fmt_time(costs["plain"]),
                _cheaper(costs["ours"], costs["plain"]),
                ">= 50x cheaper",
                costs["plain"] >= 50 * costs["ours"],
                costs["plain"] / costs["ours"],
                "{:,.0f}x",
            )
        )

        # Azure CLI: 1-h tokens (azure-core caches them), then 240-s tokens (it does not).
        with environment({"PATH": cli.path_with_fakes(os.environ.get("PATH"))}):
            for lifetime in (HOUR, SHORT_CLI_LIFETIME):
                cli.token_lifetime = lifetime
                ours = TokenProvider(azure.identity.AzureCliCredential())
                plain = azure.identity.get_bearer_token_provider(
                    azure.identity.AzureCliCredential(), SCOPE
                )
                ours(), plain()
                cli.reset_counters()
                ours_cost = _timed({"ours": (ours, number)}, repeats)["ours"]
                ours_calls = cli.az_calls
                calls = plain_number if lifetime == HOUR else (2 if quick else 5)
                plain_cost = _timed({"plain": (plain, calls)}, repeats)["plain"]
                plain_calls = cli.az_calls - ours_calls
                label = "1-h tokens" if lifetime == HOUR else f"{lifetime:.0f}-s tokens"
                rows.append(
                    Row(
                        SECTION,
                        f"AzureCliCredential (fake `az`), {label}: `provider()` vs "
                        f"`get_bearer_token_provider` (`az` runs while timed: ours "
                        f"{ours_calls}, plain {plain_calls})",
                        fmt_time(ours_cost),
                        fmt_time(plain_cost),
                        _cheaper(ours_cost, plain_cost),
                        ">= 10,000x cheaper",
                        plain_cost >= 10_000 * ours_cost,
                        plain_cost / ours_cost,
                        "{:,.0f}x",
                    )
                )
    return rows
