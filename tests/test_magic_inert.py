"""Interpolation evaluates nothing: no getters, no ``__getattr__``, no overridden
``__getitem__``, no expressions in the ``%%llm`` / ``%llm`` line; a value whose ``str()``
raises keeps its braces and says so in one line.

Every hostile object below counts what runs in ``ran``; each test checks it stays empty.
"""

from __future__ import annotations

import types
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

import ipyllm
from ipyllm._magic.interpolate import interpolate
from ipyllm.testing import FakeLLMServer

ran: list[str] = []


@pytest.fixture(autouse=True)
def _nothing_ran_yet() -> Iterator[None]:
    ran.clear()
    yield
    ran.clear()


class WithProperty:
    def __init__(self) -> None:
        self.plain = "plain value"

    @property
    def boom(self) -> str:
        ran.append("property")
        return "from the getter"


class WithGetattr:
    def __getattr__(self, name: str) -> str:
        ran.append(f"__getattr__ {name}")
        return "from __getattr__"


class WithGetattribute:
    def __init__(self) -> None:
        self.stored = "stored value"

    def __getattribute__(self, name: str) -> Any:
        ran.append(f"__getattribute__ {name}")
        return "from __getattribute__"


class SneakyDict(dict[str, Any]):
    def __getitem__(self, key: str) -> Any:
        ran.append("__getitem__")
        return "from __getitem__"

    def get(self, *args: Any) -> Any:  # type: ignore[override]
        ran.append("get")
        return "from get"

    def __missing__(self, key: str) -> Any:
        ran.append("__missing__")
        return "from __missing__"


class SneakyList(list[str]):
    def __getitem__(self, index: Any) -> Any:
        ran.append("list __getitem__")
        return "from __getitem__"


class LiesAboutItsClass:
    @property  # type: ignore[misc]
    def __class__(self) -> type:  # isinstance() would read this
        ran.append("__class__")
        return dict


class ShadowsItsDict:
    @property  # type: ignore[misc]
    def __dict__(self) -> dict[str, Any]:  # vars() would run this
        ran.append("__dict__")
        return {"x": "from the __dict__ property"}


class BadStr:
    def __str__(self) -> str:
        raise RuntimeError("this value cannot be shown")


class Base:
    inherited = "class attribute"


@dataclass(slots=True)
class Slotted:
    a: int
    b: str = "bee"


def lazy_module() -> types.ModuleType:
    module = types.ModuleType("lazy")
    module.present = "module variable"  # type: ignore[attr-defined]

    def module_getattr(name: str) -> str:  # PEP 562
        ran.append(f"module __getattr__ {name}")
        return "from the module's __getattr__"

    module.__getattr__ = module_getattr  # type: ignore[method-assign]
    return module


# ---- the rules, one object at a time --------------------------------------------------


def test_a_property_is_not_run_and_its_braces_stay() -> None:
    ns = {"p": WithProperty()}
    assert interpolate("{p.boom} / {p.plain}", ns) == "{p.boom} / plain value"
    assert ran == []


def test_getattr_and_getattribute_are_not_run() -> None:
    ns = {"g": WithGetattr(), "ga": WithGetattribute()}
    # __getattr__ would have answered anything; the stored value is read from __dict__.
    assert interpolate("{g.anything} / {ga.stored} / {ga.other}", ns) == (
        "{g.anything} / stored value / {ga.other}"
    )
    assert ran == []


def test_an_overridden_getitem_on_a_dict_subclass_is_not_run() -> None:
    ns = {"d": SneakyDict(k="stored"), "items": SneakyList(["first", "second"])}
    assert interpolate("{d['k']} / {d[\"absent\"]} / {items[1]}", ns) == (
        'stored / {d["absent"]} / second'
    )
    assert ran == []


def test_other_containers_and_lookalikes_are_not_followed() -> None:
    ns = {"c": LiesAboutItsClass(), "s": ShadowsItsDict(), "o": Base(), "r": range(5)}
    typed = "{c['k']} {c.k} {s.x} {o.inherited} {r[1]}"
    assert interpolate(typed, ns) == typed
    assert ran == []


def test_slots_modules_and_tuples_are_plain_data() -> None:
    ns = {"sl": Slotted(1), "m": lazy_module(), "t": ("a", ("b", "c"))}
    assert interpolate("{sl.a} {sl.b} {m.present} {t[1][-1]}", ns) == "1 bee module variable c"
    assert interpolate("{m.absent}", ns) == "{m.absent}"  # the module's __getattr__ stays out
    assert ran == []


def test_a_raising_str_keeps_the_braces_and_warns_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ns = {"bad": BadStr(), "ok": "fine"}
    assert interpolate("{bad} and {ok}", ns) == "{bad} and fine"
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "{bad}" in err
    assert "RuntimeError" in err


# ---- the %%llm and %llm line, in a real IPython shell --------------------------------


@pytest.fixture
def ip(ip: InteractiveShell) -> InteractiveShell:
    """The shared shell, with an empty ``marker`` list an evaluated expression would fill."""
    ip.user_ns["marker"] = []
    return ip


@pytest.fixture
def model(fake: FakeLLMServer) -> str:
    name = f"fake{uuid.uuid4().hex[:6]}"
    ipyllm.register_endpoint(name, fake.base_url("openai"), models=["m"])
    return f"{name}:m"


# IPython's own expansion would run this: it formats the line with the user namespace.
EXPRESSION = "{exec('marker.append(1)')}"
STYLE = "Say \"yes\" or 'no'."


def titles() -> list[str]:
    return [t.title for t in ipyllm.manager().tabs]


def test_the_options_line_is_not_evaluated(
    ip: InteractiveShell, fake: FakeLLMServer, model: str
) -> None:
    fake.add_reply("ok")
    ip.user_ns["title"] = "from a variable"
    result = ip.run_cell(f"%%llm {model} -t {EXPRESSION}\nhi")
    assert result.success, result.error_in_exec
    assert ip.user_ns["marker"] == []
    # shlex took the quotes; the rest is the title as typed.
    assert titles() == ["{exec(marker.append(1))}"]
    assert len(fake.requests) == 1
    fake.add_reply("ok")
    assert ip.run_cell(f"%%llm {model} -t $title\nhi").success
    assert "$title" in titles()  # no $name expansion either


def test_the_options_line_gets_the_safe_interpolation(
    ip: InteractiveShell, fake: FakeLLMServer, model: str
) -> None:
    ip.user_ns["where"] = "a tab with spaces"
    ip.user_ns["style"] = STYLE
    ip.user_ns["obj"] = WithProperty()
    fake.add_reply("one")
    fake.add_reply("two")
    fake.add_reply("three")
    assert ip.run_cell(f"%%llm {model} -t {{where}} -s {{style}}\nhi").success
    assert titles() == ["a tab with spaces"]  # one word: interpolated after splitting
    assert fake.requests[-1].json["messages"][0] == {"role": "system", "content": STYLE}
    assert ip.run_cell(f"%%llm {model} -t {{obj.boom}}\nhi").success
    assert "{obj.boom}" in titles()
    assert ran == []
    assert ip.run_cell(f"%%llm {model} --no-interpolate -t {{where}}\nhi").success
    assert "{where}" in titles()


def test_line_commands_are_not_evaluated_but_interpolated(
    ip: InteractiveShell, model: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ip.run_line_magic("llm", f"history {EXPRESSION}")
    assert ip.user_ns["marker"] == []
    ip.user_ns["chosen"] = model
    ip.run_line_magic("llm", "default {chosen}")
    assert f"New %%llm tabs use {model}." in capsys.readouterr().out


def test_a_raising_str_in_a_cell_warns_and_sends_the_braces(
    ip: InteractiveShell, fake: FakeLLMServer, model: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ip.user_ns["bad"] = BadStr()
    ip.user_ns["ok"] = "fine"
    fake.add_reply("answered")
    capsys.readouterr()
    result = ip.run_cell(f"%%llm {model}\n{{bad}} and {{ok}}")
    assert result.success, result.error_in_exec
    assert fake.requests[-1].json["messages"][-1]["content"] == "{bad} and fine"
    warning = [line for line in capsys.readouterr().err.splitlines() if "ipyllm" in line]
    assert len(warning) == 1
    assert "{bad}" in warning[0]
