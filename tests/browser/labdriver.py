"""A throwaway JupyterLab server and a Playwright page that drives its notebooks.

:class:`LabServer` runs ``jupyter lab`` from this interpreter on 127.0.0.1 with a
random port and token, its own root, settings, workspace and config directories,
and settings that keep it off the internet (no news, no update check, no PyPI
extension manager). :class:`NotebookPage` opens a notebook in a browser page, runs
its cells through ``window.jupyterapp.commands``, saves and reloads it.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import nbformat
from playwright.sync_api import Locator, Page

READY_TIMEOUT_S = 60.0
KERNEL_TIMEOUT_MS = 60_000

_ANSI = re.compile(r"\x1b\[[0-9;]*m")

# Environment variables that could point a kernel at a real provider, or carry a key.
_SECRET_ENV = re.compile(r"(_API_KEY|_BASE_URL|_TOKEN|_SECRET)$|^(OLLAMA_HOST|IPYLLM_MODEL)$")

# JupyterLab user settings: nothing is fetched from the internet, nothing is saved behind
# the test's back, and the theme is known.
_USER_SETTINGS: dict[str, dict[str, Any]] = {
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/apputils-extension/themes": {"theme": "JupyterLab Light"},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
}

# Helpers the tests call from page.evaluate; installed before every page load.
_INIT_SCRIPT = """
window.__lab = {
  // The open notebook panel whose path is `path`, or null.
  notebook(path) {
    const app = window.jupyterapp;
    if (!app) return null;
    for (const w of app.shell.widgets('main')) {
      if (w.context && w.context.path === path && w.content && w.sessionContext) return w;
    }
    return null;
  },
  kernelStatus(path) {
    const nb = this.notebook(path);
    const kernel = nb && nb.sessionContext.session && nb.sessionContext.session.kernel;
    return kernel ? kernel.status : null;
  },
  // Execution counts of the code cells (null: never run, or running).
  executionCounts(path) {
    const nb = this.notebook(path);
    if (!nb) return null;
    return nb.content.widgets
      .filter((c) => c.model.type === 'code')
      .map((c) => c.model.executionCount);
  },
  // The traceback of every error output in the notebook.
  errors(path) {
    const nb = this.notebook(path);
    if (!nb) return [];
    const found = [];
    for (const cell of nb.content.widgets) {
      if (cell.model.type !== 'code') continue;
      for (const out of cell.model.outputs.toJSON()) {
        if (out.output_type === 'error') found.push(out.traceback.join('\\n'));
      }
    }
    return found;
  },
};
"""


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    # Runs in the child before exec: if pytest dies without tearing down, Linux sends
    # the server SIGTERM, and the server shuts down its Jupyter kernels.
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def lab_environment(home: Path) -> dict[str, str]:
    """The server's (and so its kernels') environment: no keys, no real providers.

    The D-Bus/keyring variables of ``scripts/with-keyring.sh`` are inherited, so a
    kernel's ``keyring`` talks to the same throwaway Secret Service as the tests.
    """
    env = {k: v for k, v in os.environ.items() if not _SECRET_ENV.search(k)}
    env.update(
        IPYLLM_HOME=str(home / "ipyllm-home"),
        JUPYTER_CONFIG_DIR=str(home / "jupyter-config"),
        JUPYTER_DATA_DIR=str(home / "jupyter-data"),
        JUPYTER_RUNTIME_DIR=str(home / "jupyter-runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(home / "lab-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "lab-workspaces"),
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
    )
    return env


class LabServer:
    """``jupyter lab`` in its own process group, serving ``root``; call :meth:`stop`."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = base / "root"
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = base / "jupyter-lab.log"
        for sub in ("root", "ipyllm-home", "jupyter-config", "jupyter-data", "jupyter-runtime"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        settings_dir = base / "lab-settings"
        for plugin, values in _USER_SETTINGS.items():
            path = settings_dir / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        argv = [
            sys.executable, "-m", "jupyter", "lab",
            "--no-browser", "--allow-root",
            "--ip", "127.0.0.1", "--port", str(self.port), "--port-retries=0",
            f"--IdentityProvider.token={self.token}",
            "--LabApp.expose_app_in_browser=True",
            f"--ServerApp.root_dir={self.root}",
            f"--LabApp.user_settings_dir={settings_dir}",
            f"--LabApp.workspaces_dir={base / 'lab-workspaces'}",
            # Never call the internet: no news feed, no update check, no PyPI.
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            # If pytest is killed before teardown: kernels, then the server, go away.
            "--MappingKernelManager.cull_idle_timeout=600",
            "--MappingKernelManager.cull_interval=60",
            "--MappingKernelManager.cull_connected=True",
            "--ServerApp.shutdown_no_activity_timeout=900",
        ]  # fmt: skip
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            argv,
            cwd=self.root,
            env=lab_environment(base),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"jupyter lab exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            with contextlib.suppress(OSError, ValueError):
                if "started" in self.api("GET", "/api/status"):
                    return
            time.sleep(0.2)
        raise TimeoutError(
            f"jupyter lab did not answer /api/status in {READY_TIMEOUT_S:.0f} s:\n"
            + self.log_tail()
        )

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log."""
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def api(self, method: str, path: str) -> Any:
        """Call the server's REST API; the parsed JSON body, or ``None``."""
        req = urllib.request.Request(
            self.url + path, method=method, headers={"Authorization": f"token {self.token}"}
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def page_url(self, notebook: str) -> str:
        """The address that opens ``notebook`` alone in a fresh workspace."""
        return f"{self.url}/lab/tree/{notebook}?reset&token={self.token}"

    # ---- notebooks on disk -------------------------------------------------------

    def write_notebook(self, name: str, cells: Iterable[str]) -> Path:
        """Write a Python notebook of code ``cells`` (never run) into the root."""
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
        }
        nb.metadata["language_info"] = {"name": "python"}
        nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
        path = self.root / name
        nbformat.write(nb, path)
        return path

    def read_notebook(self, name: str) -> nbformat.NotebookNode:
        """The notebook as it is on disk now."""
        return nbformat.read(self.root / name, as_version=4)

    # ---- lifetime ----------------------------------------------------------------

    def shutdown_kernels(self) -> None:
        """Close every session (and so every kernel) the server has open."""
        with contextlib.suppress(OSError, ValueError):
            for session in self.api("GET", "/api/sessions") or []:
                with contextlib.suppress(OSError, ValueError):
                    self.api("DELETE", f"/api/sessions/{session['id']}")

    def stop(self) -> None:
        """Shut down kernels, then the server's whole process group. Safe to call twice."""
        if self.process.poll() is None:
            self.shutdown_kernels()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        # Anything left in the group (a stuck child) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self._log.close()


class NotebookPage:
    """One notebook of :class:`LabServer` open in a Playwright page."""

    def __init__(self, page: Page, lab: LabServer) -> None:
        self.page = page
        self.lab = lab
        self.name = ""
        page.context.add_init_script(_INIT_SCRIPT)

    @property
    def path(self) -> Path:
        return self.lab.root / self.name

    def open(self, name: str) -> None:
        """Open ``name`` in a fresh workspace and wait until its kernel is idle."""
        self.name = name
        self.page.goto(self.lab.page_url(name))
        self.wait_for_kernel()

    def wait_for_kernel(self) -> None:
        """Wait until the notebook is shown and its kernel is idle."""
        self.page.wait_for_function(
            "(p) => window.__lab.kernelStatus(p) === 'idle'",
            arg=self.name,
            timeout=KERNEL_TIMEOUT_MS,
        )

    def command(self, command_id: str, args: dict[str, Any] | None = None) -> Any:
        """Run a JupyterLab command and wait for it (not for cells: see :meth:`run_all`)."""
        return self.page.evaluate(
            "([id, args]) => window.jupyterapp.commands.execute(id, args)",
            [command_id, args or {}],
        )

    def _activate(self) -> None:
        self.page.evaluate(
            "(p) => window.jupyterapp.shell.activateById(window.__lab.notebook(p).id)", self.name
        )

    def run_all(self, *, wait: bool = True) -> None:
        """Run every cell; with ``wait``, until each has run and the kernel is idle again.

        The command is not awaited: it resolves only when the last cell ends.
        """
        self._activate()
        self.page.evaluate(
            "() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }"
        )
        if wait:
            self.wait_until_run()
            self.check_errors()

    def run_cell(self, index: int, *, wait: bool = True) -> None:
        """Run the code cell at ``index`` (cells before it are not run)."""
        before = self.execution_counts()[index]
        self._activate()
        self.page.evaluate(
            """(p_i) => {
                const nb = window.__lab.notebook(p_i[0]);
                nb.content.activeCellIndex = p_i[1];
                nb.content.deselectAll();
                window.jupyterapp.commands.execute('notebook:run-cell');
            }""",
            [self.name, index],
        )
        if wait:
            self.page.wait_for_function(
                """([p, i, before]) => {
                    const counts = window.__lab.executionCounts(p);
                    return counts && counts[i] !== null && counts[i] !== before
                        && window.__lab.kernelStatus(p) === 'idle';
                }""",
                arg=[self.name, index, before],
                timeout=KERNEL_TIMEOUT_MS,
            )
            self.check_errors()

    def check_errors(self) -> None:
        """Fail if any cell's output is an error."""
        errors = self.page.evaluate("(p) => window.__lab.errors(p)", self.name)
        tracebacks = "\n\n".join(_ANSI.sub("", tb) for tb in errors)
        assert not errors, f"{self.name}: a cell raised:\n{tracebacks}"

    def execution_counts(self) -> list[int | None]:
        counts = self.page.evaluate("(p) => window.__lab.executionCounts(p)", self.name)
        assert counts is not None, f"{self.name} is not open"
        return list(counts)

    def wait_until_run(self) -> None:
        """Wait until every code cell has an execution count and the kernel is idle."""
        self.page.wait_for_function(
            """(p) => {
                const counts = window.__lab.executionCounts(p);
                return counts && counts.every((n) => n !== null)
                    && window.__lab.kernelStatus(p) === 'idle';
            }""",
            arg=self.name,
            timeout=KERNEL_TIMEOUT_MS,
        )

    def cell(self, index: int) -> Locator:
        """The cell at ``index`` in the notebook's DOM."""
        return self.page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").nth(index)

    def outputs(self, index: int) -> Locator:
        """The output area of the cell at ``index``."""
        return self.cell(index).locator(".jp-OutputArea")

    def save(self, timeout_s: float = 15.0) -> None:
        """Save with ``docmanager:save`` and wait until the file on disk has changed."""
        before = self.path.stat().st_mtime_ns
        self._activate()
        self.command("docmanager:save")
        deadline = time.monotonic() + timeout_s
        while self.path.stat().st_mtime_ns == before:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} was not written to disk in {timeout_s} s")
            time.sleep(0.05)
        # The server writes the file in one go, but let a rename settle.
        nbformat.read(self.path, as_version=4)

    def reload(self) -> None:
        """Reload the page and wait until the notebook's kernel is idle again."""
        self.page.reload()
        self.wait_for_kernel()

    def read(self) -> nbformat.NotebookNode:
        """The notebook as saved on disk."""
        return self.lab.read_notebook(self.name)


def output_texts(nb: nbformat.NotebookNode, index: int) -> str:
    """Every text/plain, stream or HTML output of cell ``index``, joined."""
    parts: list[str] = []
    for out in nb.cells[index].get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        for mime in ("text/plain", "text/html"):
            value = out.get("data", {}).get(mime)
            if value:
                parts.append(value if isinstance(value, str) else "".join(value))
    return "".join(parts)
