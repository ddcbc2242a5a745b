"""Attachments reach each provider family in its documented shape, through the loopback
FakeLLMServer: a real matplotlib figure, a PDF and a text file; oversize images arrive
scaled down; a kind the provider cannot take, a document over its limit and a request
whose attachments add up to more than it takes are refused before any request."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ipyllm
from attachment_samples import NOTES, TINY_PDF, figure, png, size_of
from ipyllm.testing import FakeLLMServer

MODELS = {
    "openai": "openai:gpt-5-mini",
    "anthropic": "anthropic:claude-sonnet-4-5",
    "gemini": "gemini:gemini-2.5-flash",
    "ollama": "ollama:llama3.2",
}
QUESTION = "What does this plot show?"


def session(fake: FakeLLMServer, family: str, **options: Any) -> ipyllm.Session:
    return ipyllm.Session(
        MODELS[family], api_key="sk-test", base_url=fake.base_url(family), **options
    )


def ask(fake: FakeLLMServer, family: str, prompt: Any) -> dict[str, Any]:
    fake.add_reply("It shows sales rising.")
    session(fake, family).ask(prompt)
    body = fake.requests[-1].json
    assert isinstance(body, dict)
    return body


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def docs() -> list[Any]:
    return [ipyllm.File(TINY_PDF), ipyllm.File(NOTES.encode(), mime="text/plain")]


def test_openai_image_url_file_and_text_parts(fake: FakeLLMServer) -> None:
    body = ask(fake, "openai", [QUESTION, figure(), *docs()])
    image, pdf, text, question = body["messages"][-1]["content"]
    assert image["type"] == "image_url"
    assert image["image_url"]["url"].startswith("data:image/png;base64,")
    assert size_of(image["image_url"]["url"]) == (640, 480)
    assert pdf == {
        "type": "file",
        "file": {
            "filename": "document.pdf",
            "file_data": f"data:application/pdf;base64,{b64(TINY_PDF)}",
        },
    }
    assert text == {"type": "text", "text": f'<file name="document.txt">\n{NOTES}\n</file>'}
    assert question == {"type": "text", "text": QUESTION}


def test_anthropic_image_and_document_blocks(fake: FakeLLMServer) -> None:
    body = ask(fake, "anthropic", [QUESTION, figure(), *docs()])
    image, pdf, text, question = body["messages"][-1]["content"]
    assert image["type"] == "image"
    assert image["source"]["type"] == "base64"
    assert image["source"]["media_type"] == "image/png"
    assert size_of(image["source"]["data"]) == (640, 480)
    assert pdf == {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": b64(TINY_PDF)},
        "title": "document.pdf",
    }
    assert text == {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": NOTES},
        "title": "document.txt",
    }
    assert question == {"type": "text", "text": QUESTION}


def test_gemini_inline_data_parts(fake: FakeLLMServer) -> None:
    body = ask(fake, "gemini", [QUESTION, figure(), *docs()])
    image, pdf, text, question = body["contents"][-1]["parts"]
    assert image["inlineData"]["mimeType"] == "image/png"
    assert size_of(image["inlineData"]["data"]) == (640, 480)
    assert pdf == {"inlineData": {"mimeType": "application/pdf", "data": b64(TINY_PDF)}}
    assert text == {"inlineData": {"mimeType": "text/plain", "data": b64(NOTES.encode())}}
    assert question == {"text": QUESTION}


def test_ollama_images_on_the_message(fake: FakeLLMServer) -> None:
    body = ask(fake, "ollama", [QUESTION, figure()])
    message = body["messages"][-1]
    assert set(message) == {"role", "content", "images"}
    assert message["content"] == QUESTION
    (image,) = message["images"]
    assert size_of(image) == (640, 480)


def _sent_images(family: str, body: dict[str, Any]) -> list[str]:
    if family == "openai":
        return [p["image_url"]["url"] for p in body["messages"][-1]["content"][:-1]]
    if family == "anthropic":
        return [b["source"]["data"] for b in body["messages"][-1]["content"][:-1]]
    if family == "gemini":
        return [p["inlineData"]["data"] for p in body["contents"][-1]["parts"][:-1]]
    return list(body["messages"][-1]["images"])


# Each family's long-edge limit (catalog.py gives the sources).
EDGES = {"openai": 2048, "anthropic": 1568, "gemini": 3072, "ollama": 2048}


@pytest.mark.parametrize("family", list(MODELS))
def test_oversize_images_arrive_scaled_down(fake: FakeLLMServer, family: str) -> None:
    wide = ipyllm.Image(png(4096, 1024))
    body = ask(fake, family, ["Read this.", wide])
    (image,) = _sent_images(family, body)
    edge = EDGES[family]
    assert size_of(image) == (edge, edge // 4)


def test_an_image_over_the_byte_limit_arrives_as_a_smaller_jpeg(fake: FakeLLMServer) -> None:
    noisy = ipyllm.Image(png(1500, 1500, noise=True))  # under 1568 px, ~6.7 MB
    assert len(noisy.attachment.data) > 3_750_000
    body = ask(fake, "anthropic", ["Read this.", noisy])
    block = body["messages"][-1]["content"][0]
    assert block["source"]["media_type"] == "image/jpeg"
    assert len(base64.b64decode(block["source"]["data"])) <= 3_750_000


@pytest.mark.parametrize(
    ("family", "attachment", "message"),
    [
        ("ollama", lambda: ipyllm.File(TINY_PDF), "does not take PDFs"),
        ("ollama", lambda: ipyllm.File(NOTES.encode()), "does not take text files"),
        ("gemini", lambda: ipyllm.Image("https://example.com/a.png"), "by URL"),
        ("ollama", lambda: ipyllm.Image("https://example.com/a.png"), "by URL"),
    ],
)
def test_kinds_a_provider_cannot_take_are_refused_before_any_request(
    fake: FakeLLMServer, family: str, attachment: Any, message: str
) -> None:
    s = session(fake, family)
    with pytest.raises(ipyllm.AttachmentError, match=message) as caught:
        s.ask(["Read this.", attachment()])
    assert "ipyllm.configure(" in str(caught.value)
    assert len(fake.requests) == 0
    assert s.tab.turns == []  # nothing recorded either


# The families that take PDFs and text files by default.
DOC_FAMILIES = ("openai", "anthropic", "gemini")
DOC_NAMES = {"pdf": ("report.pdf", "PDF"), "text": ("notes.txt", "text file")}


def _pdf(size: int) -> bytes:
    """A PDF of exactly ``size`` bytes: the tiny one, padded after its end."""
    return TINY_PDF + b"\n" * (size - len(TINY_PDF))


def _document(tmp_path: Path, kind: str, size: int) -> ipyllm.File:
    name = DOC_NAMES[kind][0]
    (tmp_path / name).write_bytes(_pdf(size) if kind == "pdf" else b"x" * size)
    return ipyllm.File(tmp_path / name)


def _sent_document(family: str, body: dict[str, Any]) -> bytes:
    """The first attachment's bytes as they arrived (a text part keeps its framing)."""
    if family == "openai":
        part = body["messages"][-1]["content"][0]
        if part["type"] == "text":
            return str(part["text"]).encode()
        return base64.b64decode(part["file"]["file_data"].partition(",")[2])
    if family == "anthropic":
        source = body["messages"][-1]["content"][0]["source"]
        data = source["data"]
        return data.encode() if source["type"] == "text" else base64.b64decode(data)
    return base64.b64decode(body["contents"][-1]["parts"][0]["inlineData"]["data"])


@pytest.mark.usefixtures("restore_provider_settings")
@pytest.mark.parametrize("kind", ["pdf", "text"])
@pytest.mark.parametrize("family", DOC_FAMILIES)
def test_a_document_over_the_limit_is_refused_before_any_request(
    fake: FakeLLMServer, family: str, kind: str, tmp_path: Path
) -> None:
    ipyllm.configure(family, max_document_bytes=1000)
    s = session(fake, family)
    with pytest.raises(ipyllm.AttachmentError) as caught:
        s.ask(["Summarise it.", _document(tmp_path, kind, 1001)])
    message = str(caught.value)
    name, label = DOC_NAMES[kind]
    assert f"Cannot send the {label} {name} to {family}" in message
    assert "it is 1,001 bytes" in message
    assert f"({family}) takes documents of up to 1,000 bytes" in message
    assert "Send a smaller file" in message
    assert ("split the PDF" in message) == (kind == "pdf")
    assert "into the prompt" in message
    assert caught.value.provider == family
    assert len(fake.requests) == 0
    assert s.tab.turns == []


@pytest.mark.usefixtures("restore_provider_settings")
@pytest.mark.parametrize("kind", ["pdf", "text"])
@pytest.mark.parametrize("family", DOC_FAMILIES)
def test_a_document_at_the_limit_goes(
    fake: FakeLLMServer, family: str, kind: str, tmp_path: Path
) -> None:
    ipyllm.configure(family, max_document_bytes=1000)
    body = ask(fake, family, ["Summarise it.", _document(tmp_path, kind, 1000)])
    sent = _sent_document(family, body)
    if kind == "pdf" or family != "openai":
        assert sent == (_pdf(1000) if kind == "pdf" else b"x" * 1000)
    else:  # a text part: the file inside <file> tags
        assert b"x" * 1000 in sent


def test_the_catalog_limit_refuses_a_pdf_one_byte_over(fake: FakeLLMServer) -> None:
    from ipyllm import _registry

    limit = _registry.effective_spec("anthropic").max_document_bytes
    assert limit == 24_000_000  # 32 MB per request, base64 included (catalog.py)
    s = session(fake, "anthropic")
    with pytest.raises(ipyllm.AttachmentError, match=r"up to 24\.0 MB \(24,000,000 bytes\)"):
        s.ask(["Read it.", ipyllm.File(_pdf(limit + 1))])
    assert len(fake.requests) == 0


def test_the_request_total_counts_the_historys_attachments(
    fake: FakeLLMServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import dataclasses

    from ipyllm import _registry

    row = _registry._rows["gemini"]
    assert row.max_request_attachment_bytes == 75_000_000  # 100 MB as base64
    small = dataclasses.replace(row, max_request_attachment_bytes=2500)
    monkeypatch.setitem(_registry._rows, "gemini", small)
    s = session(fake, "gemini")
    fake.add_reply("A short report.")
    s.ask(["Read it.", _document(tmp_path, "pdf", 1500)])
    with pytest.raises(ipyllm.AttachmentError) as caught:
        s.ask(["And these notes?", _document(tmp_path, "text", 1500)])
    message = str(caught.value)
    assert "together they are 3,000 bytes" in message
    assert "up to 2,500 bytes in one request" in message
    assert "Google Gemini (gemini)" in message
    assert len(fake.requests) == 1  # the first prompt's; the second never left


def test_an_image_url_goes_as_a_url_where_the_provider_fetches_it(fake: FakeLLMServer) -> None:
    url = "https://example.com/chart.png"
    body = ask(fake, "openai", ["What is this?", ipyllm.Image(url)])
    assert body["messages"][-1]["content"][0] == {"type": "image_url", "image_url": {"url": url}}
    body = ask(fake, "anthropic", ["What is this?", ipyllm.Image(url)])
    source = body["messages"][-1]["content"][0]["source"]
    assert source == {"type": "url", "url": url}


@pytest.mark.parametrize("family", list(MODELS))
def test_later_prompts_send_earlier_attachments_again(fake: FakeLLMServer, family: str) -> None:
    s = session(fake, family)
    fake.add_reply("A rising line.")
    s.ask([QUESTION, figure()])
    fake.add_reply("Yes.")
    s.ask("Is it rising?")
    body = fake.requests[-1].json
    if family == "gemini":
        first = body["contents"][0]["parts"]
        assert size_of(first[0]["inlineData"]["data"]) == (640, 480)
    elif family == "anthropic":
        assert size_of(body["messages"][0]["content"][0]["source"]["data"]) == (640, 480)
    elif family == "openai":
        assert size_of(body["messages"][0]["content"][0]["image_url"]["url"]) == (640, 480)
    else:
        assert size_of(body["messages"][0]["images"][0]) == (640, 480)
    assert s.messages[0]["attachments"][0].width == 640
    assert "attachments" not in s.messages[2]


def test_a_model_that_cannot_take_the_historys_attachments_is_refused(
    fake: FakeLLMServer,
) -> None:
    s = session(fake, "openai")
    fake.add_reply("A one-page PDF.")
    s.ask(["What is this?", ipyllm.File(TINY_PDF)])
    s.tab.set_model("ollama:llama3.2")
    with pytest.raises(ipyllm.AttachmentError, match="does not take PDFs"):
        s.tab.send("Summarise it.", model="ollama:llama3.2")
    assert len(fake.requests) == 1


@pytest.fixture
def endpoint(fake: FakeLLMServer) -> Iterator[str]:
    from ipyllm import _registry

    yield "attach-test"
    with _registry._lock:
        _registry._rows.pop("attach-test", None)
        _registry._overrides.pop("attach-test", None)


def test_an_endpoint_says_what_it_takes(fake: FakeLLMServer, endpoint: str) -> None:
    ipyllm.register_endpoint(endpoint, fake.base_url("openai"))
    s = ipyllm.Session(f"{endpoint}:m")
    with pytest.raises(ipyllm.AttachmentError, match="does not take PDFs"):
        s.ask(["Read it.", ipyllm.File(TINY_PDF)])
    ipyllm.register_endpoint(endpoint, fake.base_url("openai"), attachments={"image", "pdf"})
    fake.add_reply("ok")
    ipyllm.Session(f"{endpoint}:m").ask(["Read it.", ipyllm.File(TINY_PDF)])
    assert fake.requests[-1].json["messages"][-1]["content"][0]["type"] == "file"
    with pytest.raises(ipyllm.InvalidOptionError, match="unknown attachment kind 'video'"):
        ipyllm.register_endpoint(endpoint, fake.base_url("openai"), attachments={"video"})


def test_an_endpoint_says_how_large_a_document_it_takes(fake: FakeLLMServer, endpoint: str) -> None:
    url = fake.base_url("openai")
    ipyllm.register_endpoint(endpoint, url, max_document_bytes=500)
    notes = ipyllm.File(b"y" * 501, mime="text/plain")
    with pytest.raises(ipyllm.AttachmentError, match="takes documents of up to 500 bytes"):
        ipyllm.Session(f"{endpoint}:m").ask(["Read it.", notes])
    assert len(fake.requests) == 0
    ipyllm.configure(endpoint, max_document_bytes=501)
    fake.add_reply("ok")
    ipyllm.Session(f"{endpoint}:m").ask(["Read it.", notes])
    assert len(fake.requests) == 1
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ipyllm.InvalidOptionError, match="positive whole number"):
            ipyllm.configure(endpoint, max_document_bytes=bad)  # type: ignore[arg-type]
        with pytest.raises(ipyllm.InvalidOptionError, match="positive whole number"):
            ipyllm.register_endpoint(endpoint, url, max_document_bytes=bad)  # type: ignore[arg-type]


@pytest.mark.usefixtures("restore_provider_settings")
def test_configure_widens_or_narrows_a_provider(fake: FakeLLMServer) -> None:
    ipyllm.configure("openai", attachments={"text"})
    with pytest.raises(ipyllm.AttachmentError, match="does not take images"):
        session(fake, "openai").ask(["Look.", figure()])
    ipyllm.configure("gemini", attachment_urls=True)
    with pytest.raises(ipyllm.AttachmentError, match="does not take images"):
        session(fake, "openai").ask(["Look.", ipyllm.Image("https://example.com/a.png")])
    assert len(fake.requests) == 0


@pytest.mark.parametrize("family", list(MODELS))
def test_stream_astream_and_tab_send_take_attachments(fake: FakeLLMServer, family: str) -> None:
    import asyncio

    s = session(fake, family)
    fake.add_reply("one")
    assert "".join(s.stream([QUESTION, figure()])) == "one"

    async def collect() -> str:
        return "".join([piece async for piece in s.astream(["Again.", figure()])])

    fake.add_reply("two")
    assert asyncio.run(collect()) == "two"
    fake.add_reply("three")
    handle = s.tab.send(["Third.", figure()], model=s.model, options=s.options)
    assert handle.result().text == "three"
    assert len(fake.requests) == 3


@pytest.mark.usefixtures("restore_provider_settings")
def test_ollama_takes_a_text_file_in_the_text_once_configured(fake: FakeLLMServer) -> None:
    import ipyllm

    ipyllm.configure("ollama", attachments={"image", "text"})
    s = ipyllm.Session("ollama:m", base_url=fake.base_url("ollama"), max_retries=0)
    s.ask(["Summarise.", ipyllm.File(b"alpha beta", mime="text/plain")])
    message = fake.requests[-1].json["messages"][-1]
    assert "images" not in message
    assert "alpha beta" in message["content"]
    assert message["content"].endswith("Summarise.")
