"""Fake `az` and `azd` executables for `AzureCliCredential` and `AzureDeveloperCliCredential`.

`FakeAzureCli` writes two small stdlib-only Python scripts into a bin directory; put it
first on `PATH`. Each run of a script posts its arguments to a loopback server owned by
the `FakeAzureCli`, which mints the token with the shared `TokenIssuer`, counts the
invocation and decides the output, so configuration changes apply to the next run.

Output, as azure-identity 1.27 parses it:

- `az account get-access-token --output json --resource R [--tenant T]` prints
  `{"accessToken", "expiresOn": "%Y-%m-%d %H:%M:%S.%f" (local time), "expires_on": <int>,
  "subscription", "tenant", "tokenType": "Bearer"}`.
- `azd auth token --output json --no-prompt --scope S [--tenant-id T]` prints
  `{"token", "expiresOn": "%Y-%m-%dT%H:%M:%SZ"}` in UTC, as azd does. azure-identity parses
  that string as *local* time, so the expiry it reports is only right when the process
  runs with `TZ=UTC`; that is azure-identity's behaviour, reproduced faithfully.
- Logged out: `az` exits 1 with "ERROR: Please run 'az login' to setup account." on
  stderr; `azd` exits 1 with a JSON error containing "not logged in, run `azd auth login`
  to login". Both credentials turn these into `CredentialUnavailableError`.

POSIX only (the scripts rely on a `#!` line).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import shlex
import shutil
import sys
import tempfile
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from adapters.testing import missing_extra
from adapters.testing._jwt import Principal, TokenIssuer, default_issuer, resource_from_scope
from adapters.testing._server import LoopbackServer

try:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_extra(exc) from exc

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "AZD_NOT_LOGGED_IN",
    "AZ_NOT_LOGGED_IN",
    "CliInvocation",
    "FakeAzureCli",
    "Tool",
]

Tool = Literal["az", "azd"]
TOOLS: tuple[Tool, ...] = ("az", "azd")

AZ_NOT_LOGGED_IN = "ERROR: Please run 'az login' to setup account.\n"
"""What `az` prints on stderr when nobody is signed in."""

AZD_NOT_LOGGED_IN = "not logged in, run `azd auth login` to login"
"""The phrase `azd` prints (in a JSON error on stderr) when nobody is signed in."""

DEFAULT_SUBSCRIPTION_ID = "00000000-0000-4000-8000-00000000005b"
_AZ_DEFAULT_RESOURCE = "https://management.core.windows.net/"
_AZD_DEFAULT_SCOPE = "https://management.azure.com//.default"
_LOG_LIMIT = 10_000

_SCRIPT = r"""
# Fake `{tool}` written by adapters.testing.FakeAzureCli: asks the emulator what to print.
import datetime, json, sys, urllib.request

URL = {url!r}
request = urllib.request.Request(
    URL,
    data=json.dumps({{"argv": sys.argv[1:]}}).encode(),
    headers={{"Content-Type": "application/json"}},
)
opener = urllib.request.build_opener(urllib.request.ProxyHandler({{}}))
try:
    with opener.open(request, timeout=120) as response:
        answer = json.load(response)
except Exception as error:
    sys.stderr.write("ERROR: fake {tool}: emulator at %s unreachable: %s\n" % (URL, error))
    sys.exit(1)
out = answer.get("json")
if out is not None:
    for key, epoch in answer.get("local_times", {{}}).items():
        local = datetime.datetime.fromtimestamp(epoch)
        out[key] = local.strftime("%Y-%m-%d %H:%M:%S.%f")
    sys.stdout.write(json.dumps(out, indent=2) + "\n")
else:
    sys.stdout.write(answer.get("stdout", ""))
sys.stderr.write(answer.get("stderr", ""))
sys.stdout.flush()
sys.exit(answer.get("exit_code", 0))
"""


@dataclass(frozen=True)
class CliInvocation:
    """One run of a fake CLI.

    Attributes:
        tool: `"az"` or `"azd"`.
        argv: The arguments after the program name.
        exit_code: The exit status the script returned.
        jti: The issued token's `jti` when a token was printed (never the token itself).
    """

    tool: Tool
    argv: tuple[str, ...]
    exit_code: int
    jti: str | None


@dataclass
class _Answer:
    exit_code: int = 0
    stdout: str = ""
    stderr: str = ""
    document: dict[str, Any] | None = None
    local_times: dict[str, float] | None = None
    jti: str | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"exit_code": self.exit_code, "stderr": self.stderr}
        if self.document is not None:
            body["json"] = self.document
            body["local_times"] = self.local_times or {}
        else:
            body["stdout"] = self.stdout
        return body


class FakeAzureCli:
    """Fake `az` and `azd` on a bin directory, backed by a loopback token server.

    Configuration and counters are thread-safe and may change between invocations.

    Args:
        issuer: Signs the tokens; `default_issuer()` when None. Share it with the Azure
            OpenAI emulator so it trusts these tokens.
        bin_dir: Where to write `az` and `azd`; a new temporary directory when None
            (removed again by `stop()`).
        token_lifetime: Seconds each token lives.
        latency: Seconds each invocation waits before answering (on top of the ~20 ms
            the interpreter needs to start).
        principal: The signed-in account; `Principal.user()` when None.
        tenant_id: The account's tenant; the issuer's tenant when None. `--tenant` /
            `--tenant-id` arguments override it per call.
        subscription_id: The `subscription` field printed by `az`.
        tools: Which executables to install.

    Example:
        >>> with FakeAzureCli(token_lifetime=2) as cli:  # doctest: +SKIP
        ...     os.environ["PATH"] = cli.path_with_fakes()
        ...     AzureCliCredential().get_token("https://cognitiveservices.azure.com/.default")
    """

    def __init__(
        self,
        issuer: TokenIssuer | None = None,
        *,
        bin_dir: str | os.PathLike[str] | None = None,
        token_lifetime: float = 3600.0,
        latency: float = 0.0,
        principal: Principal | None = None,
        tenant_id: str | None = None,
        subscription_id: str = DEFAULT_SUBSCRIPTION_ID,
        tools: tuple[Tool, ...] = TOOLS,
    ) -> None:
        self.issuer = issuer or default_issuer()
        self.tenant_id = tenant_id or self.issuer.tenant_id
        self.subscription_id = subscription_id
        self._given_bin_dir = Path(bin_dir) if bin_dir is not None else None
        self._bin_dir: Path | None = self._given_bin_dir
        self._owns_bin_dir = False
        self._initial = (float(token_lifetime), float(latency), principal or Principal.user())
        self._tools = tuple(tools)
        self._lock = threading.Lock()
        self._token_lifetime, self._latency, self._principal = self._initial
        self._logged_in: dict[Tool, bool] = dict.fromkeys(TOOLS, True)
        self._invocations: dict[Tool, int] = dict.fromkeys(TOOLS, 0)
        self._tokens_issued = 0
        self._failures = 0
        self._log: deque[CliInvocation] = deque(maxlen=_LOG_LIMIT)
        app = Starlette(routes=[Route("/cli/{tool}", self._invoke, methods=["POST"])])
        self._server = LoopbackServer(app, name="fake-azure-cli")

    def __repr__(self) -> str:
        return f"FakeAzureCli(bin_dir={str(self._bin_dir)!r}, invocations={self.invocations})"

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        """Start the token server and write the executables."""
        self._server.start()
        if self._bin_dir is None:
            self._bin_dir = Path(tempfile.mkdtemp(prefix="fake-azure-cli-"))
            self._owns_bin_dir = True
        self._bin_dir.mkdir(parents=True, exist_ok=True)
        for tool in self._tools:
            self.install(tool)
        return self

    def stop(self) -> None:
        """Stop the server; a temporary bin directory is deleted (idempotent)."""
        self._server.stop()
        if self._owns_bin_dir and self._bin_dir is not None:
            shutil.rmtree(self._bin_dir, ignore_errors=True)
            self._bin_dir = self._given_bin_dir
            self._owns_bin_dir = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def install(self, tool: Tool) -> Path:
        """Write (or rewrite) one executable into the bin directory.

        Args:
            tool: `"az"` or `"azd"`.

        Returns:
            The executable's path.
        """
        _check_tool(tool)
        target = self.bin_dir / tool
        source = _SCRIPT.lstrip("\n").format(tool=tool, url=f"{self._server.url}/cli/{tool}")
        shebang = f"#!{sys.executable} -IS"
        if " " in sys.executable or len(shebang) > 120:
            # A `#!` line cannot hold spaces or long paths: go through /bin/sh instead.
            helper = self.bin_dir / f"_{tool}.py"
            helper.write_text(source, encoding="utf-8")
            quoted = f"{shlex.quote(sys.executable)} -IS {shlex.quote(str(helper))}"
            target.write_text(f'#!/bin/sh\nexec {quoted} "$@"\n', encoding="utf-8")
        else:
            target.write_text(shebang + "\n" + source, encoding="utf-8")
        target.chmod(0o755)
        return target

    def uninstall(self, tool: Tool) -> None:
        """Remove one executable, so the credential reports the CLI as not installed.

        Args:
            tool: `"az"` or `"azd"`.
        """
        _check_tool(tool)
        for name in (tool, f"_{tool}.py"):
            with contextlib.suppress(FileNotFoundError):
                (self.bin_dir / name).unlink()

    # -- PATH --------------------------------------------------------------------------

    @property
    def bin_dir(self) -> Path:
        """The directory holding `az` and `azd`."""
        if self._bin_dir is None:
            raise RuntimeError("FakeAzureCli is not started: call start() first")
        return self._bin_dir

    @property
    def path_prefix(self) -> str:
        """The bin directory as a string, to put first on `PATH`."""
        return str(self.bin_dir)

    def path_with_fakes(self, path: str | None = None) -> str:
        """A `PATH` value with the fakes first.

        Args:
            path: The `PATH` to extend; the current `os.environ["PATH"]` when None.

        Returns:
            `bin_dir + os.pathsep + path`.
        """
        rest = os.environ.get("PATH", "") if path is None else path
        return self.path_prefix + (os.pathsep + rest if rest else "")

    @property
    def url(self) -> str:
        """The token server's base URL."""
        return self._server.url

    # -- configuration -----------------------------------------------------------------

    @property
    def token_lifetime(self) -> float:
        """Seconds each printed token lives."""
        with self._lock:
            return self._token_lifetime

    @token_lifetime.setter
    def token_lifetime(self, value: float) -> None:
        with self._lock:
            self._token_lifetime = float(value)

    @property
    def latency(self) -> float:
        """Seconds each invocation waits before answering."""
        with self._lock:
            return self._latency

    @latency.setter
    def latency(self, value: float) -> None:
        with self._lock:
            self._latency = float(value)

    @property
    def principal(self) -> Principal:
        """The signed-in account."""
        with self._lock:
            return self._principal

    @principal.setter
    def principal(self, value: Principal) -> None:
        with self._lock:
            self._principal = value

    def log_out(self, tool: Tool | None = None) -> None:
        """Make one tool (or both) behave as if nobody were signed in.

        Args:
            tool: `"az"`, `"azd"`, or None for both.
        """
        self._set_logged_in(tool, False)

    def log_in(self, tool: Tool | None = None) -> None:
        """Sign one tool (or both) back in.

        Args:
            tool: `"az"`, `"azd"`, or None for both.
        """
        self._set_logged_in(tool, True)

    def is_logged_in(self, tool: Tool) -> bool:
        """Whether `tool` currently prints tokens.

        Args:
            tool: `"az"` or `"azd"`.

        Returns:
            True unless `log_out` was called for it.
        """
        _check_tool(tool)
        with self._lock:
            return self._logged_in[tool]

    def _set_logged_in(self, tool: Tool | None, value: bool) -> None:
        tools = TOOLS if tool is None else (tool,)
        for name in tools:
            _check_tool(name)
        with self._lock:
            for name in tools:
                self._logged_in[name] = value

    def reset(self) -> None:
        """Restore constructor settings, sign both tools in and zero the counters."""
        with self._lock:
            self._token_lifetime, self._latency, self._principal = self._initial
            self._logged_in = dict.fromkeys(TOOLS, True)
            self._reset_counters_locked()

    def reset_counters(self) -> None:
        """Zero every counter and clear the invocation log."""
        with self._lock:
            self._reset_counters_locked()

    def _reset_counters_locked(self) -> None:
        self._invocations = dict.fromkeys(TOOLS, 0)
        self._tokens_issued = 0
        self._failures = 0
        self._log.clear()

    # -- counters ----------------------------------------------------------------------

    @property
    def invocations(self) -> dict[Tool, int]:
        """Runs per tool, e.g. `{"az": 2, "azd": 0}`."""
        with self._lock:
            return dict(self._invocations)

    @property
    def az_calls(self) -> int:
        """Runs of `az`."""
        with self._lock:
            return self._invocations["az"]

    @property
    def azd_calls(self) -> int:
        """Runs of `azd`."""
        with self._lock:
            return self._invocations["azd"]

    @property
    def tokens_issued(self) -> int:
        """Runs that printed a token."""
        with self._lock:
            return self._tokens_issued

    @property
    def failures(self) -> int:
        """Runs that exited non-zero."""
        with self._lock:
            return self._failures

    @property
    def log(self) -> list[CliInvocation]:
        """Every run, oldest first (the last 10,000)."""
        with self._lock:
            return list(self._log)

    # -- the server --------------------------------------------------------------------

    async def _invoke(self, request: Request) -> Response:
        tool = request.path_params["tool"]
        if tool not in TOOLS:
            return JSONResponse({"exit_code": 127, "stderr": f"{tool}: not found\n"}, 404)
        payload = await request.json()
        argv = [str(arg) for arg in payload.get("argv", [])]
        with self._lock:
            self._invocations[tool] += 1
            latency = self._latency
            logged_in = self._logged_in[tool]
            lifetime, principal = self._token_lifetime, self._principal
        if latency > 0:
            await self._server.sleep(latency, request)
        if tool == "az":
            answer = self._az(argv, logged_in, lifetime, principal)
        else:
            answer = self._azd(argv, logged_in, lifetime, principal)
        with self._lock:
            self._log.append(CliInvocation(tool, tuple(argv), answer.exit_code, answer.jti))
            if answer.exit_code:
                self._failures += 1
            elif answer.jti is not None:
                self._tokens_issued += 1
        return JSONResponse(answer.body())

    def _az(self, argv: list[str], logged_in: bool, lifetime: float, who: Principal) -> _Answer:
        if argv[:2] != ["account", "get-access-token"]:
            shown = " ".join(argv[:2]) or "(nothing)"
            return _Answer(
                2, stderr=f"ERROR: fake az only supports 'account get-access-token', got {shown}\n"
            )
        options, error = _parse_options(
            argv[2:],
            values={
                "--output": "-o",
                "--resource": None,
                "--scope": None,
                "--tenant": "-t",
                "--subscription": None,
                "--query": None,
            },
            flags=(),
        )
        if error:
            return _Answer(2, stderr=f"ERROR: unrecognized arguments: {error}\n")
        if not logged_in:
            return _Answer(1, stderr=AZ_NOT_LOGGED_IN)
        scopes = options.get("--scope", [])
        resource = _last(options, "--resource") or (
            resource_from_scope(scopes[0]) if scopes else _AZ_DEFAULT_RESOURCE
        )
        tenant = _last(options, "--tenant") or self.tenant_id
        minted = self.issuer.issue(resource, lifetime=lifetime, principal=who, tenant_id=tenant)
        expires_on = math.floor(minted.expires_on)
        if _last(options, "--query") == "accessToken" and _last(options, "--output") in (
            "tsv",
            "none",
        ):
            return _Answer(stdout=minted.token + "\n", jti=minted.jti)
        body = {
            "accessToken": minted.token,
            "expiresOn": "",  # local time, filled in by the script's own time zone
            "expires_on": expires_on,
            "subscription": _last(options, "--subscription") or self.subscription_id,
            "tenant": tenant,
            "tokenType": "Bearer",
        }
        return _Answer(document=body, local_times={"expiresOn": expires_on}, jti=minted.jti)

    def _azd(self, argv: list[str], logged_in: bool, lifetime: float, who: Principal) -> _Answer:
        if argv[:2] != ["auth", "token"]:
            shown = " ".join(argv[:2]) or "(nothing)"
            return _Answer(1, stderr=f"ERROR: fake azd only supports 'auth token', got {shown}\n")
        options, error = _parse_options(
            argv[2:],
            values={"--output": "-o", "--scope": None, "--tenant-id": None, "--claims": None},
            flags=("--no-prompt", "--debug"),
        )
        as_json = _last(options, "--output") == "json"
        if error:
            return _azd_error(f"unknown flag: {error}", as_json)
        if not logged_in:
            return _azd_error(f"fetching token: {AZD_NOT_LOGGED_IN}", as_json)
        scopes = options.get("--scope") or [_AZD_DEFAULT_SCOPE]
        tenant = _last(options, "--tenant-id") or self.tenant_id
        minted = self.issuer.issue(scopes[0], lifetime=lifetime, principal=who, tenant_id=tenant)
        expires = datetime.datetime.fromtimestamp(
            math.floor(minted.expires_on), datetime.timezone.utc
        )
        body = {"token": minted.token, "expiresOn": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}
        return _Answer(document=body, jti=minted.jti)


def _azd_error(message: str, as_json: bool) -> _Answer:
    if as_json:
        return _Answer(1, stderr=json.dumps({"error": message}) + "\n")
    return _Answer(1, stderr=f"\nERROR: {message}\n")


def _parse_options(
    args: list[str], *, values: dict[str, str | None], flags: tuple[str, ...]
) -> tuple[dict[str, list[str]], str]:
    """Parse `--name value` / `--name=value` options; returns (options, first bad argument)."""
    aliases = {short: long for long, short in values.items() if short}
    options: dict[str, list[str]] = {}
    index = 0
    while index < len(args):
        arg = args[index]
        name, eq, inline = arg.partition("=")
        name = aliases.get(name, name)
        if name in flags and not eq:
            options.setdefault(name, []).append("true")
            index += 1
        elif name in values:
            if eq:
                options.setdefault(name, []).append(inline)
                index += 1
            elif index + 1 < len(args):
                options.setdefault(name, []).append(args[index + 1])
                index += 2
            else:
                return options, arg
        else:
            return options, arg
    return options, ""


def _last(options: dict[str, list[str]], name: str) -> str | None:
    found = options.get(name)
    return found[-1] if found else None


def _check_tool(tool: str) -> None:
    if tool not in TOOLS:
        raise ValueError(f"unknown tool {tool!r}; expected one of {TOOLS}")
