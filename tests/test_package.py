"""The front door: a short sorted __all__ that is exactly what the package exports, every
name importable, public module names, and a cheap import."""

from __future__ import annotations

import json
import subprocess
import sys
import typing
from types import ModuleType

import pytest

import ipyllm
import ipyllm.testing

# Public submodules users reach as attributes (``ipyllm.keys.set``, ``ipyllm.events``);
# ``ipyllm.testing`` is imported by name and stays out of ``import *``.
MODULES_IN_ALL = {"events", "keys"}
# IPython's hook for ``%load_ext ipyllm``, not an API.
HOOKS = {"load_ipython_extension"}


def test_all_is_sorted_and_importable() -> None:
    assert ipyllm.__all__ == sorted(ipyllm.__all__)
    for name in ipyllm.__all__:
        assert getattr(ipyllm, name) is not None, name


def test_all_is_exactly_the_public_surface() -> None:
    for name in ipyllm.__all__:
        getattr(ipyllm, name)  # load every lazy name, so that it is an attribute now
    public = {name for name in vars(ipyllm) if not name.startswith("_")}
    modules = {name for name in public if isinstance(getattr(ipyllm, name), ModuleType)}
    assert modules == MODULES_IN_ALL | {"testing"}
    # Every public attribute that is not a submodule is in __all__, and the reverse.
    assert set(ipyllm.__all__) - MODULES_IN_ALL == public - modules - HOOKS
    assert len(ipyllm.__all__) == len(set(ipyllm.__all__))
    assert set(ipyllm.__all__) <= set(dir(ipyllm))


def test_a_bare_import_defines_no_stray_public_names() -> None:
    # Helper imports (importlib, typing, ``from __future__ import annotations``) would
    # otherwise be attributes of the package that __all__ does not name.
    code = "import json, ipyllm; print(json.dumps(sorted(n for n in vars(ipyllm) if n[0] != '_')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == sorted(HOOKS)


def test_public_classes_name_the_package_as_their_module() -> None:
    renamed = ["File", "Image", "Provider", "Session", "SessionManager", "Tab", "TurnHandle"]
    errors = [name for name in ipyllm.__all__ if name.endswith("Error")]
    for name in renamed + errors:
        assert getattr(ipyllm, name).__module__ == "ipyllm", name


def test_the_types_users_handle_are_exported() -> None:
    from ipyllm._manager.handle import TurnHandle
    from ipyllm._manager.manager import SessionManager
    from ipyllm._manager.tab import Tab

    assert (ipyllm.TurnHandle, ipyllm.SessionManager, ipyllm.Tab) == (
        TurnHandle,
        SessionManager,
        Tab,
    )
    assert isinstance(ipyllm.manager(), ipyllm.SessionManager)


def test_events_is_the_public_home_of_the_event_types() -> None:
    import ipyllm.events as events
    from ipyllm._manager import events as private

    assert events.__all__ == sorted(events.__all__)
    for name in events.__all__:
        assert getattr(events, name) is getattr(private, name), name
    assert {n for n in vars(events) if not n.startswith("_")} == set(events.__all__)
    for cls in (events.TabDelta, events.TabStatus, events.TabSnapshot, events.TabsChanged):
        assert cls.__module__ == "ipyllm.events"
        assert typing.get_type_hints(cls)  # every annotation resolves in ipyllm.events
    assert ipyllm.events is events


def test_every_error_derives_from_llmerror() -> None:
    for name in ipyllm.__all__:
        obj = getattr(ipyllm, name)
        if isinstance(obj, type) and name.endswith("Error"):
            assert issubclass(obj, ipyllm.LLMError), name


@pytest.mark.parametrize("statement", ["import ipyllm", "import ipyllm.events"])
def test_import_loads_no_heavy_dependency(statement: str) -> None:
    heavy = ["httpx", "keyring", "ipywidgets", "anywidget", "sqlite3", "IPython"]
    loaded = f"[m for m in {heavy!r} if m in sys.modules]"
    code = f"import sys, json; {statement}; print(json.dumps({loaded}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        ipyllm.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
