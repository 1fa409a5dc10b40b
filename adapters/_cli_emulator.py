"""``adapters emulator``: the loopback emulators in the foreground, for an unchanged app.

Prints shell lines (``export ...``) that point an app at the emulators, on stdout, then
serves until SIGINT (Ctrl-C) or SIGTERM and exits 0. The lines only use what the real
libraries read: ``IDENTITY_ENDPOINT`` / ``IDENTITY_HEADER`` make azure-identity choose
App Service managed identity, and the ``AZURE_OPENAI_*`` / ``OPENAI_API_VERSION``
variables are those the openai SDK, LangChain and the adapters read.
"""

from __future__ import annotations

import shlex
import signal
import sys
import threading
from types import FrameType
from typing import Any

__all__ = ["UNSET_VARIABLES", "run"]

# Variables that would make an app pick another credential, or send a key the emulator
# refuses (it answers 400 to any api-key header, as a keyless resource does).
UNSET_VARIABLES = (
    "AZURE_OPENAI_API_KEY",
    "OPENAI_API_KEY",
    "AZURE_OPENAI_AD_TOKEN",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_TOKEN_CREDENTIALS",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
)

_CHAT_MODEL = "gpt-4o-mini"
_EMBEDDING_MODEL = "text-embedding-3-small"


def _listen(server: Any, option: str, port: int) -> None:
    from adapters.errors import ConfigurationError

    try:
        server.start()
    except OSError as exc:
        raise ConfigurationError(
            f"{option} {port}: cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}); "
            f"choose another port, or 0 for any free one."
        ) from None


def run(
    *,
    token_lifetime: float,
    port: int,
    identity_port: int,
    chat_deployment: str,
    embedding_deployment: str,
) -> int:
    """Serve both emulators until SIGINT or SIGTERM.

    Args:
        token_lifetime: Seconds each managed-identity token lives.
        port: Port of the Azure OpenAI emulator (0: any free port).
        identity_port: Port of the managed-identity endpoint (0: any free port).
        chat_deployment: Name of the chat deployment served.
        embedding_deployment: Name of the embedding deployment served.

    Returns:
        0 once stopped by a signal.

    Raises:
        ConfigurationError: A deployment name is invalid or a port cannot be bound.
        MissingExtraError: The testing extra is not installed.
    """
    from adapters.errors import ConfigurationError
    from adapters.settings import DEFAULT_API_VERSION, Settings

    # Validate the names as the adapters will read them back from the environment.
    Settings.from_env(
        {}, chat_deployment=chat_deployment, embedding_deployment=embedding_deployment
    )
    if chat_deployment == embedding_deployment:
        raise ConfigurationError(
            "--chat-deployment and --embedding-deployment must differ: one deployment "
            "serves one model."
        )

    from adapters.testing import AzureOpenAIEmulator, ManagedIdentityEmulator, default_issuer

    issuer = default_issuer()
    identity = ManagedIdentityEmulator(
        issuer=issuer, token_lifetime=token_lifetime, port=identity_port
    )
    aoai = AzureOpenAIEmulator(
        issuer=issuer,
        deployments={chat_deployment: _CHAT_MODEL, embedding_deployment: _EMBEDDING_MODEL},
        port=port,
    )

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {
        signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        _listen(identity, "--identity-port", identity_port)
        try:
            _listen(aoai, "--port", port)
            exports = {
                "AZURE_OPENAI_ENDPOINT": aoai.endpoint,
                "AZURE_OPENAI_API_VERSION": DEFAULT_API_VERSION,
                "OPENAI_API_VERSION": DEFAULT_API_VERSION,
                "AZURE_OPENAI_CHAT_DEPLOYMENT": chat_deployment,
                "AZURE_OPENAI_EMBEDDING_DEPLOYMENT": embedding_deployment,
                **identity.environ,
            }
            lines = [
                "# keyless-adapters emulators on 127.0.0.1 (Ctrl-C stops them). Run these "
                "lines in the app's shell,",
                f"# then start the app unchanged. Tokens live {token_lifetime:g} s; "
                "api-key headers are refused.",
                *(f"export {name}={shlex.quote(value)}" for name, value in exports.items()),
                f"unset {' '.join(UNSET_VARIABLES)}",
            ]
            sys.stdout.write("\n".join(lines) + "\n")
            sys.stdout.flush()
            while not stop.wait(0.5):
                pass
        finally:
            aoai.stop()
    finally:
        identity.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print(
        f"adapters emulator: stopped after {aoai.requests} Azure OpenAI requests "
        f"({aoai.api_key_headers} with an api-key header) and {identity.tokens_issued} "
        "tokens issued.",
        file=sys.stderr,
    )
    return 0
