"""Real-browser tests: a JupyterLab server and a headless Debian chromium, one each per run.

``lab`` is a :class:`~labdriver.LabServer` (kernels get a throwaway ``IPYLLM_HOME``, no
provider keys, and the keyring of ``scripts/with-keyring.sh``); ``page`` is a fresh
browser context per test, and ``notebook`` wraps it in a :class:`~labdriver.NotebookPage`.
Each test leaves the browser console in ``tmp_path/console.txt``; a failing one also a
screenshot, ``failure.png``.

``IPYLLM_SCREENSHOTS=1`` makes ``test_panel.py::test_screenshots`` write the panel's
screenshots into docs/images (otherwise they go to its ``tmp_path``).

Without ``/usr/bin/chromium`` every test here is skipped, unless ``IPYLLM_REQUIRE_BROWSER=1``
(then they fail). Install it with ``apt-get install -y chromium``; no ``playwright install``.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from .labdriver import LabServer, NotebookPage

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HERE = Path(__file__).parent
ACTION_TIMEOUT_MS = 20_000
# expect() polls for 5 s by default: too short for a loaded CI machine where a
# kernel round trip plus a widget render can take longer. A passing check
# returns as soon as it holds, so the longer limit costs nothing.
expect.set_options(timeout=ACTION_TIMEOUT_MS)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives JupyterLab in a headless chromium (tests/browser)"
    )


def _required() -> bool:
    return os.environ.get("IPYLLM_REQUIRE_BROWSER") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM.exists() or _required():
        return
    skip = pytest.mark.skip(
        reason=f"{CHROMIUM} not found: apt-get install -y chromium "
        "(set IPYLLM_REQUIRE_BROWSER=1 to fail instead)"
    )
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(skip)


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    # The page fixture's teardown looks here to decide whether to keep a screenshot.
    if report.failed:
        item.stash[_FAILED] = True
    return report


# Both are package-scoped, not session-scoped: while Playwright's sync API is started, the
# main thread has a running asyncio loop, and `asyncio.run` in any later test would fail.


@pytest.fixture(scope="package")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """One ``jupyter lab`` for these tests, stopped (with its kernels) after the last."""
    server = LabServer(tmp_path_factory.mktemp("lab"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Headless Debian chromium through Playwright's sync API."""
    if not CHROMIUM.exists():
        pytest.fail(f"IPYLLM_REQUIRE_BROWSER=1 but {CHROMIUM} is missing: apt-get install chromium")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(
    browser: Browser, lab: LabServer, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Page]:
    """A page in a fresh browser context; kernels are shut down after each test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    pg = context.new_page()
    console: list[str] = []
    pg.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
    pg.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
    try:
        yield pg
    finally:
        (tmp_path / "console.txt").write_text("\n".join(console))
        if request.node.stash.get(_FAILED, False):
            shot = tmp_path / "failure.png"
            try:
                pg.screenshot(path=str(shot), full_page=True)
                print(f"\nscreenshot: {shot}")
            except Exception as exc:  # the page may be gone; the report matters more
                print(f"\nno screenshot: {exc}")
            print(f"browser console: {tmp_path / 'console.txt'}")
            print(f"jupyter lab log ({lab.log_path}), last lines:\n{lab.log_tail(20)}")
        context.close()
        lab.shutdown_kernels()


@pytest.fixture
def notebook(page: Page, lab: LabServer) -> NotebookPage:
    """The test's page as a notebook driver (call ``open`` after writing a notebook)."""
    return NotebookPage(page, lab)
