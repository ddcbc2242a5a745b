"""An ipyllm error raised from ``Session`` shows the caller's lines and
``ipyllm.XxxError: …``, not the frames it came through inside ipyllm; a bug (any
other exception) and ``KeyboardInterrupt`` keep their whole traceback (issue 14)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import traceback
from pathlib import Path
from typing import Any

import pytest

import ipyllm
from ipyllm.testing import FakeLLMServer

PACKAGE = str(Path(ipyllm.__file__).parent)


def ipyllm_frames(err: BaseException) -> list[str]:
    return [
        f.name for f in traceback.extract_tb(err.__traceback__) if f.filename.startswith(PACKAGE)
    ]


def no_key_env(tmp_path: Path) -> dict[str, str]:
    """No provider key anywhere: no variable, and a keyring backend that holds none."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    for name in ("home", "config", "data", "cache"):
        (tmp_path / name).mkdir()
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        IPYLLM_HOME=str(tmp_path / "ipyllm"),
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
    )
    env.pop("IPYLLM_MODEL", None)
    return env


SCRIPTS = {
    "ask": """
        import ipyllm
        ipyllm.Session("openai:gpt-4o-mini").ask("hi")
    """,
    "stream": """
        import ipyllm
        for piece in ipyllm.Session("openai:gpt-4o-mini").stream("hi"):
            print(piece)
    """,
    "astream": """
        import asyncio
        import ipyllm

        async def main():
            async for piece in ipyllm.Session("openai:gpt-4o-mini").astream("hi"):
                print(piece)

        asyncio.run(main())
    """,
}


@pytest.mark.parametrize("how", list(SCRIPTS))
def test_a_missing_key_is_a_short_traceback(tmp_path: Path, how: str) -> None:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(SCRIPTS[how]))
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env=no_key_env(tmp_path),
        cwd=tmp_path,
    )
    assert done.returncode == 1
    lines = done.stderr.rstrip("\n").splitlines()
    assert lines[0] == "Traceback (most recent call last):", done.stderr
    assert lines[-1].startswith("ipyllm.MissingKeyError: No API key for openai."), done.stderr
    assert "OPENAI_API_KEY" in lines[-1]
    inside = [line for line in lines if "/ipyllm/" in line and line.lstrip().startswith("File")]
    assert len(inside) <= 2, done.stderr  # the public method (and the stream's settle)
    # Was 49 lines through the worker, the runner, the provider and the key store.
    limit = 12 if how != "astream" else 12 + 9  # asyncio.run's own frames
    assert len(lines) <= limit, done.stderr
    assert "During handling" not in done.stderr
    assert "direct cause" not in done.stderr


def test_the_ipython_traceback_is_short(tmp_path: Path) -> None:
    code = 'import ipyllm; ipyllm.Session("openai:gpt-4o-mini").ask("hi")'
    done = subprocess.run(
        [sys.executable, "-m", "IPython", "--colors=NoColor", "--no-banner", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=no_key_env(tmp_path),
        cwd=tmp_path,
    )
    shown = (done.stdout + done.stderr).strip().splitlines()
    assert shown[-1].startswith("MissingKeyError: No API key for openai."), shown
    assert len(shown) <= 14, "\n".join(shown)
    assert not any("_keys.py" in line or "runner.py" in line for line in shown)


# ---- in process, against the loopback server ---------------------------------------------


def failing(fake: FakeLLMServer) -> ipyllm.Session:
    fake.add_reply(status=400, error_message="bad request")
    return ipyllm.Session(
        "openai:m", api_key="test-key-short-0123456789", base_url=fake.base_url("openai")
    )


def test_every_public_method_cuts_the_internal_frames(fake: FakeLLMServer) -> None:
    async def consume_astream(s: ipyllm.Session) -> None:
        async for _ in s.astream("hi"):
            pass

    calls: dict[str, Any] = {
        "ask": lambda s: s.ask("hi"),
        "stream": lambda s: list(s.stream("hi")),
        "aask": lambda s: asyncio.run(s.aask("hi")),
        "astream": lambda s: asyncio.run(consume_astream(s)),
    }
    for name, call in calls.items():
        s = failing(fake)
        with pytest.raises(ipyllm.BadRequestError) as info:
            call(s)
        err = info.value
        frames = ipyllm_frames(err)
        assert len(frames) <= 2, (name, frames)
        assert not any(f in frames for f in ("result", "run_turn", "query_stream")), frames
        assert err.__cause__ is None, name
        assert err.__suppress_context__, name
        assert s.last is err.response  # as before: the partial answer, if any
        assert err.status == 400


def test_an_error_before_sending_is_cut_too(fake: FakeLLMServer) -> None:
    s = ipyllm.Session(
        "openai:m", api_key="test-key-short-0123456789", base_url=fake.base_url("openai")
    )
    with pytest.raises(ipyllm.ConfigurationError) as info:
        s.ask(["hi", object()])  # type: ignore[list-item]  # cannot be attached
    assert len(ipyllm_frames(info.value)) <= 1, ipyllm_frames(info.value)


def test_a_bad_model_name_in_session_or_batch_is_cut_too() -> None:
    with pytest.raises(ipyllm.UnknownProviderError) as info:
        ipyllm.Session("nosuch:model")
    assert ipyllm_frames(info.value) == ["__init__"]
    with pytest.raises(ipyllm.UnknownProviderError, match="Did you mean") as info:
        ipyllm.batch(["hi"], "gtp-5-mini", progress=False)
    assert ipyllm_frames(info.value) == ["batch"]


class Bug(Exception):
    pass


def test_a_bug_keeps_its_whole_traceback(
    fake: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ipyllm._manager.handle import TurnHandle

    def broken_result(self: TurnHandle, timeout: float | None = None) -> Any:
        raise Bug("a bug in ipyllm")

    fake.add_reply("fine")
    s = ipyllm.Session(
        "openai:m", api_key="test-key-short-0123456789", base_url=fake.base_url("openai")
    )
    monkeypatch.setattr(TurnHandle, "result", broken_result)
    with pytest.raises(Bug) as info:
        s.ask("hi")
    frames = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
    assert frames[-3:] == ["_stream", "_settle", "broken_result"], frames


def test_keyboard_interrupt_keeps_its_traceback(
    fake: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    s = ipyllm.Session(
        "openai:m", api_key="test-key-short-0123456789", base_url=fake.base_url("openai")
    )
    monkeypatch.setattr(s.tab, "send", interrupted)
    with pytest.raises(KeyboardInterrupt) as info:
        s.ask("hi")
    frames = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
    assert frames[-3:] == ["_stream", "_send", "interrupted"], frames
