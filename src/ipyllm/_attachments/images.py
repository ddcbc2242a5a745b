"""Images as providers take them: the format told from the bytes, the pixel size, and a
copy made to fit a provider's limits (long edge, bytes, formats). Pillow does the
decoding and resampling, imported on first use."""

from __future__ import annotations

import dataclasses
import functools
import io
from typing import TYPE_CHECKING

from .._errors import AttachmentError
from .._types import Attachment

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

# The formats every vision API takes in one form or another; anything else is converted.
IMAGE_MIMES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
# Below this long edge a too-large image is not shrunk further: it is refused instead.
_SMALLEST_EDGE = 64
_JPEG_QUALITY = 85


def sniff_image(data: bytes) -> str | None:
    """The MIME type of an image by its first bytes, or ``None`` if it is none we send."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def image_attachment(data: bytes, mime: str | None = None, name: str | None = None) -> Attachment:
    """An image attachment from its bytes, its size read (and the bytes checked) by
    Pillow. A format other than PNG, JPEG, GIF or WebP is converted to PNG."""
    sniffed = sniff_image(data)
    image = _open(data, name)
    if sniffed is None:  # BMP, TIFF…: decodable, but not what providers take
        image, data, sniffed = _converted_png(image)
    return Attachment(
        "image", mime or sniffed, data, name=name, width=image.width, height=image.height
    )


def from_pil(image: PILImage) -> Attachment:
    """A PIL image, encoded as PNG (lossless; a later fit may choose JPEG to save bytes)."""
    _, data, mime = _converted_png(image)
    return Attachment("image", mime, data, width=image.width, height=image.height)


def fit_image(
    att: Attachment, max_edge: int, max_bytes: int, mimes: frozenset[str] = IMAGE_MIMES
) -> Attachment:
    """``att`` if it fits (long edge, bytes and format), else a copy that does: scaled
    down (aspect kept, Lanczos), in a format of ``mimes``, re-encoded as JPEG if still
    too many bytes. Cached by value, since a conversation sends its images again with
    every prompt. An image by URL is the provider's to fetch, and is left as it is."""
    if att.kind != "image" or att.url is not None:
        return att
    fits_edge = att.width is not None and att.height is not None
    fits_edge = fits_edge and max(att.width or 0, att.height or 0) <= max_edge
    if fits_edge and len(att.data) <= max_bytes and att.mime in mimes:
        return att
    return _fitted(att, max_edge, max_bytes, mimes)


@functools.lru_cache(maxsize=32)
def _fitted(att: Attachment, max_edge: int, max_bytes: int, mimes: frozenset[str]) -> Attachment:
    from PIL import Image as PIL

    image = _open(att.data, att.name)
    image.seek(0)  # an animated GIF or WebP: its first frame
    if max(image.size) > max_edge:
        image = image.copy()
        image.thumbnail((max_edge, max_edge), PIL.Resampling.LANCZOS)
    fmt = att.mime.rpartition("/")[2].upper()
    if att.mime not in mimes or fmt not in ("PNG", "JPEG", "WEBP"):
        fmt = "PNG" if "image/png" in mimes else "JPEG"
    data = _encode(image, fmt)
    # Still too large: JPEG, then smaller, until it fits (a photo-like PNG shrinks ~10×).
    while len(data) > max_bytes:
        if fmt != "JPEG" and "image/jpeg" in mimes:
            fmt = "JPEG"
        else:
            width, height = (int(side * 0.75) for side in image.size)
            if max(width, height) < _SMALLEST_EDGE:
                raise AttachmentError(
                    f"The image {att.describe()} cannot be made smaller than "
                    f"{max_bytes:,} bytes; send a smaller one."
                )
            image = image.resize((width, height), PIL.Resampling.LANCZOS)
        data = _encode(image, fmt)
    mime = f"image/{fmt.lower()}"
    return dataclasses.replace(att, mime=mime, data=data, width=image.width, height=image.height)


def _open(data: bytes, name: str | None) -> PILImage:
    from PIL import Image as PIL
    from PIL import UnidentifiedImageError

    try:
        return PIL.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError) as err:
        what = name or f"{len(data):,} bytes"
        raise AttachmentError(f"{what} is not an image Pillow can read ({err}).") from None


def _converted_png(image: PILImage) -> tuple[PILImage, bytes, str]:
    if image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
        image = image.convert("RGBA" if "A" in image.mode else "RGB")  # CMYK, YCbCr…
    return image, _encode(image, "PNG"), "image/png"


def _encode(image: PILImage, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        if image.mode in ("RGBA", "LA", "P"):
            # JPEG has no alpha: flatten onto white, as the image shows on a page.
            rgba = image.convert("RGBA")
            flat = _white(rgba.size)
            flat.paste(rgba, mask=rgba.getchannel("A"))
            image = flat
        elif image.mode != "RGB" and image.mode != "L":
            image = image.convert("RGB")
        image.save(out, "JPEG", quality=_JPEG_QUALITY, optimize=True)
    else:
        image.save(out, fmt, optimize=True) if fmt == "PNG" else image.save(out, fmt)
    return out.getvalue()


def _white(size: tuple[int, int]) -> PILImage:
    from PIL import Image as PIL

    return PIL.new("RGB", size, (255, 255, 255))
