"""``adapters doctor`` against the emulators: one test per failure it must explain."""

from __future__ import annotations

import json
import socket
import time

import pytest

from adapters.testing import (
    OPENAI_USER_ROLE,
    AzureOpenAIEmulator,
    FakeAzureCli,
    ManagedIdentityEmulator,
    Principal,
    TokenIssuer,
)

from .conftest import base_env, closed_port, run_cli

JWT_PREFIX = "eyJ"  # every compact JWT starts with the base64 of '{"'


def test_doctor_succeeds_and_shows_claims_but_never_the_token(
    azure_env: dict[str, str], identity_emulator: ManagedIdentityEmulator
) -> None:
    """A working setup exits 0, shows who the token is for, and prints no token."""
    result = run_cli("doctor", env=azure_env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Result: OK" in result.stdout
    assert "ManagedIdentityCredential" in result.stdout
    assert identity_emulator.principal.oid in result.stdout
    assert "audience matches the scope" in result.stdout
    assert "-> HTTP 200" in result.stdout
    assert JWT_PREFIX not in result.stdout + result.stderr


def test_doctor_json_is_one_document_with_findings_and_no_token(
    azure_env: dict[str, str], identity_emulator: ManagedIdentityEmulator
) -> None:
    """--json prints one JSON document with settings, credential, claims and findings."""
    result = run_cli("doctor", "--json", env=azure_env)

    report = json.loads(result.stdout)
    assert result.returncode == 0
    assert set(report) == {
        "ok",
        "exit_code",
        "settings",
        "invalid_variables",
        "shadowing_variables",
        "credential",
        "token",
        "preflight",
        "findings",
    }
    assert report["ok"] is True
    assert report["exit_code"] == 0
    assert report["settings"]["sources"]["endpoint"] == "env AZURE_OPENAI_ENDPOINT"
    assert report["credential"]["kind"] == "managed_identity"
    assert set(report["credential"]) == {"kind", "credential", "reason", "fix"}
    assert report["token"]["claims"]["oid"] == identity_emulator.principal.oid
    assert report["token"]["audience_ok"] is True
    assert report["preflight"]["status"] == 200
    assert [f["code"] for f in report["findings"]] == ["ok"]
    assert set(report["findings"][0]) == {"severity", "code", "title", "detail", "fix", "commands"}
    assert JWT_PREFIX not in result.stdout


def test_doctor_explains_a_token_the_resource_does_not_trust(
    azure_openai_emulator: AzureOpenAIEmulator,
) -> None:
    """401 for a token from another issuer is a credential problem, with the sign-in fix."""
    with ManagedIdentityEmulator(issuer=TokenIssuer()) as foreign:
        env = base_env(
            **foreign.environ,
            AZURE_OPENAI_ENDPOINT=azure_openai_emulator.endpoint,
            AZURE_OPENAI_CHAT_DEPLOYMENT="chat",
        )
        result = run_cli("doctor", env=env)

    assert result.returncode == 1
    assert "invalid_token: 401 Unauthorized" in result.stdout
    assert "A credential problem, not a permission one" in result.stdout
    assert "az login" in result.stdout


def test_doctor_explains_a_missing_role_with_the_assignment_command(
    azure_env: dict[str, str], identity_emulator: ManagedIdentityEmulator
) -> None:
    """401 PermissionDenied names the role and prints the role assignment for the oid."""
    identity_emulator.principal = Principal().without_role()

    result = run_cli("doctor", env=azure_env)

    oid = identity_emulator.principal.oid
    assert result.returncode == 1
    assert "permission_denied: 401 PermissionDenied" in result.stdout
    assert OPENAI_USER_ROLE in result.stdout
    assert (
        f"$ az role assignment create --assignee-object-id {oid} "
        f'--assignee-principal-type ServicePrincipal --role "{OPENAI_USER_ROLE}" '
        "--scope /subscriptions/<subscription-id>/resourceGroups/<resource-group>/"
        "providers/Microsoft.CognitiveServices/accounts/<resource-name>"
    ) in result.stdout


def test_doctor_explains_a_model_name_used_as_deployment(azure_env: dict[str, str]) -> None:
    """404 DeploymentNotFound says which name was used and that it is not the model name."""
    env = {**azure_env, "AZURE_OPENAI_CHAT_DEPLOYMENT": "gpt-4o"}

    result = run_cli("doctor", env=env)

    assert result.returncode == 1
    assert "deployment_not_found: 404 DeploymentNotFound" in result.stdout
    assert "'gpt-4o' (from AZURE_OPENAI_CHAT_DEPLOYMENT)" in result.stdout
    assert "not the model's name" in result.stdout


def test_doctor_explains_rate_limiting_with_retry_after(
    azure_env: dict[str, str], azure_openai_emulator: AzureOpenAIEmulator
) -> None:
    """429 says authentication worked and when to retry."""
    azure_openai_emulator.throttle_next(5, retry_after=7)

    result = run_cli("doctor", env=azure_env)

    assert result.returncode == 1
    assert "rate_limited: 429 rate limited: retry after 7 s" in result.stdout
    assert "Authentication and authorization worked" in result.stdout


def test_doctor_explains_a_refused_connection(
    azure_env: dict[str, str], identity_emulator: ManagedIdentityEmulator
) -> None:
    """A closed 127.0.0.1 port is reported as a refused connection."""
    env = {**azure_env, "AZURE_OPENAI_ENDPOINT": f"http://127.0.0.1:{closed_port()}"}

    result = run_cli("doctor", env=env)

    assert result.returncode == 1
    assert "connection_refused: Connection refused by 127.0.0.1:" in result.stdout
    assert "wrong port or scheme" in result.stdout


def test_doctor_explains_https_to_a_plain_http_server(
    azure_env: dict[str, str], azure_openai_emulator: AzureOpenAIEmulator
) -> None:
    """https:// to the plain-http emulator is a TLS error pointing at http vs https."""
    endpoint = azure_openai_emulator.endpoint.replace("http://", "https://")
    env = {**azure_env, "AZURE_OPENAI_ENDPOINT": endpoint}

    result = run_cli("doctor", env=env)

    assert result.returncode == 1
    assert "tls: TLS error talking to 127.0.0.1:" in result.stdout
    assert "(http vs https)" in result.stdout


def test_doctor_explains_a_name_that_does_not_resolve(azure_env: dict[str, str]) -> None:
    """A host under .invalid is a DNS failure, with private-endpoint and cloud hints."""
    host = "keyless-adapters-doctor.invalid"
    started = time.monotonic()
    try:
        socket.getaddrinfo(host, 443)
    except socket.gaierror:
        pass
    else:  # pragma: no cover - only on resolvers that answer for .invalid
        pytest.skip(f"this resolver answers for {host}")
    if time.monotonic() - started > 2:  # pragma: no cover - a resolver that times out
        pytest.skip("DNS lookups time out here instead of failing fast")
    env = {**azure_env, "AZURE_OPENAI_ENDPOINT": f"https://{host}"}

    result = run_cli("doctor", env=env)

    assert result.returncode == 1
    assert f"dns: DNS failure: {host} does not resolve" in result.stdout
    assert "privatelink.openai.azure.com" in result.stdout


def test_doctor_explains_a_request_timeout(
    azure_env: dict[str, str], azure_openai_emulator: AzureOpenAIEmulator
) -> None:
    """An endpoint slower than --timeout is reported as a timeout."""
    azure_openai_emulator.latency = 10

    result = run_cli("doctor", "--timeout", "2", env=azure_env)

    assert result.returncode == 1
    assert "timeout: Timed out (read) after 2 s" in result.stdout


def test_doctor_explains_a_signed_out_developer(
    fake_azure_cli: FakeAzureCli, azure_openai_emulator: AzureOpenAIEmulator
) -> None:
    """With az and azd signed out, the credential finding says to sign in."""
    fake_azure_cli.log_out()
    env = base_env(
        PATH=fake_azure_cli.path_with_fakes(),
        AZURE_OPENAI_ENDPOINT=azure_openai_emulator.endpoint,
        AZURE_OPENAI_CHAT_DEPLOYMENT="chat",
    )

    result = run_cli("doctor", env=env)

    assert result.returncode == 1
    assert "credential: No token from the credential" in result.stdout
    assert "not signed in to `az` or `azd`" in result.stdout
    assert "$ az login" in result.stdout
    assert "$ azd auth login" in result.stdout


def test_doctor_reports_a_placeholder_client_id_as_a_finding(azure_env: dict[str, str]) -> None:
    """A placeholder AZURE_CLIENT_ID is a configuration finding (exit 2), not a crash."""
    env = {**azure_env, "AZURE_CLIENT_ID": "<your-client-id>"}

    result = run_cli("doctor", env=env)

    assert result.returncode == 2
    assert "configuration: AZURE_CLIENT_ID is invalid" in result.stdout
    assert "looks like a placeholder" in result.stdout
    assert "invalid env AZURE_CLIENT_ID (ignored)" in result.stdout
    assert "Traceback" not in result.stderr


def test_doctor_warns_about_variables_that_shadow_keyless_auth(
    azure_env: dict[str, str],
) -> None:
    """Key and static-token variables are named as warnings, their values never shown."""
    secrets = {
        "AZURE_OPENAI_API_KEY": "key-value-0123456789",
        "OPENAI_API_KEY": "sk-value-0123456789",
        "AZURE_OPENAI_AD_TOKEN": "static-token-value",
    }

    result = run_cli("doctor", "--json", env={**azure_env, **secrets})

    report = json.loads(result.stdout)
    assert result.returncode == 0
    assert report["shadowing_variables"] == list(secrets)
    warned = [f["title"] for f in report["findings"] if f["code"] == "shadowing_variable"]
    assert warned == [f"{name} is set" for name in secrets]
    assert not any(value in result.stdout for value in secrets.values())


def test_doctor_without_an_endpoint_still_checks_the_token(
    identity_emulator: ManagedIdentityEmulator,
) -> None:
    """No AZURE_OPENAI_ENDPOINT: the token is still checked, and the exit code is 2."""
    result = run_cli("doctor", "--json", env=base_env(**identity_emulator.environ))

    report = json.loads(result.stdout)
    assert result.returncode == 2
    assert report["token"]["obtained"] is True
    assert report["preflight"] is None
    assert "No endpoint" in next(f["title"] for f in report["findings"])


@pytest.mark.parametrize(
    ("deployments", "request_line"),
    [
        ({"AZURE_OPENAI_CHAT_DEPLOYMENT": "chat"}, "POST {}/openai/deployments/chat/chat"),
        ({"AZURE_OPENAI_EMBEDDING_DEPLOYMENT": "embedding"}, "POST {}/openai/deployments/embed"),
        ({}, "GET {}/openai/v1/models"),
    ],
)
def test_doctor_preflight_uses_chat_then_embeddings_then_the_models_list(
    identity_emulator: ManagedIdentityEmulator,
    azure_openai_emulator: AzureOpenAIEmulator,
    deployments: dict[str, str],
    request_line: str,
) -> None:
    """The preflight targets the chat deployment, else the embedding one, else /models."""
    env = base_env(
        **identity_emulator.environ,
        AZURE_OPENAI_ENDPOINT=azure_openai_emulator.endpoint,
        **deployments,
    )

    result = run_cli("doctor", env=env)

    assert result.returncode == 0, result.stdout
    assert request_line.format(azure_openai_emulator.endpoint) in result.stdout


def test_doctor_reports_a_credential_that_does_not_answer_in_time(
    azure_env: dict[str, str], identity_emulator: ManagedIdentityEmulator
) -> None:
    """A hanging identity endpoint is a credential timeout after --timeout seconds."""
    identity_emulator.hang_next(seconds=20)
    started = time.monotonic()

    result = run_cli("doctor", "--timeout", "1", env=azure_env)

    assert result.returncode == 1
    assert "credential_timeout: ManagedIdentityCredential did not return a token within 1 s" in (
        result.stdout
    )
    assert time.monotonic() - started < 15


def test_doctor_retries_with_max_completion_tokens_for_reasoning_models(
    identity_emulator: ManagedIdentityEmulator,
) -> None:
    """A deployment that refuses max_tokens (reasoning models) gets max_completion_tokens."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from adapters.testing import LoopbackServer

    bodies: list[dict[str, object]] = []

    async def chat(request: Request) -> JSONResponse:
        body = await request.json()
        bodies.append(body)
        if "max_tokens" in body:
            message = "Unsupported parameter: 'max_tokens'. Use 'max_completion_tokens' instead."
            return JSONResponse(
                {"error": {"code": "unsupported_parameter", "message": message}}, 400
            )
        return JSONResponse({"choices": []})

    app = Starlette(
        routes=[Route("/openai/deployments/o3/chat/completions", chat, methods=["POST"])]
    )
    with LoopbackServer(app) as server:
        env = base_env(
            **identity_emulator.environ,
            AZURE_OPENAI_ENDPOINT=server.url,
            AZURE_OPENAI_CHAT_DEPLOYMENT="o3",
        )
        result = run_cli("doctor", env=env)

    assert result.returncode == 0, result.stdout
    assert [sorted(body) for body in bodies] == [
        ["max_tokens", "messages"],
        ["max_completion_tokens", "messages"],
    ]
