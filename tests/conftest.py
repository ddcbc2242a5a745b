"""Shared fixtures: a loopback fake server, and no real keys in the environment."""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import nbformat
import pytest

from ipyllm.testing import FakeLLMServer

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

# History goes to a throwaway directory, never the developer's own.
_HOME = tempfile.mkdtemp(prefix="ipyllm-test-home-")
os.environ["IPYLLM_HOME"] = _HOME
os.environ["IPYLLM_DEMO_DELAY"] = "0.001"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def server() -> Iterator[FakeLLMServer]:
    """One loopback fake server for the whole run; reset between tests."""
    with FakeLLMServer() as srv:
        yield srv


@pytest.fixture
def fake(server: FakeLLMServer) -> FakeLLMServer:
    """The shared fake server with no queued replies and no recorded requests."""
    server.reset()
    return server


@pytest.fixture(autouse=True)
def _no_real_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests never talk to a real provider, and a developer's own keys must not
    # leak into them: clear every provider key variable.
    for var in (
        "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY",
        "XAI_API_KEY", "OPENROUTER_API_KEY", "FIREWORKS_API_KEY", "MINIMAX_API_KEY",
        "ZAI_API_KEY", "VLLM_API_KEY", "OPENAI_COMPATIBLE_API_KEY", "IPYLLM_MODEL",
    ):  # fmt: skip
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    # A 429's Retry-After holds back every later request through the same gate (one per
    # provider, base URL and key fingerprint), by design; tests share base URLs and keys,
    # so between tests that would only make the next test wait (up to 20 s for a
    # recorded Anthropic 429): each test starts with fresh limiters.
    yield
    import ipyllm

    ipyllm.manager()._limiters.clear()


@pytest.fixture
def sandbox_keyring() -> None:
    """Skip unless a throwaway real keyring is running (``scripts/with-keyring.sh``).

    With ``IPYLLM_REQUIRE_KEYRING=1`` (CI) a missing keyring fails instead.
    """
    if os.environ.get("IPYLLM_KEYRING_SANDBOX") != "1":
        message = "needs the sandboxed gnome-keyring of scripts/with-keyring.sh"
        if os.environ.get("IPYLLM_REQUIRE_KEYRING") == "1":
            pytest.fail(f"IPYLLM_REQUIRE_KEYRING=1 but this test {message}")
        pytest.skip(message)


@pytest.fixture(scope="session")
def shell() -> InteractiveShell:
    """The one IPython shell a test process may start, with ``%load_ext ipyllm`` run."""
    from IPython.core.getipython import get_ipython
    from IPython.testing.globalipapp import start_ipython

    ip = start_ipython() or get_ipython()  # None once it was started
    assert ip is not None
    ip.run_line_magic("load_ext", "ipyllm")
    return ip


@pytest.fixture
def ip(shell: InteractiveShell) -> Iterator[InteractiveShell]:
    """The shell with the magic's default tab and model reset, and no open tabs around."""
    import ipyllm

    magics = shell.magics_manager.registry["LLMMagics"]
    magics.state.default_tab = None
    magics.state.default_model = None
    for tab in ipyllm.manager().tabs:  # tests list the titles they create
        tab.close()
    yield shell
    for tab in ipyllm.manager().tabs:
        tab.close()


@pytest.fixture
def restore_provider_settings() -> Iterator[None]:
    """``configure`` and ``%llm config`` change process-wide settings: undo them, and retire
    the providers built for them."""
    from ipyllm import _registry

    with _registry._lock:
        saved = {name: dict(settings) for name, settings in _registry._overrides.items()}
    yield
    with _registry._lock:
        touched = set(saved) | set(_registry._overrides)
        _registry._overrides.clear()
        _registry._overrides.update(saved)
    for name in touched:
        _registry.retire_stale(name)


@pytest.fixture(scope="session")
def run_notebook() -> Callable[[str], nbformat.NotebookNode]:
    """Runs a notebook of notebooks/ once per test session as a new user without a key
    (``tests/notebook_outputs.py``); each call gets its own copy."""
    from notebook_outputs import NOTEBOOKS, execute

    runs: dict[str, nbformat.NotebookNode] = {}

    def run(name: str) -> nbformat.NotebookNode:
        if name not in runs:
            runs[name] = execute(NOTEBOOKS / name)
        return copy.deepcopy(runs[name])

    return run
