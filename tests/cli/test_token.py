"""``adapters token``: exactly the token on stdout, everything else on stderr."""

from __future__ import annotations

import json
import time

from adapters.testing import FakeAzureCli, ManagedIdentityEmulator, TokenIssuer

from .conftest import base_env, run_cli

SCOPE = "https://cognitiveservices.azure.com/.default"


def test_token_prints_exactly_the_token_on_stdout_and_its_expiry_on_stderr(
    identity_emulator: ManagedIdentityEmulator, token_issuer: TokenIssuer
) -> None:
    """stdout is the token and a newline, nothing else; the expiry goes to stderr."""
    result = run_cli("token", env=base_env(**identity_emulator.environ))

    assert result.returncode == 0, result.stderr
    token = result.stdout.removesuffix("\n")
    assert result.stdout == token + "\n"
    assert "\n" not in token
    assert token_issuer.verify(token)["oid"] == identity_emulator.principal.oid
    assert "expires" in result.stderr
    assert "UTC" in result.stderr
    assert token not in result.stderr


def test_token_json_holds_token_expiry_and_scope(
    identity_emulator: ManagedIdentityEmulator, token_issuer: TokenIssuer
) -> None:
    """--json prints {"token", "expires_on", "scope"} on one line."""
    result = run_cli("token", "--json", env=base_env(**identity_emulator.environ))

    document = json.loads(result.stdout)
    assert result.returncode == 0
    assert result.stdout.count("\n") == 1
    assert set(document) == {"token", "expires_on", "scope"}
    assert document["scope"] == SCOPE
    assert token_issuer.verify(document["token"])["exp"] >= document["expires_on"]
    assert abs(document["expires_on"] - (time.time() + 3600)) < 60


def test_token_scope_option_chooses_the_audience(
    identity_emulator: ManagedIdentityEmulator, token_issuer: TokenIssuer
) -> None:
    """--scope asks the credential for that scope's resource."""
    scope = "https://management.azure.com/.default"

    result = run_cli("token", "--scope", scope, env=base_env(**identity_emulator.environ))

    token = result.stdout.strip()
    assert result.returncode == 0
    assert token_issuer.verify(token, audience="https://management.azure.com")


def test_token_rejects_a_scope_without_default_in_one_line(
    identity_emulator: ManagedIdentityEmulator,
) -> None:
    """A scope not ending in /.default is a usage error: one line on stderr, exit 2."""
    scope = "https://management.azure.com"

    result = run_cli("token", "--scope", scope, env=base_env(**identity_emulator.environ))

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert f"use --scope {scope}/.default" in result.stderr
    assert identity_emulator.requests == 0


def test_token_failure_explains_the_sign_in_and_prints_nothing_on_stdout(
    fake_azure_cli: FakeAzureCli,
) -> None:
    """A signed-out developer gets exit 1, an empty stdout and the sign-in command."""
    fake_azure_cli.log_out()

    result = run_cli("token", env=base_env(PATH=fake_azure_cli.path_with_fakes()))

    assert result.returncode == 1
    assert result.stdout == ""
    assert "run `az login` (or `azd auth login`)" in result.stderr
    assert "Traceback" not in result.stderr


def test_token_uses_the_signed_in_developer(
    fake_azure_cli: FakeAzureCli, token_issuer: TokenIssuer
) -> None:
    """Without an Azure host, the token comes from azd/az, for the signed-in user."""
    result = run_cli("token", env=base_env(PATH=fake_azure_cli.path_with_fakes()))

    assert result.returncode == 0, result.stderr
    assert token_issuer.verify(result.stdout.strip())["upn"] == fake_azure_cli.principal.upn
    assert "ChainedTokenCredential" in result.stderr


def test_token_gives_up_after_the_timeout(identity_emulator: ManagedIdentityEmulator) -> None:
    """A credential that does not answer within --timeout is an error, not a hang."""
    identity_emulator.hang_next(seconds=20)
    started = time.monotonic()

    result = run_cli("token", "--timeout", "1", env=base_env(**identity_emulator.environ))

    assert result.returncode == 1
    assert result.stdout == ""
    assert "did not return a token" in result.stderr
    assert "within 1 s" in result.stderr
    assert time.monotonic() - started < 15
