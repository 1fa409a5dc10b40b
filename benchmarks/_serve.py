"""The emulators in a process of their own, driven over stdin/stdout (one JSON line each).

Run by :class:`benchmarks._common.RemoteAzure`, so that the server's work does not share
the benchmark client's interpreter lock: on a small machine an in-process server would
steal the very CPU whose use we measure. Commands, one per line:

- ``stats``: counters of both emulators;
- ``reset``: zero the counters;
- ``set <name> <value>``: ``lifetime`` (identity token lifetime, s), ``mi_latency``,
  ``aoai_latency``;
- ``token <lifetime>``: a token minted directly (for the static-token baseline);
- ``exit``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from adapters.testing import AzureOpenAIEmulator, ManagedIdentityEmulator, TokenIssuer


def _stats(mi: ManagedIdentityEmulator, aoai: AzureOpenAIEmulator) -> dict[str, Any]:
    return {
        "mi_requests": mi.requests,
        "mi_tokens": mi.tokens_issued,
        "mi_failures": mi.failures,
        "requests": aoai.requests,
        "statuses": {str(k): v for k, v in aoai.statuses.items()},
        "expired": aoai.expired_tokens,
        "api_key_headers": aoai.api_key_headers,
        "distinct_tokens": aoai.distinct_tokens,
    }


def main() -> int:
    """Serve until ``exit`` or end of input."""
    issuer = TokenIssuer()
    with (
        ManagedIdentityEmulator(issuer=issuer) as mi,
        AzureOpenAIEmulator(issuer=issuer) as aoai,
    ):
        print(json.dumps({"identity": mi.environ, "endpoint": aoai.endpoint}), flush=True)
        for line in sys.stdin:
            command, *args = line.split()
            reply: dict[str, Any] = {"ok": True}
            if command == "stats":
                reply = _stats(mi, aoai)
            elif command == "reset":
                mi.reset_counters()
                aoai.reset_counters()
            elif command == "set":
                name, value = args[0], float(args[1])
                if name == "lifetime":
                    mi.token_lifetime = value
                elif name == "mi_latency":
                    mi.latency = value
                elif name == "aoai_latency":
                    aoai.latency = value
                else:
                    reply = {"ok": False, "error": f"unknown setting {name}"}
            elif command == "token":
                minted = issuer.issue(lifetime=float(args[0]))
                reply = {"token": minted.token, "expires_on": minted.expires_on}
            elif command == "exit":
                print(json.dumps(reply), flush=True)
                break
            else:
                reply = {"ok": False, "error": f"unknown command {command}"}
            print(json.dumps(reply), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
