"""Attachments on their way to a provider: refused if the provider cannot take their
kind or a document is larger than it takes (:func:`check_attachments`, before anything
is sent), images fitted to its limits and the request's total checked
(:func:`fitted_messages`), and the encodings every family's shape is built from."""

from __future__ import annotations

import base64
from collections.abc import Iterable

from .._attachments.images import fit_image
from .._errors import AttachmentError
from .._types import Attachment, Message
from .spec import ProviderSpec

_KIND_NAMES = {"image": "images", "pdf": "PDFs", "text": "text files"}
_KIND_NAME = {"image": "image", "pdf": "PDF", "text": "text file"}


def refusal(spec: ProviderSpec, att: Attachment) -> str | None:
    """Why ``spec``'s provider cannot take ``att``, or ``None`` if it can."""
    if att.kind not in spec.attachments:
        takes = ", ".join(_KIND_NAMES[k] for k in sorted(spec.attachments)) or "no attachments"
        return (
            f"{spec.label} ({spec.name}) does not take {_KIND_NAMES[att.kind]} (it takes: {takes})"
        )
    if att.url is not None and not spec.attachment_urls:
        return (
            f"{spec.label} ({spec.name}) does not fetch images by URL, and ipyllm "
            "downloads nothing on its own: save the image and pass ipyllm.Image(path)"
        )
    return None


def check_attachments(spec: ProviderSpec, attachments: Iterable[Attachment], model: str) -> None:
    """Raise :class:`~ipyllm.AttachmentError` for the first attachment ``spec``'s
    provider cannot take (its kind, an image URL, or a document over
    ``spec.max_document_bytes``), saying why and what to do instead."""
    for att in attachments:
        reason = refusal(spec, att)
        if reason is None:
            _check_document_size(spec, att, model)
            continue
        setting = "attachment_urls=True" if att.kind in spec.attachments else "attachments={...}"
        raise AttachmentError(
            f"Cannot send {att.describe()} to {model}: {reason}. Use a model that takes "
            f"it, or, if this endpoint does, say so with ipyllm.configure({spec.name!r}, "
            f"{setting}).",
            provider=spec.name,
        )


def _check_document_size(spec: ProviderSpec, att: Attachment, model: str) -> None:
    """A PDF or text file larger than the provider takes, refused: unlike an image,
    a document cannot be made smaller without losing what it says."""
    if att.kind not in ("pdf", "text") or len(att.data) <= spec.max_document_bytes:
        return
    kind = _KIND_NAME[att.kind]
    what = f"the {kind} {att.name}" if att.name else f"a {kind}"
    fix = (
        "Send a smaller file, split the PDF into parts and send them one at a time, or "
        "paste the pages you need into the prompt as text"
        if att.kind == "pdf"
        else "Send a smaller file, or paste the part you need into the prompt"
    )
    raise AttachmentError(
        f"Cannot send {what} to {model}: it is {size_text(len(att.data))}, and "
        f"{spec.label} ({spec.name}) takes documents of up to "
        f"{size_text(spec.max_document_bytes)}. {fix}.",
        provider=spec.name,
    )


def size_text(n: int) -> str:
    """A byte count for a message: ``"40.0 MB (40,000,000 bytes)"``, ``"120 bytes"``."""
    return f"{n / 1_000_000:.1f} MB ({n:,} bytes)" if n >= 1_000_000 else f"{n:,} bytes"


def _check_request_total(spec: ProviderSpec, messages: list[Message]) -> None:
    """The sum of every attachment one request carries (images as fitted; an image by
    URL weighs nothing), refused over ``spec.max_request_attachment_bytes``."""
    limit = spec.max_request_attachment_bytes
    if limit is None:
        return
    total = sum(len(a.data) for m in messages for a in m.get("attachments") or ())
    if total <= limit:
        return
    raise AttachmentError(
        f"Cannot send this conversation's attachments to {spec.label} ({spec.name}): "
        f"together they are {size_text(total)}, and it takes up to {size_text(limit)} "
        "in one request (earlier prompts' attachments go again with every prompt). Send "
        "fewer or smaller files, split a PDF, paste text into the prompt, or start a new "
        "conversation.",
        provider=spec.name,
    )


def fitted_messages(spec: ProviderSpec, messages: list[Message]) -> list[Message]:
    """``messages`` with every attachment checked and every image made to fit ``spec``'s
    limits, their sum checked against the request's; messages without attachments are
    passed through as they are."""
    out: list[Message] = []
    for m in messages:
        attachments = m.get("attachments")
        if not attachments:
            out.append(m)
            continue
        check_attachments(spec, attachments, spec.name)
        fitted = [
            fit_image(a, spec.max_image_edge, spec.max_image_bytes, spec.image_mimes)
            for a in attachments
        ]
        out.append({**m, "attachments": fitted})
    _check_request_total(spec, out)
    return out


def b64(att: Attachment) -> str:
    """The attachment's bytes in base64."""
    return base64.b64encode(att.data).decode("ascii")


def data_uri(att: Attachment) -> str:
    """``data:<mime>;base64,…``, or the image's URL if it was given by URL."""
    return att.url if att.url is not None else f"data:{att.mime};base64,{b64(att)}"


def text_of(att: Attachment) -> str:
    """A text file's contents (UTF-8, checked when it was attached)."""
    return att.data.decode("utf-8")


def framed_text(att: Attachment) -> str:
    """A text file as a text part beside the prompt, where a family has no text
    documents: its name and contents inside ``<file>`` tags, so the model can tell
    the file from the question."""
    return f'<file name="{filename(att)}">\n{text_of(att)}\n</file>'


def filename(att: Attachment) -> str:
    """The attachment's file name, or a generic one for bytes given without a name."""
    if att.name:
        return att.name
    return {"pdf": "document.pdf", "text": "document.txt"}.get(att.kind, "image")
