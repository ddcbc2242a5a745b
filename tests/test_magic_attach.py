"""``%%llm -a NAME_OR_PATH`` through a real IPython shell against the loopback fake
server: notebook values, the last output, files; unknown names and missing files are
errors before any request."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

import ipyllm
from attachment_samples import NOTES, TINY_PDF, figure, png
from fake_endpoints import fake_endpoint
from ipyllm._attachments import to_attachment
from ipyllm.testing import FakeLLMServer, Reply
from magic_helpers import usage_error

pytestmark = pytest.mark.usefixtures("restore_provider_settings")


@pytest.fixture
def model(fake: FakeLLMServer) -> str:
    return fake_endpoint(fake, attachments={"image", "pdf", "text"})


@pytest.fixture
def ns(ip: InteractiveShell) -> Iterator[dict[str, Any]]:
    names = {"fig": figure(), "count": 42}
    ip.user_ns.update(names)
    yield ip.user_ns
    for name in names:
        ip.user_ns.pop(name, None)


def parts(fake: FakeLLMServer) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = fake.requests[-1].json["messages"][-1]["content"]
    return content


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def test_a_figure_and_files_go_with_the_prompt(
    ip: InteractiveShell, ns: dict[str, Any], fake: FakeLLMServer, model: str, tmp_path: Path
) -> None:
    chart = tmp_path / "chart.png"
    chart.write_bytes(png(40, 30))
    (tmp_path / "notes.md").write_text(NOTES, encoding="utf-8")
    (tmp_path / "r.pdf").write_bytes(TINY_PDF)
    fake.add_reply(Reply("a rising line"))
    line = f"{model} -a fig -a {chart} -a {tmp_path / 'notes.md'} --attach {tmp_path / 'r.pdf'}"
    result = ip.run_cell(f"%%llm {line}\nWhat do these show?")
    assert result.error_in_exec is None, result.error_in_exec
    sent = parts(fake)
    assert [p["type"] for p in sent] == ["image_url", "image_url", "text", "file", "text"]
    assert sent[0]["image_url"]["url"] == data_uri(to_attachment(ns["fig"]).data)
    assert sent[1]["image_url"]["url"] == data_uri(chart.read_bytes())
    assert "notes.md" in sent[2]["text"]
    assert NOTES in sent[2]["text"]
    assert sent[3]["file"]["filename"] == "r.pdf"
    assert sent[-1] == {"type": "text", "text": "What do these show?"}
    turn = ipyllm.manager().tab("llm").last
    assert turn is not None
    assert len(turn.attachments) == 4


def test_underscore_attaches_the_last_output(
    ip: InteractiveShell, fake: FakeLLMServer, model: str
) -> None:
    ip.user_ns["make_image"] = lambda: __import__("PIL.Image").Image.new("RGB", (20, 10), "red")
    try:
        ip.run_cell("make_image()", store_history=True)
        fake.add_reply(Reply("red"))
        result = ip.run_cell(f"%%llm {model} -a _\nWhat colour?")
        assert result.error_in_exec is None, result.error_in_exec
        (image, text) = parts(fake)
        assert image["image_url"]["url"].startswith("data:image/png;base64,")
        assert text["text"] == "What colour?"
    finally:
        ip.user_ns.pop("make_image", None)


def test_a_str_variable_naming_a_file_attaches_that_file(
    ip: InteractiveShell, fake: FakeLLMServer, model: str, tmp_path: Path
) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(TINY_PDF)
    ip.user_ns["report_path"] = str(path)
    try:
        fake.add_reply(Reply("ok"))
        result = ip.run_cell(f"%%llm {model} -a report_path\nSummarise.")
        assert result.error_in_exec is None, result.error_in_exec
        assert parts(fake)[0]["type"] == "file"
    finally:
        ip.user_ns.pop("report_path", None)


@pytest.mark.parametrize(
    ("attach", "expected"),
    [
        ("fgi", "-a: no variable or file named fgi (did you mean fig?)"),
        ("missing/plot.png", "-a: no variable or file named missing/plot.png;"),
        ("count", "-a count: count cannot be attached: Cannot attach a int"),
    ],
)
def test_unknown_names_missing_files_and_wrong_values_send_nothing(
    ip: InteractiveShell,
    ns: dict[str, Any],
    fake: FakeLLMServer,
    model: str,
    attach: str,
    expected: str,
) -> None:
    result = ip.run_cell(f"%%llm {model} -a fig -a {attach}\nHello?")
    message = usage_error(result)
    assert expected in message, message
    assert "\n" not in message
    assert fake.requests == []
    assert ipyllm.manager().tabs == []


class _Picture:
    """Anything that displays as a PNG (IPython's rich display)."""

    def _repr_png_(self) -> bytes:
        return png(12, 8)


def test_a_figure_in_braces_is_attached_and_named_in_the_text(
    ip: InteractiveShell, ns: dict[str, Any], fake: FakeLLMServer, model: str
) -> None:
    ns["ax"] = ns["fig"].axes[0]
    ns["pic"] = _Picture()
    try:
        fake.add_reply(Reply("ok"))
        body = "Compare {fig} with {pic} and {ax}; {fig} again, {count} points."
        result = ip.run_cell(f"%%llm {model}\n{body}")
        assert result.error_in_exec is None, result.error_in_exec
        sent = parts(fake)
        # fig once (the axes are the same figure, attached once), pic, then the text.
        assert [p["type"] for p in sent] == ["image_url", "image_url", "text"]
        assert sent[0]["image_url"]["url"] == data_uri(to_attachment(ns["fig"]).data)
        assert sent[1]["image_url"]["url"] == data_uri(png(12, 8))
        assert sent[2]["text"] == (
            "Compare [image: fig] with [image: pic] and [image: ax]; [image: fig] again, 42 points."
        )
    finally:
        for name in ("ax", "pic"):
            ns.pop(name, None)


def test_a_figure_in_braces_and_in_a_flag_goes_once(
    ip: InteractiveShell, ns: dict[str, Any], fake: FakeLLMServer, model: str
) -> None:
    fake.add_reply(Reply("ok"))
    result = ip.run_cell(f"%%llm {model} -a fig\nWhat does {{fig}} show?")
    assert result.error_in_exec is None, result.error_in_exec
    sent = parts(fake)
    assert [p["type"] for p in sent] == ["image_url", "text"]
    assert sent[1]["text"] == "What does [image: fig] show?"


def test_data_and_unrenderable_values_stay_text(
    ip: InteractiveShell, fake: FakeLLMServer, model: str
) -> None:
    import pandas as pd

    class Blank:
        def _repr_png_(self) -> None:  # nothing to show: pasted as its str()
            return None

        def __str__(self) -> str:
            return "blank"

    ip.user_ns.update(df=pd.DataFrame({"a": [1, 2]}), blank=Blank())
    try:
        fake.add_reply(Reply("ok"))
        result = ip.run_cell(f"%%llm {model}\n{{df}} {{blank}}")
        assert result.error_in_exec is None, result.error_in_exec
        content = fake.requests[-1].json["messages"][-1]["content"]
        assert isinstance(content, str)
        assert "DataFrame `df`" in content
        assert content.endswith(" blank")
    finally:
        for name in ("df", "blank"):
            ip.user_ns.pop(name, None)


def test_no_interpolate_keeps_the_braces_and_attaches_nothing(
    ip: InteractiveShell, ns: dict[str, Any], fake: FakeLLMServer, model: str
) -> None:
    fake.add_reply(Reply("ok"))
    result = ip.run_cell(f"%%llm {model} --no-interpolate\nWhat is {{fig}}?")
    assert result.error_in_exec is None, result.error_in_exec
    assert fake.requests[-1].json["messages"][-1]["content"] == "What is {fig}?"
