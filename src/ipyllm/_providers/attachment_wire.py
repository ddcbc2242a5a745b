"""Attachments on their way to a provider: refused if the provider cannot take their
kind (:func:`check_attachments`, before anything is sent), images fitted to its limits
(:func:`fitted_messages`), and the encodings every family's shape is built from."""

from __future__ import annotations

import base64
from collections.abc import Iterable

from .._attachments.images import fit_image
from .._errors import AttachmentError
from .._types import Attachment, Message
from .spec import ProviderSpec

_KIND_NAMES = {"image": "images", "pdf": "PDFs", "text": "text files"}


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
    provider cannot take, saying why and what to do instead."""
    for att in attachments:
        reason = refusal(spec, att)
        if reason is None:
            continue
        setting = "attachment_urls=True" if att.kind in spec.attachments else "attachments={...}"
        raise AttachmentError(
            f"Cannot send {att.describe()} to {model}: {reason}. Use a model that takes "
            f"it, or, if this endpoint does, say so with ipyllm.configure({spec.name!r}, "
            f"{setting}).",
            provider=spec.name,
        )


def fitted_messages(spec: ProviderSpec, messages: list[Message]) -> list[Message]:
    """``messages`` with every attachment checked and every image made to fit ``spec``'s
    limits; messages without attachments are passed through as they are."""
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
