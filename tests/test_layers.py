"""Imports point down: shared < wire < providers < engine < registry < manager < front doors.

Every ``import`` and ``from … import`` of every module under src/ipyllm is read with
``ast`` (at module level, inside functions and under ``TYPE_CHECKING`` alike: a lazy or
type-only import is knowledge of that module all the same), and an import of a module
in a higher layer fails, naming both modules. A module may import its own layer.

The front doors (``Session``, the panel, the magic, ``ipyllm.events``,
``ipyllm.testing``, the package root) are siblings over the manager: none of them
imports another, except the magic, which shows a tab's panel, reads the default model
where ``Session`` does, and calls the public functions of the package root.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).parent.parent / "src"
PACKAGE = SRC / "ipyllm"

# Lowest first; a module is in the layer of the longest name here that is it or holds it.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # Leaf modules every layer may use; they import only each other. Keys are checked
    # (and fingerprinted) by the engine as well as found by the registry.
    (
        "shared",
        (
            "ipyllm._version",
            "ipyllm._errors",
            "ipyllm._types",
            "ipyllm._untrusted",
            "ipyllm._urls",
            "ipyllm._keys",
            # "Provider settings, aliases or keys changed": a signal open panels watch.
            "ipyllm._settings_events",
            # Prompt attachments as plain values, and images fitted to limits (Pillow).
            "ipyllm._attachments",
        ),
    ),
    ("wire", ("ipyllm._wire",)),
    ("providers", ("ipyllm._providers",)),
    ("engine", ("ipyllm._engine",)),
    # Model aliases resolve in the registry's parse_model and are checked by it.
    ("registry", ("ipyllm._registry", "ipyllm._aliases", "ipyllm.keys")),
    # Python functions as tools and types as output schemas (pydantic): used by the
    # manager's tool loop, knowing nothing of providers or HTTP.
    ("tools", ("ipyllm._tools",)),
    ("manager", ("ipyllm._manager", "ipyllm._worker")),
    (
        "front doors",
        (
            "ipyllm._session",
            "ipyllm._panel",
            "ipyllm._magic",
            "ipyllm.events",
            "ipyllm.testing",
            "ipyllm",
        ),
    ),
)
RANK = {layer: rank for rank, (layer, _) in enumerate(LAYERS)}

# The only imports from one front door into another (the package root imports them all).
FRONT_DOOR_IMPORTS = {
    "ipyllm._magic": ("ipyllm", "ipyllm._session", "ipyllm._panel.widget"),
}


def _owner(module: str, names: Iterator[str]) -> str | None:
    """The longest of ``names`` that is ``module`` or a package holding it."""
    found = [n for n in names if module == n or module.startswith(n + ".")]
    return max(found, key=len, default=None)


def layer_of(module: str) -> str:
    prefix = _owner(module, (p for _, ps in LAYERS for p in ps if p != "ipyllm"))
    if prefix is None and module == "ipyllm":
        return "front doors"
    for layer, prefixes in LAYERS:
        if prefix in prefixes:
            return layer
    raise AssertionError(
        f"{module} is in no layer: add it to LAYERS in tests/test_layers.py, in the "
        "lowest layer whose modules it imports"
    )


def front_door_of(module: str) -> str:
    """The front door ``module`` belongs to: ``ipyllm._magic``, ``ipyllm`` (the root), …"""
    _, doors = LAYERS[-1]
    return _owner(module, (d for d in doors if d != "ipyllm")) or "ipyllm"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    path = SRC.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(module: str, source: str, is_package: bool) -> Iterator[tuple[str, int]]:
    """Every ipyllm module that ``source`` (the text of ``module``) imports, with its line."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "ipyllm" or alias.name.startswith("ipyllm."):
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target != "ipyllm" and not target.startswith("ipyllm."):
                continue
            for alias in node.names:
                # `from pkg import sub` imports the submodule; `from pkg import name`, pkg.
                sub = f"{target}.{alias.name}"
                yield (sub if _is_module(sub) else target), node.lineno


def violations(module: str, source: str, is_package: bool) -> Iterator[str]:
    """What is wrong with ``module``'s imports, one sentence each."""
    here = layer_of(module)
    for imported, line in imports_of(module, source, is_package):
        there = layer_of(imported)
        where = f"{module} (line {line})"
        if RANK[there] > RANK[here]:
            yield (
                f"{where}, in the {here} layer, imports {imported}, in the higher "
                f"{there} layer: imports point down "
                f"({' < '.join(layer for layer, _ in LAYERS)})"
            )
        elif here == there == "front doors":
            door, other = front_door_of(module), front_door_of(imported)
            allowed = FRONT_DOOR_IMPORTS.get(door, ())
            if door not in (other, "ipyllm") and imported not in allowed:
                yield (
                    f"{where}, a front door, imports {imported}, another front door: "
                    "move what both need below the manager"
                )


def sources() -> Iterator[tuple[str, str, bool]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield module_name(path), path.read_text("utf-8"), path.name == "__init__.py"


def test_every_module_is_in_a_layer() -> None:
    modules = [module for module, _, _ in sources()]
    assert len(modules) > 50
    for module in modules:
        layer_of(module)  # raises, naming the module


def test_imports_point_down() -> None:
    found = [problem for args in sources() for problem in violations(*args)]
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("module", "source", "culprit"),
    [
        # The shapes that once went up: the package root for __version__ (the engine),
        # a lazy import in a function (the manager), a type-only import.
        ("ipyllm._engine.provider", "from .. import __version__", "ipyllm"),
        (
            "ipyllm._manager.manager",
            "def f():\n    from .._session import default_model\n",
            "ipyllm._session",
        ),
        (
            "ipyllm._wire.sse",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import ipyllm._types\n"
            "    from .._providers.spec import ProviderSpec\n",
            "ipyllm._providers.spec",
        ),
        ("ipyllm._registry", "from ._worker import submit", "ipyllm._worker"),
        ("ipyllm._magic.commands", "from .._panel.state import key_status", "ipyllm._panel.state"),
        ("ipyllm._panel.state", "from .._session import default_model", "ipyllm._session"),
    ],
)
def test_the_rule_catches_an_upward_import(module: str, source: str, culprit: str) -> None:
    found = list(violations(module, source, is_package=False))
    assert len(found) == 1
    assert module in found[0]
    assert culprit in found[0]


def test_the_rule_allows_imports_down_and_within_a_layer() -> None:
    source = (
        "from .. import _registry, _worker\n"  # registry and manager, from the manager
        "from .._engine.limits import check_limits\n"
        "from .tab import Tab\n"
        "from .._errors import LLMError\n"
    )
    assert list(violations("ipyllm._manager.batch", source, is_package=False)) == []
    assert list(violations("ipyllm", "from ._session import Session", is_package=True)) == []
