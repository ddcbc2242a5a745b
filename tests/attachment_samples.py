"""Attachments for tests: a real matplotlib figure (Agg), a tiny valid PDF, a text file,
and images made with Pillow."""

from __future__ import annotations

import base64
import io
import random
from typing import Any

# The smallest valid one-page PDF (header, catalog, pages, page, xref, trailer).
TINY_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"xref\n0 4\n0000000000 65535 f \n0000000009 00000 n \n0000000052 00000 n \n"
    b"0000000101 00000 n \ntrailer<</Size 4/Root 1 0 R>>\nstartxref\n164\n%%EOF\n"
)
NOTES = "line one\nline two: ünïcode ✓\n"


def figure() -> Any:
    """A real matplotlib figure, 640×480 at its default size and dpi."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure()  # no pyplot: nothing global to close
    ax = fig.subplots()
    ax.plot([0, 1, 2, 3], [1, 3, 2, 4], label="sales")
    ax.set_title("Quarterly sales")
    ax.legend()
    return fig


def png(width: int, height: int, *, noise: bool = False) -> bytes:
    """A PNG of that size: a gradient, or random noise (which compresses badly)."""
    from PIL import Image

    if noise:
        rng = random.Random(7)
        image = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    else:
        image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def size_of(data: bytes | str) -> tuple[int, int]:
    """The pixel size of an image, from its bytes, base64 or data URI."""
    from PIL import Image

    if isinstance(data, str):
        data = base64.b64decode(data.partition(",")[2] if data.startswith("data:") else data)
    with Image.open(io.BytesIO(data)) as image:
        return image.size
