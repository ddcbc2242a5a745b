"""The Python examples in docs/ run as written (offline: demo provider, fake server, and
no connection but to loopback)."""

from __future__ import annotations

import ipaddress
import re
import socket
from pathlib import Path
from typing import Any

import pytest

DOCS = Path(__file__).parent.parent / "docs"
FENCE = re.compile(r"```python\n(.*?)```", re.S)


@pytest.mark.parametrize("name", ["sessions.md", "tools.md", "notebook-context.md"])
def test_doc_examples_run(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IPYLLM_DEMO_DELAY", "0.001")
    blocks = FENCE.findall((DOCS / name).read_text("utf-8"))
    assert blocks
    namespace: dict[str, object] = {"__name__": "docs_example"}
    # The example's rate limit ends with the test (tests/conftest.py resets limiters).
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"{name}[block {i}]", "exec"), namespace)
        except Exception as err:
            raise AssertionError(f"block {i} of {name} failed:\n{block}") from err


# A block right after this comment shows what needs a key and the network; it is not run.
NOT_RUN = "<!-- not run by tests/test_docs.py"
MARKED_FENCE = re.compile(r"(<!-- not run by [^\n]*-->\n)?```python\n(.*?)```", re.S)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Refuse every name lookup and connection that is not to loopback; returns them."""
    attempts: list[object] = []
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("localhost", "127.0.0.1", "::1", None):
            attempts.append(host)
            raise OSError(f"the docs example tried to look up {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple) and not ipaddress.ip_address(address[0]).is_loopback:
            attempts.append(address)
            raise OSError(f"the docs example tried to connect to {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


@pytest.mark.usefixtures("restore_provider_settings")
def test_providers_page_runs_as_written_offline(no_network: list[object]) -> None:
    import ipyllm
    from ipyllm import _registry

    page = (DOCS / "providers.md").read_text("utf-8")
    blocks = MARKED_FENCE.findall(page)
    runnable = [body for mark, body in blocks if not mark]
    assert runnable
    assert len(runnable) < len(blocks)  # the contract example is marked, not silently run
    assert all(NOT_RUN in mark for mark, _ in blocks if mark)
    namespace: dict[str, object] = {"__name__": "docs_example"}
    try:
        for i, block in enumerate(runnable):
            try:
                exec(compile(block, f"providers.md[block {i}]", "exec"), namespace)
            except Exception as err:
                raise AssertionError(f"block {i} of providers.md failed:\n{block}") from err
        assert no_network == []
        # What the page says the lines do.
        assert ipyllm.Session("ollama").model == "ollama:qwen3:8b"
        assert _registry.parse_model("lab") == ("lab", "qwen3")
        openai = _registry.effective_spec("openai")
        assert _registry.resolve_base_url(openai) == "https://my-proxy.example/v1"
        assert openai.headers["X-Team"] == "lab"
    finally:
        with _registry._lock:
            _registry._rows.pop("lab", None)
        _registry.retire_stale("lab")
