"""No token ever appears in logs, reprs, serialized settings or models, or exception texts.

One scenario runs every adapter end to end (openai sync/async/v1, LangChain chat and
embeddings, LlamaIndex LLM and embedding, the raw-token shim with httpx and requests) with
the root logger at DEBUG (so azure-core, azure-identity, msal, openai, httpx, httpcore,
urllib3, LangChain and LlamaIndex all log everything they log), a static token and keys
left in the environment, a principal without the data-plane role (401), and an identity
failure (``TokenRefreshError``). It collects every log record (with tracebacks), warning,
byte written to stdout/stderr, ``repr``/``str`` of every object it made, every serialized
form (``Settings.to_json``, ``model_dump``, ``langchain_core.load.dumps``, LlamaIndex
``to_dict``/``to_json``) and exception text (with the cause chain).

The needles are every token the shared issuer minted (the identity emulator's tokens and
the stray ``AZURE_OPENAI_AD_TOKEN``), each whole and by its payload and signature, plus the
prefix every RS256 JWT starts with, so a truncated token is caught too. ``str()`` of a
``RefreshingToken`` and ``headers()`` are excluded: returning the token is their job.
"""

from __future__ import annotations

import asyncio
import io
import logging
import traceback
import warnings
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from typing import Any

import pytest

from adapters.testing import AzureOpenAIEmulator, ManagedIdentityEmulator, Principal, TokenIssuer
from adapters.testing.pytest_plugin import AZURE_IDENTITY_VARIABLES
from tests.reliability.support import CHAT, EMBEDDING, MESSAGES, chat_url

pytest.importorskip("langchain_openai")
pytest.importorskip("llama_index.llms.azure_openai")
pytest.importorskip("llama_index.embeddings.azure_openai")
httpx = pytest.importorskip("httpx")
requests = pytest.importorskip("requests")

JWT_PREFIX = "eyJhbGciOiJSUzI1NiIs"  # base64url of '{"alg":"RS256",' : every token here
LOGGERS = (
    "",
    "adapters",
    "azure",
    "msal",
    "openai",
    "httpx",
    "httpcore",
    "urllib3",
    "langchain",
    "langchain_openai",
    "llama_index",
)
USER_ASSIGNED = "11111111-2222-4333-8444-555555555555"
NO_ROLE = "66666666-7777-4888-8999-aaaaaaaaaaaa"


class RecordingIssuer(TokenIssuer):
    """A ``TokenIssuer`` that remembers every token it signs."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: list[str] = []

    def issue(self, *args: Any, **kwargs: Any) -> Any:
        minted = super().issue(*args, **kwargs)
        self.tokens.append(minted.token)
        return minted


@dataclass
class Collected:
    """Everything the scenario produced that a user could see, by category."""

    logs: list[str] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)
    serialized: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    requests: int = 0

    def needles(self) -> list[str]:
        found = [JWT_PREFIX]
        for token in self.tokens:
            _, payload, signature = token.split(".")
            found += [token, payload, signature, signature[-24:]]
        return found


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self._formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        text = f"{record.name} {record.levelname} {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self._formatter.formatException(record.exc_info)
        if record.stack_info:
            text += "\n" + record.stack_info
        self.lines.append(text)


def _error_text(exc: BaseException) -> list[str]:
    return [str(exc), repr(exc), "".join(traceback.format_exception(exc))]


def _run(collected: Collected, mi: ManagedIdentityEmulator, aoai: AzureOpenAIEmulator) -> None:
    """The scenario: every adapter, every failure, every serialized form."""
    import openai
    from langchain_core.load import dumps

    from adapters import Settings, TokenRefreshError, get_provider
    from adapters import openai as keyless_openai
    from adapters.credentials import describe
    from adapters.langchain import chat_model, embeddings
    from adapters.llama_index import embedding, llm
    from adapters.rawtoken import refreshing_token

    shown, serialized, errors = collected.shown, collected.serialized, collected.errors
    settings = Settings.from_env()
    serialized += [settings.to_json(), repr(settings), str(settings.to_dict())]

    client = keyless_openai.client(max_retries=0)
    aclient = keyless_openai.async_client(max_retries=0)
    v1 = keyless_openai.v1_client(max_retries=0)
    chat = chat_model(max_retries=0)
    lc_embeddings = embeddings(max_retries=0, check_embedding_ctx_length=False)
    li_llm = llm(model="gpt-4o-mini", max_retries=0)
    li_embedding = embedding(max_retries=0)
    token = refreshing_token()
    provider = get_provider()

    client.chat.completions.create(model=CHAT, messages=MESSAGES)
    for chunk in client.chat.completions.create(model=CHAT, messages=MESSAGES, stream=True):
        shown.append(repr(chunk))
    v1.chat.completions.create(model=CHAT, messages=MESSAGES)
    v1.embeddings.create(model=EMBEDDING, input="hello")
    shown.append(repr(chat.invoke("hello")))
    lc_embeddings.embed_query("hello")
    shown.append(repr(li_llm.complete("hello")))
    li_embedding.get_query_embedding("hello")
    with httpx.Client(auth=token.httpx_auth()) as http:
        http.post(chat_url(aoai.endpoint), json={"messages": MESSAGES}).raise_for_status()
    requests.post(
        chat_url(aoai.endpoint), json={"messages": MESSAGES}, auth=token.requests_auth(), timeout=30
    ).raise_for_status()

    async def async_calls() -> None:
        await aclient.chat.completions.create(model=CHAT, messages=MESSAGES)
        await chat.ainvoke("hello")
        await lc_embeddings.aembed_query("hello")
        await li_llm.acomplete("hello")
        await li_embedding.aget_query_embedding("hello")
        async with httpx.AsyncClient(auth=token.httpx_auth()) as http:
            response = await http.post(chat_url(aoai.endpoint), json={"messages": MESSAGES})
            response.raise_for_status()
        await aclient.close()
        await chat.root_async_client.close()
        await li_llm._aclient.close()
        await li_embedding._aclient.close()
        assert provider.choice is not None
        await provider.choice.async_credential.close()

    asyncio.run(async_calls())

    # A principal without the data-plane role: 401 PermissionDenied, as an SDK error.
    mi.principal = Principal().without_role()
    for call in (
        lambda: keyless_openai.client(client_id=NO_ROLE, max_retries=0).chat.completions.create(
            model=CHAT, messages=MESSAGES
        ),
        lambda: chat_model(client_id=NO_ROLE, max_retries=0).invoke("hello"),
        lambda: embedding(client_id=NO_ROLE, max_retries=0).get_query_embedding("hello"),
    ):
        with pytest.raises(Exception) as denied:  # noqa: PT011 - each SDK has its own type
            call()
        errors.extend(_error_text(denied.value))
    mi.principal = Principal()

    # An identity failure: a user-assigned identity the endpoint refuses (401, no retry).
    mi.fail_next(1, status=401, message="Unauthorized: identity not found.")
    with pytest.raises(TokenRefreshError) as refused:
        keyless_openai.client(client_id=USER_ASSIGNED, max_retries=0).chat.completions.create(
            model=CHAT, messages=MESSAGES
        )
    errors.extend(_error_text(refused.value))
    assert isinstance(refused.value, TokenRefreshError)
    with pytest.raises(openai.APIConnectionError) as unreachable:
        openai.AzureOpenAI(
            azure_endpoint="http://127.0.0.1:9",
            api_version="2024-10-21",
            azure_ad_token_provider=provider,
            max_retries=0,
        ).chat.completions.create(model=CHAT, messages=MESSAGES)
    errors.extend(_error_text(unreachable.value))

    shown += [
        repr(provider),
        str(provider),
        repr(provider.stats),
        repr(provider.snapshot()),
        repr(provider.choice),
        str(describe(provider.choice)),
        repr(token),
        repr(token.snapshot()),
        repr(token.httpx_auth()),
        repr(token.requests_auth()),
        repr(client),
        repr(aclient),
        repr(v1),
        repr(chat),
        str(chat),
        repr(lc_embeddings),
        repr(li_llm),
        str(li_llm),
        repr(li_embedding),
        repr(provider.async_provider),
    ]
    serialized += [
        str(chat.model_dump()),
        dumps(chat),
        str(lc_embeddings.model_dump()),
        dumps(lc_embeddings),
        str(li_llm.to_dict()),
        li_llm.to_json(),
        str(li_embedding.to_dict()),
        li_embedding.to_json(),
        str(li_llm.model_dump()),
        str(li_embedding.model_dump()),
    ]
    for closeable in (client, v1, chat.root_client, li_llm._client, li_embedding._client):
        closeable.close()


@pytest.fixture(scope="module")
def collected() -> Collected:
    """Run the scenario once for the module and collect what it showed."""
    issuer = RecordingIssuer()
    result = Collected()
    capture = _Capture()
    levels = {name: logging.getLogger(name).level for name in LOGGERS}
    out, err = io.StringIO(), io.StringIO()
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        ManagedIdentityEmulator(issuer=issuer) as mi,
        AzureOpenAIEmulator(issuer=issuer) as aoai,
        warnings.catch_warnings(record=True) as caught,
        redirect_stdout(out),
        redirect_stderr(err),
    ):
        for name in (*AZURE_IDENTITY_VARIABLES, "OPENAI_BASE_URL"):
            monkeypatch.delenv(name, raising=False)
        stray = issuer.issue().token
        monkeypatch.setenv("AZURE_OPENAI_AD_TOKEN", stray)
        monkeypatch.setenv("AZURE_OPENAI_API_KEY", "stray-azure-key-0123456789")
        monkeypatch.setenv("OPENAI_LOG", "debug")
        for name, value in mi.environ.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", aoai.endpoint)
        monkeypatch.setenv("AZURE_OPENAI_CHAT_DEPLOYMENT", CHAT)
        monkeypatch.setenv("AZURE_OPENAI_EMBEDDING_DEPLOYMENT", EMBEDDING)
        root = logging.getLogger()
        root.addHandler(capture)
        for name in LOGGERS:
            logging.getLogger(name).setLevel(logging.DEBUG)
        try:
            _run(result, mi, aoai)
        finally:
            root.removeHandler(capture)
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)
            from adapters import clear_providers

            clear_providers()
        result.requests = aoai.requests
    result.logs = [*capture.lines, *(str(w.message) for w in caught)]
    result.logs += [out.getvalue(), err.getvalue()]
    result.tokens = list(issuer.tokens)
    return result


def _leaks(texts: list[str], needles: list[str]) -> list[str]:
    return [
        f"{needle[:12]}... in {text[:200]!r}"
        for text in texts
        for needle in needles
        if needle in text
    ]


def test_scenario_used_many_tokens_and_requests(collected):
    """The scenario really ran: several tokens minted, many requests answered, logs written."""
    assert len(collected.tokens) >= 3
    assert collected.requests >= 15
    assert len(collected.logs) >= 100
    assert len(collected.errors) >= 5


def test_no_token_in_debug_logs(collected):
    """No token, or part of one, in any log record, warning or console output at DEBUG."""
    assert _leaks(collected.logs, collected.needles()) == []


def test_no_token_in_reprs(collected):
    """No token in the repr or str of any object the adapters return or expose."""
    assert _leaks(collected.shown, collected.needles()) == []


def test_no_token_in_serialized_settings_or_models(collected):
    """No token in Settings.to_json, model_dump, LangChain dumps or LlamaIndex to_dict/to_json."""
    assert _leaks(collected.serialized, collected.needles()) == []


def test_no_token_in_exception_texts(collected):
    """No token in the message, repr or traceback (with causes) of any error raised."""
    assert _leaks(collected.errors, collected.needles()) == []
