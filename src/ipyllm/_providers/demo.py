"""The offline ``demo`` provider: a deterministic answer, streamed at a realistic pace.

It speaks the real OpenAI-style SSE wire format through an in-process httpx
transport, so everything above the socket (decoding, sessions, views) runs
exactly as it does against a real provider, with no key and no network.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx

# Seconds between pieces: about 40 words a second, like a fast hosted model.
DEFAULT_DELAY_S = 0.025


def demo_answer(prompt: str, received: list[tuple[str, str]] | None = None) -> str:
    """The demo's answer to ``prompt``: always the same for the same prompt. ``received``
    lists the attachments that came with it, as ``(kind, description)``."""
    shown = " ".join(prompt.split())
    if len(shown) > 120:
        shown = shown[:117] + "..."
    got = f"{received_text(received)}\n\n" if received else ""
    return (
        "**This is the ipyllm offline demo** — no model was called and no key was used.\n\n"
        f"{got}"
        f"You asked: *{shown}*\n\n"
        "A real provider would answer here. To use one, set its key once:\n\n"
        "```python\n"
        'ipyllm.keys.set("anthropic")   # asks for the key, stores it in the OS keyring\n'
        's = ipyllm.Session("anthropic:claude-sonnet-4-5")\n'
        "```\n\n"
        "This answer streamed in word-sized pieces, as a real model's does."
    )


def received_text(received: list[tuple[str, str]]) -> str:
    """``"I received 1 image (640×480 PNG) and 1 PDF (a.pdf (2 kB PDF))."``"""
    groups: dict[str, list[str]] = {}
    for kind, description in received:
        groups.setdefault(kind, []).append(description)
    said = [
        f"{len(items)} {kind if len(items) == 1 else kind + 's'} ({', '.join(items)})"
        for kind, items in groups.items()
    ]
    listed = ", ".join(said[:-1]) + " and " + said[-1] if len(said) > 1 else said[0]
    return f"I received {listed}."


def read_content(content: Any) -> tuple[str, list[tuple[str, str]]]:
    """The prompt's text and what came with it, from a Chat Completions ``content``
    (a string, or parts as the OpenAI adapter writes them)."""
    if not isinstance(content, list):
        return str(content or ""), []
    texts: list[str] = []
    received: list[tuple[str, str]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "image_url":
            received.append(("image", _image(str(part["image_url"]["url"]))))
        elif kind == "file":
            file = part["file"]
            size = len(_data(str(file.get("file_data", ""))))
            received.append(("PDF", f"{file.get('filename')}, {size:,} bytes"))
        elif kind == "text" and str(part.get("text", "")).startswith("<file name="):
            head, _, rest = str(part["text"]).partition("\n")
            lines = len(rest.rpartition("\n</file>")[0].splitlines())
            name = head.split('"', 2)[1]
            received.append(("text file", f"{name}, {lines} line{'' if lines == 1 else 's'}"))
        elif kind == "text":
            texts.append(str(part.get("text", "")))
    return "\n\n".join(texts), received


def _data(uri: str) -> bytes:
    import base64

    return base64.b64decode(uri.partition(",")[2]) if uri.startswith("data:") else b""


def _image(url: str) -> str:
    if not url.startswith("data:"):
        return f"at {url}, not fetched"
    from .._attachments.images import image_attachment

    return image_attachment(_data(url)).describe()


def _pieces(text: str) -> list[str]:
    # Word-sized pieces that keep their whitespace, like real token streams.
    return re.findall(r"\s*\S+|\s+", text)


def _frame(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"


class DemoTransport(httpx.AsyncBaseTransport):
    """Answers chat and model-list requests in-process, as an OpenAI-style server would."""

    def __init__(self, delay_s: float | None = None) -> None:
        # None: read IPYLLM_DEMO_DELAY at each request, so it can change in a running kernel.
        self.delay_s = delay_s

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Serve one request."""
        if request.method == "GET" and request.url.path.endswith("/models"):
            return httpx.Response(200, json={"object": "list", "data": [{"id": "demo"}]})
        body = json.loads(await request.aread())
        messages = body.get("messages") or []
        if not messages:
            return httpx.Response(400, json={"error": {"message": "messages must not be empty"}})
        prompt, received = read_content(messages[-1].get("content", ""))
        return httpx.Response(
            200,
            headers={"content-type": "text/event-stream"},
            stream=_DemoStream(demo_answer(prompt, received), body, self._delay()),
        )

    def _delay(self) -> float:
        if self.delay_s is not None:
            return self.delay_s
        return float(os.environ.get("IPYLLM_DEMO_DELAY", DEFAULT_DELAY_S))


class _DemoStream(httpx.AsyncByteStream):
    def __init__(self, answer: str, body: dict[str, Any], delay_s: float) -> None:
        self.answer = answer
        self.body = body
        self.delay_s = delay_s

    async def __aiter__(self) -> AsyncIterator[bytes]:
        pieces = _pieces(self.answer)
        base = {"id": "demo-1", "object": "chat.completion.chunk", "model": "demo"}
        if self.delay_s:  # a hosted model takes a moment before its first token
            await asyncio.sleep(self.delay_s * 12)
        for piece in pieces:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            yield _frame({**base, "choices": [{"index": 0, "delta": {"content": piece}}]})
        yield _frame({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (self.body.get("stream_options") or {}).get("include_usage"):
            prompt_words = sum(
                len(str(m.get("content", "")).split()) for m in self.body["messages"]
            )
            usage = {"prompt_tokens": prompt_words, "completion_tokens": len(pieces)}
            yield _frame({**base, "choices": [], "usage": usage})
        yield b"data: [DONE]\n\n"
