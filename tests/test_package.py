"""The front door: a short sorted __all__, every name importable, and a cheap import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import ipyllm


def test_all_is_sorted_and_importable() -> None:
    assert ipyllm.__all__ == sorted(ipyllm.__all__)
    for name in ipyllm.__all__:
        assert getattr(ipyllm, name) is not None, name


def test_every_error_derives_from_llmerror() -> None:
    for name in ipyllm.__all__:
        obj = getattr(ipyllm, name)
        if isinstance(obj, type) and name.endswith("Error"):
            assert issubclass(obj, ipyllm.LLMError), name


def test_import_loads_no_heavy_dependency() -> None:
    heavy = ["httpx", "keyring", "ipywidgets", "anywidget", "sqlite3", "IPython"]
    code = (
        f"import sys, json, ipyllm; print(json.dumps([m for m in {heavy!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        ipyllm.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
