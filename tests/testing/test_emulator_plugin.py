"""The pytest plugin's fixtures and the package's import hygiene."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest

import adapters.testing
from adapters.errors import MissingExtraError
from adapters.testing import (
    AzureOpenAIEmulator,
    FakeAzureCli,
    ManagedIdentityEmulator,
    TokenIssuer,
    default_issuer,
)
from adapters.testing.pytest_plugin import AZURE_IDENTITY_VARIABLES


def test_plugin_import_loads_no_server_libraries() -> None:
    """Importing the plugin (done in every pytest run) imports neither starlette nor uvicorn."""
    code = (
        "import sys, adapters.testing.pytest_plugin\n"
        "heavy = [m for m in ('starlette', 'uvicorn', 'jwt', 'cryptography') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""


def test_plugin_is_registered_as_an_entry_point(pytestconfig: pytest.Config) -> None:
    """The plugin is loaded through the keyless_adapters pytest11 entry point."""
    assert pytestconfig.pluginmanager.has_plugin("keyless_adapters")


def test_all_is_sorted_and_importable() -> None:
    """adapters.testing.__all__ is sorted and every name resolves."""
    assert adapters.testing.__all__ == sorted(adapters.testing.__all__)
    for name in adapters.testing.__all__:
        assert getattr(adapters.testing, name) is not None


def test_unknown_attribute_raises_attribute_error() -> None:
    """The lazy exports do not swallow typos."""
    with pytest.raises(AttributeError):
        _ = adapters.testing.NoSuchThing


def test_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without uvicorn, importing an emulator raises MissingExtraError naming the extra."""
    for name in ("adapters.testing._server", "adapters.testing.identity"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with pytest.raises(MissingExtraError, match=r'pip install "keyless-adapters\[testing\]"'):
        importlib.import_module("adapters.testing.identity")


def test_token_issuer_is_the_default_issuer(token_issuer: TokenIssuer) -> None:
    """The token_issuer fixture is the process-wide default issuer."""
    assert token_issuer is default_issuer()


def test_identity_emulator_is_started_with_the_shared_issuer(
    identity_emulator: ManagedIdentityEmulator, token_issuer: TokenIssuer
) -> None:
    """identity_emulator is running and signs with token_issuer."""
    assert identity_emulator.running
    assert identity_emulator.issuer is token_issuer


def test_identity_emulator_leaves_the_environment_alone(
    identity_emulator: ManagedIdentityEmulator,
) -> None:
    """identity_emulator alone exports nothing."""
    assert os.environ.get("IDENTITY_ENDPOINT") != identity_emulator.endpoint


def test_managed_identity_env_exports_only_app_service_identity(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """managed_identity_env sets IDENTITY_* and removes every competing identity variable."""
    for name in AZURE_IDENTITY_VARIABLES:
        monkeypatch.setenv(name, "stray")
    emulator: ManagedIdentityEmulator = request.getfixturevalue("managed_identity_env")
    assert os.environ["IDENTITY_ENDPOINT"] == emulator.endpoint
    assert os.environ["IDENTITY_HEADER"] == emulator.secret
    assert [name for name in AZURE_IDENTITY_VARIABLES if name in os.environ] == []


def test_fake_azure_cli_shares_the_issuer(
    fake_azure_cli: FakeAzureCli, token_issuer: TokenIssuer
) -> None:
    """fake_azure_cli mints with token_issuer and is first on PATH."""
    assert fake_azure_cli.issuer is token_issuer
    assert os.environ["PATH"].startswith(fake_azure_cli.path_prefix + os.pathsep)


def test_azure_openai_emulator_trusts_the_issuer_and_sets_no_env(
    azure_openai_emulator: AzureOpenAIEmulator, token_issuer: TokenIssuer
) -> None:
    """azure_openai_emulator trusts token_issuer and exports no variable."""
    assert azure_openai_emulator.issuer is token_issuer
    assert azure_openai_emulator.running
    assert azure_openai_emulator.endpoint not in os.environ.values()


def test_fresh_providers_forgets_shared_providers(fresh_providers):
    """With fresh_providers the registry starts empty, so nothing leaks in from before."""
    from adapters._provider import clear_providers

    assert clear_providers() == []
