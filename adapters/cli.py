"""The ``adapters`` command: ``demo``, ``doctor``, ``token`` and ``emulator``.

```text
adapters demo       drive every adapter through token rotations against local emulators
adapters doctor     check the keyless setup against the real Azure OpenAI resource
adapters token      print a fresh Entra ID token for curl and scripts
adapters emulator   run the emulators in the foreground for an unchanged app
```

Also ``python -m adapters``. This module imports only the standard library's ``argparse``
at the top: each command imports what it needs when it runs, so ``adapters --help`` is
instant and a missing extra only matters to the command that needs it.

Exit codes: 0 success; 1 a check or the run failed; 2 bad settings, a missing extra or a
usage error (one line on stderr, no traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]

PROG = "adapters"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _positive(text: str) -> float:
    """Parse a strictly positive number of seconds (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def _port(text: str) -> int:
    """Parse a TCP port, 0 meaning any free port (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0-65535)")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``adapters`` command.

    Returns:
        The parser; each subcommand stores its handler's name in ``command``.
    """
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Keyless (Microsoft Entra ID) Azure OpenAI: try it locally, check a real "
            "setup, get a token."
        ),
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log the adapters' and azure-identity's messages to stderr",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo",
        help="run every adapter against local emulators through token rotations",
        description=(
            "Start a managed-identity endpoint and an Azure OpenAI data plane on 127.0.0.1 "
            "with short-lived tokens, then drive the openai (sync, async, v1), LangChain and "
            "LlamaIndex adapters and the raw-token shim through several token rotations. "
            "A stray AZURE_OPENAI_API_KEY is set on purpose: no api-key header may reach "
            "the server. Exits 1 if any request failed, a key was sent or an expired token "
            "was seen. Needs the testing extra: pip install 'keyless-adapters[all]'."
        ),
    )
    demo.add_argument(
        "--token-lifetime",
        type=_positive,
        default=2.0,
        metavar="SECONDS",
        help="lifetime of each managed-identity token (default: 2)",
    )
    demo.add_argument(
        "--duration",
        type=_positive,
        default=4.0,
        metavar="SECONDS",
        help="minimum time the clients run, all at once (default: 4)",
    )
    demo.add_argument(
        "--tokens-per-client",
        type=int,
        default=3,
        metavar="N",
        help="run until every client has carried N distinct tokens (default: 3)",
    )
    demo.add_argument(
        "--plain",
        action="store_true",
        help="plain progress lines even on a terminal (no live display)",
    )

    doctor = commands.add_parser(
        "doctor",
        help="check settings, credential, token and one request against Azure OpenAI",
        description=(
            "Print the resolved settings and the chosen credential, get a token (never "
            "printed) and show its claims, then send one minimal request and explain the "
            "answer. Exits 0 only when that request succeeded, 1 when a check failed, 2 on "
            "bad settings."
        ),
    )
    doctor.add_argument(
        "--timeout",
        type=_positive,
        default=30.0,
        metavar="SECONDS",
        help="give up on the token, and on the request, after this long (default: 30)",
    )
    doctor.add_argument("--json", action="store_true", help="print one JSON document for machines")

    token = commands.add_parser(
        "token",
        help="print a fresh bearer token on stdout (expiry on stderr)",
        description=(
            "Print a fresh Entra ID access token on stdout, and only the token, for curl and "
            'scripts: curl -H "Authorization: Bearer $(adapters token)" ... Its expiry goes '
            "to stderr. The credential is chosen as the adapters choose it."
        ),
    )
    token.add_argument(
        "--scope",
        help="the scope, ending in /.default (default: AZURE_OPENAI_SCOPE, else from the "
        "endpoint's cloud)",
    )
    token.add_argument(
        "--json",
        action="store_true",
        help='print {"token", "expires_on", "scope"} instead of the bare token',
    )
    token.add_argument(
        "--timeout",
        type=_positive,
        default=30.0,
        metavar="SECONDS",
        help="give up after this long (default: 30)",
    )

    emulator = commands.add_parser(
        "emulator",
        help="run the managed-identity and Azure OpenAI emulators in the foreground",
        description=(
            "Run the managed-identity endpoint and the Azure OpenAI data plane on 127.0.0.1 "
            "until Ctrl-C or SIGTERM, and print the environment that points an unchanged "
            "app at them. Needs the testing extra."
        ),
    )
    emulator.add_argument(
        "--token-lifetime",
        type=_positive,
        default=3600.0,
        metavar="SECONDS",
        help="lifetime of each token (default: 3600; try 10 to watch refreshes)",
    )
    emulator.add_argument(
        "--port",
        type=_port,
        default=0,
        help="port of the Azure OpenAI emulator (default: any free port)",
    )
    emulator.add_argument(
        "--identity-port",
        type=_port,
        default=0,
        help="port of the managed-identity endpoint (default: any free port)",
    )
    emulator.add_argument(
        "--chat-deployment",
        default="chat",
        metavar="NAME",
        help="name of the chat deployment served (default: chat)",
    )
    emulator.add_argument(
        "--embedding-deployment",
        default="embedding",
        metavar="NAME",
        help="name of the embedding deployment served (default: embedding)",
    )
    return parser


def _configure_logging(verbose: bool) -> None:
    import logging

    if verbose:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
        )
    else:
        # The commands explain failures themselves; azure-identity's own warnings on
        # stderr would only repeat them (without the fix).
        logging.getLogger("azure").setLevel(logging.CRITICAL)


def _run(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from adapters import _demo

        return _demo.run(
            token_lifetime=args.token_lifetime,
            duration=args.duration,
            tokens_per_client=args.tokens_per_client,
            plain=args.plain,
        )
    if args.command == "doctor":
        from adapters import _doctor

        return _doctor.run(timeout=args.timeout, as_json=args.json)
    if args.command == "token":
        from adapters import _cli_token

        return _cli_token.run(scope=args.scope, as_json=args.json, timeout=args.timeout)
    if args.command == "emulator":
        from adapters import _cli_emulator

        return _cli_emulator.run(
            token_lifetime=args.token_lifetime,
            port=args.port,
            identity_port=args.identity_port,
            chat_deployment=args.chat_deployment,
            embedding_deployment=args.embedding_deployment,
        )
    raise AssertionError(f"unknown command {args.command!r}")  # argparse prevents it


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``adapters`` command line.

    Args:
        argv: The arguments after the program name; ``sys.argv[1:]`` when ``None``.

    Returns:
        The exit code: 0 success, 1 failure, 2 bad settings / missing extra / usage,
        130 interrupted.
    """
    from adapters.errors import ConfigurationError, KeylessError, MissingExtraError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo" and args.tokens_per_client < 2:
        parser.error("--tokens-per-client must be at least 2 (one rotation)")
    _configure_logging(args.verbose)
    try:
        return _run(args)
    except (ConfigurationError, MissingExtraError) as exc:
        print(f"{PROG} {args.command}: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeylessError as exc:
        print(f"{PROG} {args.command}: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":  # pragma: no cover - `python -m adapters` goes through __main__
    sys.exit(main())
