"""Fixtures of the reliability suite: an emulated Azure whose clock the test can move.

``clock`` is real time plus an offset. It drives the provider *and* the token issuer shared
by the managed-identity and Azure OpenAI emulators, so moving it moves the whole world: new
tokens expire relative to it and the data plane checks expiry against it. A test thus
reaches the advisory window, expiry, or a laptop's resume without sleeping.

``mi_provider`` is the environment's managed identity wired exactly as ``get_provider``
wires it (the choice's name, fix and failure explanation), except that the credential is
built with ``credential_options``: ``retry_total=0`` (one request per attempt, no back-off
sleeps: see the identity emulator's docstring) and a 0.3-s read timeout, unless a module
overrides the fixture. Its tokens live 240 s: under MSAL's
5-minute cache threshold, so every refresh really reaches the endpoint.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from adapters import Settings, TokenProvider, select_credential
from adapters.credentials import explain_failure
from adapters.testing import AzureOpenAIEmulator, ManagedIdentityEmulator, TokenIssuer
from adapters.testing.pytest_plugin import AZURE_IDENTITY_VARIABLES
from tests.reliability.support import API_VERSION, ShiftedClock

LIFETIME = 240.0
"""Seconds each managed-identity token lives: advisory window 120 s, mandatory 24 s."""


@pytest.fixture(scope="session")
def world() -> tuple[ShiftedClock, TokenIssuer]:
    """One clock for the provider and the issuer (RSA keys are slow to make: one only)."""
    clock = ShiftedClock()
    return clock, TokenIssuer(clock=clock)


@pytest.fixture
def clock(world: tuple[ShiftedClock, TokenIssuer]) -> ShiftedClock:
    """The shared clock, back at real time."""
    world[0].offset = 0.0
    return world[0]


@pytest.fixture
def clocked_identity(
    world: tuple[ShiftedClock, TokenIssuer], clock: ShiftedClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ManagedIdentityEmulator]:
    """The managed-identity emulator on the shared clock, as the environment's identity."""
    for name in AZURE_IDENTITY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with ManagedIdentityEmulator(issuer=world[1], token_lifetime=LIFETIME) as mi:
        for name, value in mi.environ.items():
            monkeypatch.setenv(name, value)
        yield mi


@pytest.fixture
def clocked_openai(world: tuple[ShiftedClock, TokenIssuer]) -> Iterator[AzureOpenAIEmulator]:
    """The Azure OpenAI emulator, checking expiry on the shared clock."""
    with AzureOpenAIEmulator(issuer=world[1]) as aoai:
        yield aoai


@pytest.fixture
def credential_options() -> dict[str, Any]:
    """Keywords of the ``ManagedIdentityCredential`` behind ``mi_provider``."""
    return {"retry_total": 0, "read_timeout": 0.3}


@pytest.fixture
def mi_provider(
    clocked_identity: ManagedIdentityEmulator,
    clock: ShiftedClock,
    credential_options: dict[str, Any],
) -> TokenProvider:
    """The environment's managed identity, wired like get_provider, with fast retries."""
    from azure.identity import ManagedIdentityCredential

    choice = select_credential(Settings.from_env())
    assert choice.kind == "managed_identity"
    credential = ManagedIdentityCredential(**credential_options)
    choice = dataclasses.replace(choice, credential=credential, async_credential=None)
    return TokenProvider(
        credential,
        name=choice.name,
        fix=choice.fix,
        explain=lambda exc: explain_failure(choice, exc),
        clock=clock,
    )


@pytest.fixture
def chat_client(mi_provider: TokenProvider, clocked_openai: AzureOpenAIEmulator) -> Iterator[Any]:
    """``openai.AzureOpenAI`` over ``mi_provider``, SDK retries off."""
    openai = pytest.importorskip("openai")
    client = openai.AzureOpenAI(
        azure_endpoint=clocked_openai.endpoint,
        api_version=API_VERSION,
        azure_ad_token_provider=mi_provider,
        max_retries=0,
    )
    yield client
    client.close()
