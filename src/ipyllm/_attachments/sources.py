"""What a prompt may hold besides text, made into :class:`~ipyllm._types.Attachment`:
``ipyllm.Image``, ``ipyllm.File``, a matplotlib figure, a PIL image, and any object
with ``_repr_png_`` or ``_repr_jpeg_``.

Everything is read when the prompt is given (a figure drawn on later is not the one
sent), and nothing is fetched: an image URL goes to the provider as a URL, for the
providers that fetch URLs themselves, and is refused by the others.
"""

from __future__ import annotations

import base64
import io
import mimetypes
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._errors import AttachmentError
from .._types import Attachment
from .images import from_pil, image_attachment, sniff_image

PromptInput = str | Sequence[Any]
"""A prompt: its text, or a list of text pieces and things to attach, in any order."""

_WHAT_FITS = (
    "a str, a matplotlib Figure, a PIL image, ipyllm.Image(path | url | bytes), "
    "ipyllm.File(path | bytes) or an object with _repr_png_ / _repr_jpeg_"
)


class Image:
    """An image to send with a prompt: a file's path, an ``http(s)`` URL, or bytes.

    PNG, JPEG, GIF and WebP go as they are (other formats Pillow reads are converted to
    PNG); an image larger than the provider takes is scaled down before sending. A URL
    is never downloaded by ipyllm: it goes as a URL to providers that fetch images
    themselves (OpenAI, Anthropic, OpenRouter, xAI), and the others refuse it before
    sending, saying so. ``mime`` overrides the type told from the bytes.
    """

    __slots__ = ("attachment",)

    def __init__(self, source: str | os.PathLike[str] | bytes, mime: str | None = None) -> None:
        if isinstance(source, str) and source.startswith(("http://", "https://")):
            guessed = mime or mimetypes.guess_type(source)[0] or "image/*"
            self.attachment = Attachment("image", guessed, url=source)
            return
        data, name = _read(source)
        self.attachment = image_attachment(data, mime, name)

    def __repr__(self) -> str:
        return f"ipyllm.Image({self.attachment.describe()})"


class File:
    """A document to send with a prompt: a PDF or a text file (UTF-8: code, CSV,
    Markdown, JSON…), by path or as bytes; an image given here is sent as an image.

    The kind is told from ``mime`` if given, else from the bytes and the file's suffix.
    Providers take PDFs as documents; a text file goes as a document where the family
    has text documents (Anthropic, Gemini) and as text beside the prompt elsewhere.
    """

    __slots__ = ("attachment",)

    def __init__(self, source: str | os.PathLike[str] | bytes, mime: str | None = None) -> None:
        data, name = _read(source)
        self.attachment = _file_attachment(data, mime, name)

    def __repr__(self) -> str:
        return f"ipyllm.File({self.attachment.describe()})"


def split_prompt(prompt: PromptInput) -> tuple[str, tuple[Attachment, ...]]:
    """The prompt's text (its ``str`` pieces, apart by a blank line) and its attachments,
    in the order given; :class:`~ipyllm.AttachmentError` for anything else in it."""
    if isinstance(prompt, str):
        return prompt, ()
    if not isinstance(prompt, Sequence):
        # A lone figure or image: the user meant a list of one.
        prompt = [prompt]
    texts: list[str] = []
    attachments: list[Attachment] = []
    for part in prompt:
        if isinstance(part, str):
            texts.append(part)
        else:
            attachments.append(to_attachment(part))
    return "\n\n".join(texts), tuple(attachments)


def to_attachment(obj: Any) -> Attachment:
    """``obj`` as an attachment (see the module docstring for what may be attached)."""
    if isinstance(obj, Attachment):
        return obj
    if isinstance(obj, Image | File):
        return obj.attachment
    if isinstance(obj, bytes | bytearray | Path):
        raise AttachmentError(
            f"Say what the {type(obj).__name__} is: ipyllm.Image(...) for an image, "
            "ipyllm.File(...) for a PDF or a text file."
        )
    module = type(obj).__module__ or ""
    if module.startswith("matplotlib.") and hasattr(obj, "savefig"):
        return _figure(obj)
    if module.startswith("matplotlib.") and hasattr(getattr(obj, "figure", None), "savefig"):
        return _figure(obj.figure)  # an Axes: its whole figure
    if module.startswith("PIL.") and hasattr(obj, "save") and hasattr(obj, "size"):
        return from_pil(obj)
    for method in ("_repr_png_", "_repr_jpeg_"):
        render = getattr(obj, method, None)
        if callable(render):
            data = _repr_bytes(render())
            if data:
                return image_attachment(data)
    raise AttachmentError(f"Cannot attach a {type(obj).__qualname__}: a prompt takes {_WHAT_FITS}.")


def _figure(figure: Any) -> Attachment:
    # As the figure shows inline (its own size and dpi), without cropping it.
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return image_attachment(out.getvalue(), "image/png")


def _repr_bytes(value: Any) -> bytes | None:
    if isinstance(value, tuple):  # (data, metadata), as IPython allows
        value = value[0] if value else None
    if isinstance(value, str):  # base64 text, as some objects return it
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            return None
    return bytes(value) if isinstance(value, bytes | bytearray) else None


def _read(source: str | os.PathLike[str] | bytes) -> tuple[bytes, str | None]:
    if isinstance(source, bytes | bytearray):
        return bytes(source), None
    path = Path(os.fspath(source)).expanduser()
    try:
        return path.read_bytes(), path.name
    except OSError as err:
        raise AttachmentError(f"Cannot read {str(path)!r}: {err.strerror or err}.") from None


def _file_attachment(data: bytes, mime: str | None, name: str | None) -> Attachment:
    guessed = mime or (mimetypes.guess_type(name)[0] if name else None)
    if guessed == "application/pdf" or (guessed is None and data.startswith(b"%PDF-")):
        if not data.startswith(b"%PDF-"):
            raise AttachmentError(f"{name or 'The file'} is not a PDF (no %PDF- header).")
        return Attachment("pdf", "application/pdf", data, name=name)
    if (guessed or "").startswith("image/") or (guessed is None and sniff_image(data)):
        return image_attachment(data, None, name)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise AttachmentError(
            f"{name or 'The file'} ({guessed or 'unknown type'}) is neither a PDF, an image "
            "nor UTF-8 text: ipyllm sends those three. Convert it (a PDF, or text) first."
        ) from None
    # Text documents go as text/plain everywhere (Anthropic's text source takes no
    # other); the file's name says what kind of text it is.
    return Attachment("text", "text/plain", data, name=name)
