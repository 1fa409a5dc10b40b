"""Fake `az` / `azd`, driven by the real azure-identity CLI credentials."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from azure.identity import (
    AzureCliCredential,
    AzureDeveloperCliCredential,
    CredentialUnavailableError,
)
from azure.identity.aio import AzureCliCredential as AsyncAzureCliCredential
from azure.identity.aio import AzureDeveloperCliCredential as AsyncAzureDeveloperCliCredential

from adapters.testing import FakeAzureCli, Principal, TokenIssuer
from adapters.testing.cli import AZ_NOT_LOGGED_IN, AZD_NOT_LOGGED_IN, Tool

SCOPE = "https://cognitiveservices.azure.com/.default"
RESOURCE = "https://cognitiveservices.azure.com"
CREDENTIALS = [("az", AzureCliCredential), ("azd", AzureDeveloperCliCredential)]
ASYNC_CREDENTIALS = [
    ("az", AsyncAzureCliCredential),
    ("azd", AsyncAzureDeveloperCliCredential),
]


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)


@pytest.mark.parametrize(("tool", "credential_class"), CREDENTIALS)
def test_sync_credential_gets_a_verifiable_token(
    fake_azure_cli: FakeAzureCli, token_issuer: TokenIssuer, tool: str, credential_class: Any
) -> None:
    """The real sync CLI credential gets a token from the fake, trusted by the issuer."""
    token = credential_class().get_token(SCOPE)
    assert token_issuer.verify(token.token)["aud"] == RESOURCE
    assert fake_azure_cli.invocations == {"az": 0, "azd": 0, tool: 1}


@pytest.mark.parametrize(("tool", "credential_class"), ASYNC_CREDENTIALS)
async def test_async_credential_gets_a_verifiable_token(
    fake_azure_cli: FakeAzureCli, token_issuer: TokenIssuer, tool: str, credential_class: Any
) -> None:
    """The real aio CLI credential gets a token from the fake."""
    async with credential_class() as credential:
        token = await credential.get_token(SCOPE)
    assert token_issuer.verify(token.token)["aud"] == RESOURCE
    assert fake_azure_cli.invocations[tool] == 1


@pytest.mark.parametrize(("tool", "credential_class"), CREDENTIALS)
def test_every_get_token_runs_the_cli(
    fake_azure_cli: FakeAzureCli, tool: Tool, credential_class: Any
) -> None:
    """The CLI credentials cache nothing: two calls, two runs."""
    credential = credential_class()
    credential.get_token(SCOPE)
    credential.get_token(SCOPE)
    assert fake_azure_cli.invocations[tool] == 2
    assert fake_azure_cli.tokens_issued == 2


def test_credential_expiry_matches_the_token(fake_azure_cli: FakeAzureCli) -> None:
    """AzureCliCredential reads `expires_on`, the floor of the JWT's exp."""
    fake_azure_cli.token_lifetime = 1.5
    token = AzureCliCredential().get_token(SCOPE)
    exp = fake_azure_cli.issuer.verify(token.token)["exp"]
    assert token.expires_on == int(exp)


@pytest.mark.parametrize(
    ("credential_class", "flag"),
    [(AzureCliCredential, "--tenant"), (AzureDeveloperCliCredential, "--tenant-id")],
)
def test_tenant_argument_sets_the_token_tenant(
    fake_azure_cli: FakeAzureCli, credential_class: Any, flag: str
) -> None:
    """A credential's tenant_id reaches the CLI and becomes the token's tid."""
    tenant = "11111111-2222-3333-4444-555555555555"
    token = credential_class(tenant_id=tenant).get_token(SCOPE)
    assert fake_azure_cli.issuer.verify(token.token)["tid"] == tenant
    assert flag in fake_azure_cli.log[-1].argv


def test_az_prints_the_real_json_shape(fake_azure_cli: FakeAzureCli) -> None:
    """az prints accessToken, local expiresOn with microseconds, int expires_on and more."""
    result = _run("az", "account", "get-access-token", "--output", "json", "--resource", RESOURCE)
    body = json.loads(result.stdout)
    assert list(body) == [
        "accessToken",
        "expiresOn",
        "expires_on",
        "subscription",
        "tenant",
        "tokenType",
    ]
    local = datetime.datetime.strptime(body["expiresOn"], "%Y-%m-%d %H:%M:%S.%f")
    assert int(local.timestamp()) == body["expires_on"]
    assert (body["tenant"], body["tokenType"]) == (fake_azure_cli.tenant_id, "Bearer")


def test_azd_prints_the_real_json_shape(fake_azure_cli: FakeAzureCli) -> None:
    """azd prints token and expiresOn as UTC with a Z and no fraction."""
    result = _run("azd", "auth", "token", "--output", "json", "--no-prompt", "--scope", SCOPE)
    body = json.loads(result.stdout)
    assert list(body) == ["token", "expiresOn"]
    expires = datetime.datetime.strptime(body["expiresOn"], "%Y-%m-%dT%H:%M:%SZ")
    exp = fake_azure_cli.issuer.verify(body["token"])["exp"]
    assert expires.replace(tzinfo=datetime.timezone.utc).timestamp() == int(exp)


def test_az_query_access_token_tsv_prints_the_bare_token(fake_azure_cli: FakeAzureCli) -> None:
    """`--query accessToken -o tsv` prints only the token, as scripts expect."""
    result = _run("az", "account", "get-access-token", "--query", "accessToken", "-o", "tsv")
    assert fake_azure_cli.issuer.verify(
        result.stdout.strip(), audience="https://management.core.windows.net/"
    )


def test_az_logged_out_prints_the_real_error(fake_azure_cli: FakeAzureCli) -> None:
    """Logged-out az exits 1 with "Please run 'az login' to setup account." on stderr."""
    fake_azure_cli.log_out("az")
    result = _run("az", "account", "get-access-token", "--output", "json", "--resource", RESOURCE)
    assert (result.returncode, result.stderr, result.stdout) == (1, AZ_NOT_LOGGED_IN, "")


def test_azd_logged_out_prints_the_real_error(fake_azure_cli: FakeAzureCli) -> None:
    """Logged-out azd exits 1 with a JSON error naming `azd auth login`."""
    fake_azure_cli.log_out("azd")
    result = _run("azd", "auth", "token", "--output", "json", "--no-prompt", "--scope", SCOPE)
    assert result.returncode == 1
    assert AZD_NOT_LOGGED_IN in json.loads(result.stderr)["error"]


@pytest.mark.parametrize(("tool", "credential_class"), CREDENTIALS)
def test_logged_out_credential_is_unavailable(
    fake_azure_cli: FakeAzureCli, tool: Tool, credential_class: Any
) -> None:
    """The real credentials turn the logged-out output into CredentialUnavailableError."""
    fake_azure_cli.log_out(tool)
    with pytest.raises(CredentialUnavailableError, match="login"):
        credential_class().get_token(SCOPE)
    assert (fake_azure_cli.failures, fake_azure_cli.tokens_issued) == (1, 0)


def test_log_out_one_tool_leaves_the_other(fake_azure_cli: FakeAzureCli) -> None:
    """Logging out az keeps azd signed in."""
    fake_azure_cli.log_out("az")
    assert AzureDeveloperCliCredential().get_token(SCOPE)
    assert (fake_azure_cli.is_logged_in("az"), fake_azure_cli.is_logged_in("azd")) == (False, True)


def test_log_in_restores_tokens(fake_azure_cli: FakeAzureCli) -> None:
    """log_in() after log_out() brings tokens back."""
    fake_azure_cli.log_out()
    fake_azure_cli.log_in()
    assert AzureCliCredential().get_token(SCOPE)


def test_uninstalled_tool_is_not_found(
    fake_azure_cli: FakeAzureCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uninstall() removes the executable, so the credential reports it missing."""
    fake_azure_cli.uninstall("az")
    monkeypatch.setenv("PATH", fake_azure_cli.path_prefix)
    with pytest.raises(CredentialUnavailableError, match="not found"):
        AzureCliCredential().get_token(SCOPE)


def test_fakes_come_first_on_path(fake_azure_cli: FakeAzureCli) -> None:
    """The fixture puts the fake bin directory first on PATH."""
    assert os.environ["PATH"].split(os.pathsep)[0] == fake_azure_cli.path_prefix
    assert shutil.which("az") == str(fake_azure_cli.bin_dir / "az")
    assert shutil.which("azd") == str(fake_azure_cli.bin_dir / "azd")


def test_cli_tokens_are_user_tokens(fake_azure_cli: FakeAzureCli) -> None:
    """By default the signed-in account is a user (upn claim)."""
    token = AzureCliCredential().get_token(SCOPE)
    assert fake_azure_cli.issuer.verify(token.token)["upn"] == Principal.user().upn


def test_principal_without_role_is_reflected(fake_azure_cli: FakeAzureCli) -> None:
    """Setting a principal without the role yields tokens with empty roles."""
    fake_azure_cli.principal = Principal.user(has_role=False)
    token = AzureDeveloperCliCredential().get_token(SCOPE)
    assert fake_azure_cli.issuer.verify(token.token)["roles"] == []


def test_unknown_az_command_fails(fake_azure_cli: FakeAzureCli) -> None:
    """Commands other than `account get-access-token` exit 2 and count as failures."""
    assert _run("az", "group", "list").returncode == 2
    assert fake_azure_cli.failures == 1


def test_latency_still_answers(fake_azure_cli: FakeAzureCli) -> None:
    """With latency set, invocations still print tokens."""
    fake_azure_cli.latency = 0.05
    assert AzureCliCredential().get_token(SCOPE)
    assert fake_azure_cli.az_calls == 1


def test_log_records_arguments_and_jti(fake_azure_cli: FakeAzureCli) -> None:
    """Each run is logged with its arguments and the token's jti, never the token."""
    token = AzureDeveloperCliCredential().get_token(SCOPE)
    record = fake_azure_cli.log[-1]
    assert record.argv[:5] == ("auth", "token", "--output", "json", "--no-prompt")
    assert record.jti == fake_azure_cli.issuer.verify(token.token)["jti"]
    assert token.token not in repr(record)


def test_reset_restores_login_and_counters(fake_azure_cli: FakeAzureCli) -> None:
    """reset() signs both tools in and zeroes the counters."""
    AzureCliCredential().get_token(SCOPE)
    fake_azure_cli.log_out()
    fake_azure_cli.reset()
    assert fake_azure_cli.invocations == {"az": 0, "azd": 0}
    assert fake_azure_cli.is_logged_in("az")


def test_stop_removes_the_temporary_bin_dir(token_issuer: TokenIssuer) -> None:
    """A FakeAzureCli that made its own bin directory deletes it on stop."""
    with FakeAzureCli(token_issuer) as cli:
        bin_dir = cli.bin_dir
        assert (bin_dir / "az").exists()
    assert not bin_dir.exists()


def test_given_bin_dir_is_kept(token_issuer: TokenIssuer, tmp_path: Path) -> None:
    """A caller-provided bin directory is used and left in place."""
    with FakeAzureCli(token_issuer, bin_dir=tmp_path, tools=("azd",)) as cli:
        assert cli.bin_dir == tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["azd"]


def test_stopped_fake_reports_an_unreachable_emulator(
    token_issuer: TokenIssuer, tmp_path: Path
) -> None:
    """If the token server is gone, the script fails loudly instead of hanging."""
    with FakeAzureCli(token_issuer, bin_dir=tmp_path) as cli:
        script = str(cli.bin_dir / "az")
    result = _run(script, "account", "get-access-token", "--output", "json")
    assert result.returncode == 1
    assert "unreachable" in result.stderr


def test_interpreter_path_with_spaces_uses_a_shell_wrapper(
    token_issuer: TokenIssuer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When sys.executable cannot sit on a #! line, a /bin/sh wrapper runs the script."""
    spaced = tmp_path / "python with spaces"
    spaced.mkdir()
    (spaced / "python").symlink_to(sys.executable)
    monkeypatch.setattr(sys, "executable", str(spaced / "python"))
    with FakeAzureCli(token_issuer) as cli:
        assert (cli.bin_dir / "az").read_text().startswith("#!/bin/sh")
        result = _run(str(cli.bin_dir / "az"), "account", "get-access-token", "--output", "json")
    assert json.loads(result.stdout)["tokenType"] == "Bearer"
