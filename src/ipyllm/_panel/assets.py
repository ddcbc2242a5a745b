"""The panel's front-end files, and how they reach the browser.

Each widget carries only the ~1 kB loader (``static/loader.js``), and a page
gets the bundle (``chat.js`` + ``chat.css``, ~190 kB) once and caches it under
its hash: the kernel pushes it with the first panel it opens (a message to the
page flows while a cell runs; one from the page may wait behind the cell), and
a page that has not got it (reloaded, or a second one) asks. Sending the bundle
with every widget would cost ~190 kB per ``%%llm`` cell. With
``ANYWIDGET_HMR=1`` the widget carries the bundle's path instead, so
anywidget reloads it on every rebuild (``npm run dev``).
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from pathlib import Path

from .._errors import PanelError

STATIC = Path(__file__).resolve().parent.parent / "static"
_ID_PLACEHOLDER = "__IPYLLM_BUNDLE_ID__"


def check_bundle() -> None:
    """Raise a clear error if the front end was never built."""
    path = STATIC / "chat.js"
    if not path.is_file():
        raise PanelError(
            f"The chat panel's front end ({path}) is missing: this copy of ipyllm was "
            "installed without building it. Run `pip install -e .` in the clone (it needs "
            "Node.js), or `cd js && npm ci && npm run build`."
        )


def hot_reload() -> bool:
    """Whether anywidget's hot module reloading is on (front-end development)."""
    return os.environ.get("ANYWIDGET_HMR") == "1"


@functools.cache
def bundle() -> dict[str, str]:
    """The panel's code and styles, as the loader's ``esm`` reply carries them."""
    check_bundle()
    return {
        "code": (STATIC / "chat.js").read_text(encoding="utf-8"),
        "css": (STATIC / "chat.css").read_text(encoding="utf-8"),
    }


_push_lock = threading.Lock()
_pushed = False


def first_push() -> bool:
    """True once per kernel: for the first panel, whose widget then pushes the bundle."""
    global _pushed
    with _push_lock:
        first, _pushed = not _pushed, True
        return first


@functools.cache
def loader_source() -> str:
    """The loader module, with the bundle's hash filled in (a page caches by it)."""
    parts = bundle()
    digest = hashlib.sha256((parts["code"] + parts["css"]).encode()).hexdigest()[:16]
    return (STATIC / "loader.js").read_text(encoding="utf-8").replace(_ID_PLACEHOLDER, digest)
