"""The Python examples in README.md and docs/ run as written (offline: demo provider, fake
server, and no connection but to loopback), or are marked as not run; and every request
option is documented."""

from __future__ import annotations

import ipaddress
import re
import socket
from pathlib import Path
from typing import Any

import pytest

DOCS = Path(__file__).parent.parent / "docs"
README = DOCS.parent / "README.md"
FENCE = re.compile(r"```python\n(.*?)```", re.S)
# The pages whose examples the tests below run; docs/magics.md (IPython syntax) is run by
# tests/test_docs_magics.py.
EXAMPLE_PAGES = ["sessions.md", "tools.md", "notebook-context.md"]
OWN_TESTS = ["providers.md", "magics.md"]

# A block right after this comment needs what a test has not (a key, the network, a
# server of yours, a notebook, the OS keyring); it is not run. The page says so in words.
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


def run_blocks(page: str, blocks: list[str], attempts: list[object]) -> None:
    """Run a page's blocks in order in one namespace; none may reach past loopback."""
    namespace: dict[str, object] = {"__name__": "docs_example"}
    # The example's rate limit ends with the test (tests/conftest.py resets limiters).
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"{page}[block {i}]", "exec"), namespace)
        except Exception as err:
            raise AssertionError(f"block {i} of {page} failed:\n{block}") from err
    assert attempts == [], f"{page} reached past loopback: {attempts}"


@pytest.mark.parametrize("name", EXAMPLE_PAGES)
def test_doc_examples_run(
    name: str, monkeypatch: pytest.MonkeyPatch, no_network: list[object]
) -> None:
    # Faster than the demo's pace; the Stop example of sessions.md goes back to it.
    monkeypatch.setenv("IPYLLM_DEMO_DELAY", "0.001")
    page = (DOCS / name).read_text("utf-8")
    assert NOT_RUN not in page  # these pages run whole
    blocks = FENCE.findall(page)
    assert blocks
    run_blocks(name, blocks, no_network)


def other_pages() -> list[Path]:
    covered = set(EXAMPLE_PAGES) | set(OWN_TESTS)
    return [README, *(p for p in sorted(DOCS.glob("*.md")) if p.name not in covered)]


@pytest.mark.parametrize("path", other_pages(), ids=lambda p: p.name)
def test_other_pages_run_offline_or_are_marked(
    path: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[object]
) -> None:
    """Every Python block of README.md and the other pages runs offline, or is marked."""
    monkeypatch.setenv("IPYLLM_DEMO_DELAY", "0.001")
    blocks = MARKED_FENCE.findall(path.read_text("utf-8"))
    assert all(NOT_RUN in mark for mark, _ in blocks if mark)
    run_blocks(path.name, [body for mark, body in blocks if not mark], no_network)


def test_every_request_option_is_documented() -> None:
    """docs/sessions.md's table of request options names every option there is."""
    from ipyllm._manager.options import OPTION_NAMES, SendOptions

    page = (DOCS / "sessions.md").read_text("utf-8")
    table = page.split("### Request options", 1)[1].split("\n#", 1)[0]
    names = set(SendOptions.__annotations__) | set(OPTION_NAMES)
    missing = sorted(n for n in names if f"| `{n}` |" not in table)
    assert missing == [], f"request options not in docs/sessions.md's table: {missing}"
