"""``adapters token``: a fresh bearer token on stdout for curl and scripts.

The one place keyless-adapters prints a token, on purpose and to stdout only; everything
said about it (expiry, credential, failures) goes to stderr. ``obtain_token`` is shared
with ``adapters doctor``: one credential call, bounded by a timeout.
"""

from __future__ import annotations

import datetime
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.credentials import CredentialChoice

__all__ = ["ObtainedToken", "TokenTimeoutError", "format_expiry", "obtain_token", "run"]


class TokenTimeoutError(Exception):
    """The credential did not answer within the timeout (it may still be running)."""


@dataclass(frozen=True)
class ObtainedToken:
    """A token straight from a credential.

    Attributes:
        token: The access token (never shown by ``repr``).
        expires_on: Expiry, epoch seconds.
        seconds: How long the credential took.
    """

    token: str = field(repr=False)
    expires_on: int
    seconds: float


def obtain_token(choice: CredentialChoice, scope: str, timeout: float) -> ObtainedToken:
    """Ask the chosen credential for one token, giving up after ``timeout`` seconds.

    The call runs in a daemon thread: credentials have no overall deadline of their own
    (an unreachable managed-identity endpoint retries for seconds, a CLI may wait for a
    prompt), and a daemon thread left behind cannot keep the process alive.

    Args:
        choice: The credential selection (its sync credential is used).
        scope: The scope to request.
        timeout: Seconds to wait.

    Returns:
        The token, its expiry and the time taken.

    Raises:
        TokenTimeoutError: No answer within ``timeout``.
        Exception: Whatever the credential raised (explain it with
            ``adapters.credentials.explain_failure``).
    """
    credential = choice.credential
    if credential is None:  # only an async-only credential passed in code has none
        from adapters.errors import ConfigurationError

        raise ConfigurationError(f"{choice.name} has no synchronous flavour to call here")
    outcome: dict[str, Any] = {}
    done = threading.Event()
    started = time.monotonic()

    def fetch() -> None:
        try:
            if hasattr(credential, "get_token_info"):
                info = credential.get_token_info(scope)
            else:
                info = credential.get_token(scope)
            outcome["value"] = (info.token, int(info.expires_on))
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=fetch, name="adapters-token", daemon=True).start()
    if not done.wait(timeout):
        raise TokenTimeoutError(f"{choice.name} did not answer within {timeout:g} s")
    if "error" in outcome:
        raise outcome["error"]
    token, expires_on = outcome["value"]
    return ObtainedToken(token, expires_on, time.monotonic() - started)


def format_expiry(expires_on: float, now: float | None = None) -> str:
    """Describe an expiry as UTC time and minutes left.

    Args:
        expires_on: Epoch seconds.
        now: The current time; ``time.time()`` when ``None``.

    Returns:
        For example ``"2025-01-31 12:00:00 UTC (in 59.5 min)"`` or ``"... (expired 2.0 min
        ago)"``.
    """
    now = time.time() if now is None else now
    moment = datetime.datetime.fromtimestamp(expires_on, datetime.timezone.utc)
    minutes = (expires_on - now) / 60
    when = f"in {minutes:.1f} min" if minutes >= 0 else f"expired {-minutes:.1f} min ago"
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC ({when})"


def run(*, scope: str | None, as_json: bool, timeout: float) -> int:
    """Print a fresh token on stdout and its expiry on stderr.

    Args:
        scope: The scope; from the settings (endpoint's cloud) when ``None``.
        as_json: Print ``{"token", "expires_on", "scope"}`` instead of the bare token.
        timeout: Seconds to wait for the credential.

    Returns:
        0 with a token, 1 when the credential failed or timed out.

    Raises:
        ConfigurationError: Bad settings or a half-configured identity.
    """
    from adapters.credentials import explain_failure, select_credential
    from adapters.settings import Settings

    if scope is not None and not scope.strip().endswith("/.default"):
        from adapters.errors import ConfigurationError

        suggestion = scope.strip().rstrip("/") + "/.default"
        raise ConfigurationError(
            f"--scope {scope!r} must end in /.default (tokens are requested for a "
            f"resource's .default scope): use --scope {suggestion}"
        )
    settings = Settings.from_env(scope=scope)
    choice = select_credential(settings)
    try:
        got = obtain_token(choice, settings.scope, timeout)
    except TokenTimeoutError:
        print(
            f"adapters token: {choice.name} did not return a token for {settings.scope} "
            f"within {timeout:g} s: {choice.fix}.",
            file=sys.stderr,
        )
        return 1
    except Exception as exc:
        print(f"adapters token: {explain_failure(choice, exc)}", file=sys.stderr)
        return 1
    if as_json:
        import json

        document = {"token": got.token, "expires_on": got.expires_on, "scope": settings.scope}
        sys.stdout.write(json.dumps(document) + "\n")
    else:
        sys.stdout.write(got.token + "\n")
    sys.stdout.flush()
    print(
        f"Token for {settings.scope} from {choice.name}; expires {format_expiry(got.expires_on)}.",
        file=sys.stderr,
    )
    return 0
