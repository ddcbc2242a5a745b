"""The error tree: its groups, the builtins two of its classes also are, the module every
error names, pickling, and the specific classes that replaced bare ``LLMError`` raises."""

from __future__ import annotations

import asyncio
import builtins
import os
import pickle
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

import pytest

import ipyllm
from ipyllm._magic.commands import _live_models
from ipyllm._manager.manager import SessionManager
from ipyllm.testing import FakeLLMServer, Reply

ERRORS = sorted(
    (getattr(ipyllm, name) for name in ipyllm.__all__ if name.endswith("Error")),
    key=lambda cls: cls.__name__,
)

# What each group holds, below it at any depth; the last three sit under LLMError alone.
GROUPS: dict[type[ipyllm.LLMError], set[type[ipyllm.LLMError]]] = {
    ipyllm.ConfigurationError: {
        ipyllm.InvalidOptionError,
        ipyllm.MissingKeyError,
        ipyllm.InvalidKeyError,
        ipyllm.InsecureHTTPError,
        ipyllm.UnknownProviderError,
        ipyllm.KeyringError,
        ipyllm.ToolError,
        ipyllm.AttachmentError,
    },
    ipyllm.ProviderError: {
        ipyllm.AuthenticationError,
        ipyllm.RateLimitError,
        ipyllm.QuotaExceededError,
        ipyllm.BadRequestError,
        ipyllm.ContentFilterError,
        ipyllm.ContextLengthError,
        ipyllm.NotFoundError,
        ipyllm.ServerError,
    },
    ipyllm.TransportError: {ipyllm.TimeoutError, ipyllm.ConnectionError, ipyllm.StreamError},
}
UNGROUPED = {ipyllm.UnknownTabError, ipyllm.TabBusyError, ipyllm.PanelError, ipyllm.SchemaError}

# Every subclass relation the flat tree had: what caught an error before still does.
KEPT = [
    (ipyllm.InvalidKeyError, ipyllm.MissingKeyError),
    (ipyllm.InvalidOptionError, ipyllm.ConfigurationError),
    (ipyllm.ConfigurationError, ValueError),
    (ipyllm.InvalidOptionError, ValueError),
    (ipyllm.QuotaExceededError, ipyllm.RateLimitError),
    (ipyllm.ContentFilterError, ipyllm.BadRequestError),
    (ipyllm.ContextLengthError, ipyllm.BadRequestError),
]


def make(cls: type[ipyllm.LLMError]) -> ipyllm.LLMError:
    """An instance with every piece of context set."""
    kwargs: dict[str, Any] = {"provider": "openai", "status": 429, "partial": "so far"}
    if issubclass(cls, ipyllm.RateLimitError):
        kwargs["retry_after"] = 2.5
    return cls(f"{cls.__name__}: how to fix it", mid_stream=True, body={"error": "x"}, **kwargs)


def test_every_public_error_sits_in_one_group_or_directly_under_llmerror() -> None:
    placed: list[type[ipyllm.LLMError]] = [*GROUPS, *UNGROUPED]
    for group, members in GROUPS.items():
        assert group.__bases__[0] is ipyllm.LLMError, group
        for member in members:
            assert issubclass(member, group), (member, group)
            others = [g for g in GROUPS if g is not group]
            assert not any(issubclass(member, g) for g in others), member
        placed += members
    for cls in UNGROUPED:
        assert cls.__bases__ == (ipyllm.LLMError,), cls
    assert sorted(placed, key=lambda c: c.__name__) == [
        e for e in ERRORS if e is not ipyllm.LLMError
    ]


@pytest.mark.parametrize(("cls", "base"), KEPT, ids=lambda c: c.__name__)
def test_what_caught_an_error_before_still_catches_it(cls: type, base: type) -> None:
    assert issubclass(cls, base)
    with pytest.raises(base):
        raise cls("x")


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_every_error_is_an_llmerror_and_keeps_its_context(cls: type[ipyllm.LLMError]) -> None:
    err = make(cls)
    assert isinstance(err, ipyllm.LLMError)
    assert (err.provider, err.status, err.partial, err.mid_stream) == (
        "openai",
        429,
        "so far",
        True,
    )
    assert str(err) == f"{cls.__name__}: how to fix it"
    assert repr(err).startswith(f"{cls.__name__}(")


@pytest.mark.parametrize(
    ("ours", "builtin"),
    [
        (ipyllm.TimeoutError, builtins.TimeoutError),
        (ipyllm.ConnectionError, builtins.ConnectionError),
    ],
    ids=["TimeoutError", "ConnectionError"],
)
def test_timeout_and_connection_errors_are_also_the_builtins(ours: type, builtin: type) -> None:
    assert ours is not builtin
    assert issubclass(ours, builtin)
    assert not issubclass(builtin, ipyllm.LLMError)
    # Plain Python's except catches ipyllm's, which keeps its context.
    with pytest.raises(builtin) as caught:
        raise ours("the server could not be reached", provider="openai")
    assert isinstance(caught.value, ipyllm.TransportError)
    assert str(caught.value) == "the server could not be reached"
    assert caught.value.provider == "openai"
    assert caught.value.errno is None


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_errors_name_the_package_as_their_module(cls: type[ipyllm.LLMError]) -> None:
    assert cls.__module__ == "ipyllm"
    assert getattr(ipyllm, cls.__name__) is cls
    line = traceback.format_exception_only(make(cls))[0]
    assert line.startswith(f"ipyllm.{cls.__name__}: "), line


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_errors_survive_a_pickle_round_trip(cls: type[ipyllm.LLMError]) -> None:
    err = make(cls)
    err.add_note("a note")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is cls
    assert (str(back), back.message, back.args) == (str(err), err.message, err.args)
    assert (back.provider, back.status, back.partial, back.mid_stream, back.body) == (
        err.provider,
        err.status,
        err.partial,
        err.mid_stream,
        err.body,
    )
    assert back.__notes__ == ["a note"]
    if isinstance(err, ipyllm.RateLimitError):
        assert isinstance(back, ipyllm.RateLimitError)
        assert back.retry_after == 2.5


def test_errors_unpickle_in_a_fresh_interpreter() -> None:
    # Where nothing but pickle imports ipyllm: each class is found as ipyllm.<Name>.
    blob = pickle.dumps([make(cls) for cls in ERRORS])
    code = (
        "import pickle, sys; errs = pickle.loads(sys.stdin.buffer.read()); "
        "print(' '.join(f'{type(e).__module__}.{type(e).__name__}' for e in errs))"
    )
    src = str(Path(__file__).resolve().parents[1] / "src")
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=blob,
        capture_output=True,
        check=True,
        env={**os.environ, "PYTHONPATH": src},
    )
    assert out.stdout.decode().split() == [f"ipyllm.{cls.__name__}" for cls in ERRORS]


# ---- where bare LLMError was raised -------------------------------------------------


def test_result_timeout_raises_ipyllms_timeout_error_and_the_turn_goes_on(
    fake: FakeLLMServer,
) -> None:
    fake.add_reply(Reply([f"w{i} " for i in range(200)], delay_s=0.02))
    manager = SessionManager()
    tab = manager.new_tab("slow", "openai:m")
    handle = tab.send(
        "hello", api_key="test-key-errors-0123456789", base_url=fake.base_url("openai")
    )
    with pytest.raises(ipyllm.TimeoutError, match=r"still streaming after 0\.05 s") as caught:
        handle.result(timeout=0.05)
    assert isinstance(caught.value, builtins.TimeoutError)
    assert caught.value.provider == "openai"
    assert "cancel()" in str(caught.value)
    assert not handle.done()  # waiting gave up; the turn did not
    handle.cancel()
    assert handle.wait(10)
    assert handle.result(10).finish_reason == "stopped"
    tab.close()


def test_sending_to_a_closed_tab_is_an_unknown_tab_error() -> None:
    tab = SessionManager().new_tab("gone", "demo:demo")
    tab.close()
    with pytest.raises(ipyllm.UnknownTabError, match="is closed; open a new one"):
        tab.send("hello")


def test_no_model_at_all_is_a_configuration_error() -> None:
    from ipyllm._manager.tab import _models

    with pytest.raises(ipyllm.ConfigurationError, match="No model given"):
        _models([], [])


class _Provider:
    def __init__(self, wait: float, error: Exception | None = None) -> None:
        self.wait, self.error = wait, error

    async def list_models(self) -> list[str]:
        await asyncio.sleep(self.wait)
        if self.error is not None:
            raise self.error
        return ["m"]


def test_live_models_timeouts_are_ipyllm_timeout_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ipyllm, "get_provider", lambda name: _Provider(wait=5))
    with pytest.raises(ipyllm.TimeoutError, match=r"did not list its models within 0\.05 s"):
        _live_models("openai", timeout=0.05)
    # The request's own timeout (a builtin TimeoutError too) keeps its message.
    own = ipyllm.TimeoutError("connecting took longer than 1 s", provider="openai")
    monkeypatch.setattr(ipyllm, "get_provider", lambda name: _Provider(wait=0, error=own))
    with pytest.raises(ipyllm.TimeoutError, match="connecting took longer") as caught:
        _live_models("openai", timeout=5)
    assert caught.value is own


def test_a_compact_panel_without_a_tab_is_a_panel_error() -> None:
    from ipyllm._panel.widget import ChatPanel

    with pytest.raises(ipyllm.PanelError, match="A compact panel shows one tab"):
        ChatPanel(compact=True, manager=SessionManager())


def test_a_missing_front_end_is_a_panel_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from ipyllm._panel import assets

    monkeypatch.setattr(assets, "STATIC", tmp_path)
    with pytest.raises(ipyllm.PanelError, match=r"front end \(.*\) is missing"):
        assets.check_bundle()
