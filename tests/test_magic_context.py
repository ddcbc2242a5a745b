"""Data and errors as prompt context, and code into cells, through a real IPython shell
(in process): ``{df}`` descriptions and their cap, ``{Err}``, ``%llm fix`` / ``explain``,
and ``-f code`` offering the code as the next cell."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from fake_endpoints import fake_endpoint
from ipyllm._magic.describe import DEFAULT_MAX_CHARS, describe
from ipyllm._magic.errors import KEPT
from ipyllm.testing import FakeLLMServer

pytestmark = pytest.mark.usefixtures("restore_provider_settings")

FENCED = "Here:\n\n```python\ndef f(x):\n    return 1 / x if x else 0\n```\n\nDone."
CODE = "def f(x):\n    return 1 / x if x else 0"


@pytest.fixture
def model(fake: FakeLLMServer) -> str:
    return fake_endpoint(fake)


@pytest.fixture
def next_inputs(ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """Every ``set_next_input(text, replace)`` the shell receives."""
    calls: list[tuple[str, bool]] = []
    monkeypatch.setattr(ip, "set_next_input", lambda s, replace=False: calls.append((s, replace)))
    return calls


@pytest.fixture
def errors(ip: InteractiveShell) -> Iterator[Any]:
    """The magic's error log, empty."""
    log = ip.magics_manager.registry["LLMMagics"].state.errors
    log.clear()
    log.latest = None
    yield log
    log.clear()
    log.latest = None


def prompt(fake: FakeLLMServer) -> str:
    return str(fake.requests[-1].json["messages"][-1]["content"])


# ---- describing data -------------------------------------------------------------------


def test_a_million_row_frame_is_described_in_a_few_hundred_characters() -> None:
    df = pd.DataFrame(
        {"n": range(1_000_000), "x|y": ["a\nb"] * 1_000_000, "f": [1.5, None] * 500_000}
    )
    text = describe(df, name="df")
    assert len(text) < 1500
    assert text.startswith("pandas DataFrame `df`: 1,000,000 rows × 3 columns")
    assert "| f | float64 | 500,000 |" in text  # dtypes and null counts
    assert "| x\\|y |" in text  # a pipe cannot break the table; a newline neither
    assert "| 0 | 0 | a b | 1.5 |" in text
    assert "| 999999 | 999999 | a b | nan |" in text
    assert "First 5 rows" in text
    assert "Last 5 rows" in text


def test_series_polars_and_numpy_are_described() -> None:
    s = describe(pd.Series([1, None, 3], name="v"), name="s")
    assert s.startswith("pandas Series `s` 'v': 3 values, dtype float64, 1 nulls")
    assert "All rows" in s
    frame = describe(pl.DataFrame({"a": list(range(100)), "b": [None] * 100}), name="p")
    assert frame.startswith("polars DataFrame `p`: 100 rows × 2 columns")
    assert "| b | Null | 100 |" in frame
    assert "| 99 | None |" in frame
    assert "polars Series 'a': 100 values" in describe(pl.Series("a", range(100)))
    array = describe(np.arange(1_000_000.0).reshape(1000, 1000), name="a")
    assert array.startswith("numpy array `a`: shape 1,000 × 1,000, dtype float64, 0 NaN")
    assert "..." in array
    assert len(array) < 1000


def test_wide_frames_show_twenty_columns_and_say_so() -> None:
    text = describe(pd.DataFrame({f"c{i}": [i] for i in range(500)}))
    assert "(the first 20 of 500 columns)" in text
    assert "c19" in text
    assert "c20 " not in text


def test_other_values_keep_their_str_and_everything_is_cut_at_the_cap() -> None:
    assert describe("Lisbon") == "Lisbon"
    assert describe([1, 2]) == "[1, 2]"
    cut = describe("x" * 10_000, 100)
    assert cut == "x" * 100 + "\n[… cut by ipyllm: 9,900 of 10,000 characters left out]"
    assert len(describe(pd.DataFrame({"a": ["y" * 39] * 20}), 50).split("\n[…")[0]) == 50

    class MyFrame(pd.DataFrame):  # a subclass's methods could be anything: str() only
        pass

    assert describe(MyFrame({"a": [1]})) == str(MyFrame({"a": [1]}))


def test_a_frame_in_a_cell_sends_its_description_not_its_rows(
    ip: InteractiveShell, fake: FakeLLMServer, model: str
) -> None:
    ip.user_ns["df"] = pd.DataFrame({"a": range(1_000_000), "b": ["text " * 20] * 1_000_000})
    ip.user_ns["blob"] = "z" * 50_000
    fake.add_reply("ok")
    assert ip.run_cell(f"%%llm {model}\nLook at {{df}}.").success
    sent = prompt(fake)
    assert "1,000,000 rows × 2 columns" in sent
    assert len(sent) < 2000
    fake.add_reply("ok")
    assert ip.run_cell(f"%%llm {model}\n{{blob}}").success
    assert len(prompt(fake)) < DEFAULT_MAX_CHARS + 100
    assert prompt(fake).endswith("42,000 of 50,000 characters left out]")


def test_the_cap_is_a_setting_and_a_cell_option(
    ip: InteractiveShell, fake: FakeLLMServer, model: str
) -> None:
    ip.user_ns["blob"] = "z" * 50_000
    try:
        ip.run_line_magic("config", "LLMMagics.value_chars = 1000")
        fake.add_reply("ok")
        assert ip.run_cell(f"%%llm {model}\n{{blob}}").success
        assert prompt(fake).startswith("z" * 1000 + "\n[… cut by ipyllm: 49,000")
        fake.add_reply("ok")
        assert ip.run_cell(f"%%llm {model} --value-chars 10\n{{blob}}").success
        assert prompt(fake).startswith("z" * 10 + "\n[…")
    finally:
        ip.run_line_magic("config", f"LLMMagics.value_chars = {DEFAULT_MAX_CHARS}")
    result = ip.run_cell(f"%%llm {model} --value-chars 0\nhi")
    assert isinstance(result.error_in_exec, UsageError)


def test_loading_ipyllm_imports_no_pandas() -> None:
    code = "import sys, ipyllm, ipyllm._magic.magics; print('pandas' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


# ---- code into cells ---------------------------------------------------------------------


def test_f_code_offers_the_code_as_the_next_cell_and_o_still_works(
    ip: InteractiveShell, fake: FakeLLMServer, model: str, next_inputs: list[Any]
) -> None:
    fake.add_reply(FENCED)
    assert ip.run_cell(f"%%llm {model} -f code -o code\nA safe f.").success
    assert next_inputs == [(CODE, False)]
    assert ip.user_ns["code"] == CODE
    fake.add_reply(FENCED)
    assert ip.run_cell(f"%%llm {model} --replace\nA safe f.").success
    assert next_inputs[-1] == (CODE, True)
    assert "Reply with one fenced code block" in fake.requests[-1].json["messages"][0]["content"]


def test_no_cell_for_other_formats_failed_answers_or_bg(
    ip: InteractiveShell, fake: FakeLLMServer, model: str, next_inputs: list[Any]
) -> None:
    from ipyllm.testing import Reply

    fake.add_reply(FENCED)
    assert ip.run_cell(f"%%llm {model}\nA safe f.").success
    fake.add_reply(Reply(["```python\nx = ", "1"], error_after=1, status=503))
    assert not ip.run_cell(f"%%llm {model} -f code\nA safe f.").success
    result = ip.run_cell(f"%%llm {model} -f json --replace\nA safe f.")
    assert "--replace puts code in the cell" in str(result.error_in_exec)
    assert next_inputs == []


# ---- errors ------------------------------------------------------------------------------


def test_a_failed_cell_is_kept_with_its_source_and_a_short_traceback(
    ip: InteractiveShell, errors: Any
) -> None:
    result = ip.run_cell("def f(x):\n    return 1 / x\nf(0)", store_history=True)
    assert isinstance(result.error_in_exec, ZeroDivisionError)
    count = result.execution_count
    text = str(errors)
    assert text.startswith(f"Cell In[{count}]:\n\n```python\ndef f(x):")
    assert f"  Cell In[{count}], line 3, in <module>\n    f(0)" in text
    assert f"  Cell In[{count}], line 2, in f\n    return 1 / x" in text
    assert text.endswith("ZeroDivisionError: division by zero")
    assert "interactiveshell.py" not in text  # IPython's own frames are cut
    assert errors[count] is errors.latest


def test_usage_errors_are_not_kept_and_the_log_stays_small(
    ip: InteractiveShell, errors: Any
) -> None:
    ip.run_cell("%llm frobnicate", store_history=True)
    assert errors.latest is None
    for i in range(KEPT + 3):
        ip.run_cell(f"raise ValueError({i})", store_history=True)
    assert len(errors) == KEPT
    assert str(errors).endswith(f"ValueError: {KEPT + 2}")


def test_library_frames_are_shortened_and_keys_masked(ip: InteractiveShell, errors: Any) -> None:
    ip.run_cell("import json\njson.loads('{nope')", store_history=True)
    text = str(errors)
    assert 'File "' in text
    assert "json" in text
    assert text.rstrip().splitlines()[-1].startswith("json.decoder.JSONDecodeError")
    key = "sk-" + "a1B2c3D4" * 6
    ip.run_cell(f"raise RuntimeError('bad key {key}')", store_history=True)
    assert key not in str(errors)
    assert "[REDACTED]" in str(errors)


def test_err_in_a_prompt_and_fix_offers_the_code(
    ip: InteractiveShell, fake: FakeLLMServer, model: str, errors: Any, next_inputs: list[Any]
) -> None:
    ip.run_line_magic("llm", f"default {model}")
    fake.add_reply("ok")
    assert ip.run_cell(f"%%llm {model}\nNo error yet: {{Err}}").success
    assert prompt(fake) == "No error yet: {Err}"
    failed = ip.run_cell("def f(x):\n    return 1 / x\nf(0)", store_history=True)
    count = failed.execution_count
    fake.add_reply("ok")
    assert ip.run_cell(f"%%llm\nWhy? {{Err[{count}]}} and {{Err[999]}}").success
    assert f"Why? Cell In[{count}]:" in prompt(fake)
    assert prompt(fake).endswith("ZeroDivisionError: division by zero and {Err[999]}")

    fake.add_reply(FENCED)
    assert ip.run_line_magic("llm", "fix") is None
    sent = prompt(fake)
    assert sent.startswith("This notebook cell failed. Fix it")
    assert "    return 1 / x\nf(0)\n```" in sent
    assert "ZeroDivisionError" in sent
    assert next_inputs == [(CODE, False)]
    # On the tab plain cells continue: a follow-up question sees the fix.
    fake.add_reply("Because x was 0.")
    assert ip.run_cell("%%llm\nWhy did it fail?").success
    history = [m["content"] for m in fake.requests[-1].json["messages"]]
    assert any(m.startswith("This notebook cell failed") for m in history)

    fake.add_reply("x was 0, so 1 / x divided by zero.")
    ip.run_line_magic("llm", f"explain {count}")
    assert prompt(fake).startswith("This notebook cell failed. Explain")
    assert len(next_inputs) == 1  # prose: no new cell


def test_fix_with_nothing_to_fix_is_a_usage_error(ip: InteractiveShell, errors: Any) -> None:
    with pytest.raises(UsageError, match="Nothing to fix: cell 5 raised none"):
        ip.run_line_magic("llm", "fix 5")
    with pytest.raises(UsageError, match="Usage: %llm explain"):
        ip.run_line_magic("llm", "explain last")
