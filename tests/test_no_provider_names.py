"""Quirks live with their provider: the engine and the registry name none.

A vendor's quirk is a hook on its adapter (``error_details``, ``retry_after``,
``error_statuses``, ``error_codes``) or a field of its catalog row
(``error_codes``, ``bare_host_port``, ``transport``, ``reasoning``). Every module of
the engine and the registry is read with ``ast``: no identifier and no string in
its code may hold a provider's name from the catalog, or one of the vendor markers
that once lived there. Docstrings and comments may name a vendor as an example
(they are not code, and ``ast`` does not see comments); every other string may not.

Provider names are matched in strings as whole words and case-sensitively, as they
are written in ``"provider:model"`` (``"OpenAI-compatible"`` in a message names the
wire format, not the ``openai`` row), and in identifiers lower-cased, in the pieces
``_`` and capital letters cut them into. Markers are looked for in strings only
(``response.status_code`` is httpx's, not a vendor's).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import ipyllm
from ipyllm import _registry
from ipyllm._engine.errors import ErrorContext, ErrorDetails, error_class
from ipyllm._providers.catalog import BUILTIN
from ipyllm._providers.gemini import GeminiAdapter
from ipyllm._providers.openai_chat import OpenAIChatAdapter

SRC = Path(__file__).parent.parent / "src" / "ipyllm"
CHECKED = [*sorted((SRC / "_engine").glob("*.py")), SRC / "_registry.py"]

PROVIDERS = frozenset(
    {spec.name for spec in BUILTIN}
    | {spec.adapter for spec in BUILTIN}
    | {spec.transport for spec in BUILTIN if spec.transport}
)
# What the engine and the registry once knew of single vendors, and where it went.
MARKERS = frozenset(
    {
        "1113",  # Z.AI's out-of-balance code: its row's error_codes
        "retryDelay",  # Gemini's RetryInfo: GeminiAdapter.retry_after
        "base_resp",  # MiniMax's envelope: OpenAIChatAdapter.error_details
        "status_msg",
        "status_code",
        "metadata",  # OpenRouter's upstream words: OpenAIChatAdapter.error_details
        "11434",  # Ollama's port for a bare OLLAMA_HOST: its row's bare_host_port
        "OLLAMA_HOST",
        # Error types (the adapters' error_statuses) and codes (their error_codes)
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "not_found_error",
        "rate_limit_error",
        "overloaded_error",
        "api_error",
        "server_error",
        "insufficient_quota",
        "billing_hard_limit_reached",
    }
)


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the string nodes that are docstrings."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _identifiers(node: ast.AST) -> Iterator[str]:
    if isinstance(node, ast.Name):
        yield node.id
    elif isinstance(node, ast.Attribute):
        yield node.attr
    elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        yield node.name
    elif isinstance(node, ast.arg | ast.keyword) and node.arg:
        yield node.arg
    elif isinstance(node, ast.alias):
        yield from node.name.split(".")
        if node.asname:
            yield node.asname
    elif isinstance(node, ast.ImportFrom) and node.module:
        yield from node.module.split(".")


def _words(identifier: str) -> set[str]:
    """``_url_of_bare_host`` → url, of, bare, host; ``DemoTransport`` → demo, transport."""
    pieces = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+", identifier)
    return {piece.lower() for piece in pieces}


def problems(source: str, where: str = "<source>") -> list[str]:
    """Each provider name or vendor marker the code of ``source`` holds, one line each."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", "?")
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) in docstrings:
                continue
            text = node.value
            for name in sorted(PROVIDERS):
                if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text):
                    found.append(f"{where}:{line}: the string {text!r} names {name!r}")
            for marker in sorted(MARKERS):
                if marker in text:
                    found.append(f"{where}:{line}: the string {text!r} holds {marker!r}")
        for identifier in _identifiers(node):
            words = _words(identifier)
            for name in sorted(PROVIDERS & words):
                found.append(f"{where}:{line}: the identifier {identifier} names {name!r}")
    return found


def test_the_checked_modules_are_there() -> None:
    assert {p.name for p in CHECKED} >= {"errors.py", "retry.py", "provider.py", "_registry.py"}
    assert {"anthropic", "gemini", "ollama", "demo", "zai", "minimax", "openai"} <= PROVIDERS


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: p.name)
def test_the_engine_and_the_registry_name_no_provider(path: Path) -> None:
    found = problems(path.read_text("utf-8"), str(path.relative_to(SRC.parent.parent)))
    assert not found, (
        "A provider's quirk belongs to its adapter (a hook on Adapter) or its catalog row "
        "(a ProviderSpec field):\n" + "\n".join(found)
    )


@pytest.mark.parametrize(
    "source",
    [
        # The shapes that were there before.
        'if spec.name == "ollama":\n    url = normalize(url)\n',
        "from ._providers.demo import DemoTransport\n",
        "def _normalize_ollama_host(value): ...\n",
        "_adapters.update(openai=make(), demo=make())\n",
        'codes = frozenset({"insufficient_quota", "1113"})\n',
        'ok = isinstance(d, dict) and "retryDelay" in d\n',
        'base = body.get("base_resp")\n',
        'raw = err.get("metadata")\n',
        "message = f\"(e.g. 'anthropic:claude-sonnet-4-5' or 'ollama:{model}')\"\n",
        'statuses = {"overloaded_error": 529}\n',
    ],
)
def test_the_check_catches_a_provider_in_code(source: str) -> None:
    assert problems(source)


def test_the_check_allows_a_vendor_in_a_docstring_or_a_comment() -> None:
    source = (
        '"""Errors, e.g. Anthropic\'s overloaded_error or ``anthropic:claude``."""\n'
        "def f():\n"
        '    """Gemini puts retryDelay in the body."""\n'
        "    return 1  # OpenRouter: metadata.raw\n"
        'MESSAGE = "or add an OpenAI-compatible endpoint"\n'
    )
    assert problems(source) == []


# ---- each quirk has a home ----------------------------------------------------------


def _spec(name: str) -> ipyllm.ProviderSpec:
    return next(spec for spec in BUILTIN if spec.name == name)


def test_quirks_are_fields_of_their_rows() -> None:
    assert _spec("zai").error_codes["1113"] == "quota"
    assert _spec("ollama").bare_host_port == 11434
    assert _spec("demo").transport == "demo"
    assert [s.name for s in BUILTIN if s.bare_host_port or s.transport] == ["ollama", "demo"]


def test_the_openai_adapter_reads_its_envelopes() -> None:
    adapter = OpenAIChatAdapter()
    minimax = {"choices": None, "base_resp": {"status_code": 1004, "status_msg": "login fail"}}
    assert adapter.error_details(minimax) == ErrorDetails("login fail", "1004", None)
    openrouter = {"error": {"code": 429, "message": "Provider returned error",
                            "metadata": {"raw": "rate-limited upstream"}}}  # fmt: skip
    assert adapter.error_details(openrouter).message == (
        "Provider returned error: rate-limited upstream"
    )
    assert adapter.error_codes["insufficient_quota"] == "quota"


def test_only_the_gemini_adapter_reads_a_retry_info() -> None:
    body = {"error": {"code": 429, "details": [{"@type": "RetryInfo", "retryDelay": "1.5s"}]}}
    assert GeminiAdapter().retry_after(body) == 1.5
    assert GeminiAdapter().retry_after({"error": {"details": [{"retryDelay": "soon"}]}}) is None
    assert OpenAIChatAdapter().retry_after(body) is None


def test_an_error_type_means_a_status_only_where_the_adapter_says() -> None:
    details = ErrorDetails("busy", None, "overloaded_error")
    openai = OpenAIChatAdapter()
    assert error_class(None, details, type_status=openai.error_statuses) is ipyllm.ServerError
    assert error_class(None, details) is ipyllm.StreamError
    ctx = ErrorContext("p", "P", "http://x", None, False)
    assert ctx.details({"error": {"message": "m", "metadata": {"raw": "r"}}}).message == "m"


def test_an_ollama_host_without_a_scheme_or_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0")
    url = _registry.resolve_base_url(_registry.effective_spec("ollama"))
    assert url == "http://127.0.0.1:11434"


def test_capabilities_report_reasoning_from_the_spec() -> None:
    assert ipyllm.get_provider("demo").capabilities()["reasoning"] is False
    assert ipyllm.get_provider("ollama").capabilities()["reasoning"] is True
