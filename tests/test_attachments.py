"""Attachments made from what a prompt may hold (figures, PIL images, ipyllm.Image and
ipyllm.File, objects with _repr_png_), images fitted to limits, and the demo saying
what it received."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import ipyllm
from attachment_samples import NOTES, TINY_PDF, figure, png, size_of
from ipyllm._attachments import split_prompt, to_attachment
from ipyllm._attachments.images import fit_image


def test_a_prompt_list_splits_into_its_text_and_its_attachments() -> None:
    text, attachments = split_prompt(["What does this plot show?", figure(), "Be brief."])
    assert text == "What does this plot show?\n\nBe brief."
    (image,) = attachments
    assert (image.kind, image.mime, image.width, image.height) == ("image", "image/png", 640, 480)
    assert size_of(image.data) == (640, 480)
    assert split_prompt("plain") == ("plain", ())


def test_an_axes_attaches_its_figure_and_a_pil_image_attaches_as_png() -> None:
    from PIL import Image

    fig = figure()
    assert to_attachment(fig.axes[0]).width == 640
    att = to_attachment(Image.new("CMYK", (30, 20)))
    assert (att.mime, att.width, att.height) == ("image/png", 30, 20)


def test_objects_with_repr_png_or_jpeg_are_attached() -> None:
    class Plot:
        def _repr_png_(self) -> bytes:
            return png(12, 8)

    class Photo:
        def _repr_jpeg_(self) -> tuple[bytes, dict[str, str]]:
            from PIL import Image

            out = io.BytesIO()
            Image.new("RGB", (5, 4)).save(out, "JPEG")
            return out.getvalue(), {}

    assert to_attachment(Plot()).describe() == "12×8 PNG"
    assert to_attachment(Photo()).describe() == "5×4 JPEG"


def test_image_and_file_read_paths_and_bytes(tmp_path: Path) -> None:
    (tmp_path / "p.png").write_bytes(png(10, 10))
    (tmp_path / "notes.md").write_text(NOTES, "utf-8")
    (tmp_path / "r.pdf").write_bytes(TINY_PDF)
    assert ipyllm.Image(tmp_path / "p.png").attachment.name == "p.png"
    assert ipyllm.Image(png(3, 2)).attachment.describe() == "3×2 PNG"
    notes = ipyllm.File(str(tmp_path / "notes.md")).attachment
    assert (notes.kind, notes.mime, notes.data.decode()) == ("text", "text/plain", NOTES)
    assert ipyllm.File(tmp_path / "r.pdf").attachment.kind == "pdf"
    assert ipyllm.File(TINY_PDF).attachment.mime == "application/pdf"
    assert ipyllm.File(png(4, 4)).attachment.kind == "image"
    url = ipyllm.Image("https://example.com/cat.jpg").attachment
    assert (url.url, url.data, url.mime) == ("https://example.com/cat.jpg", b"", "image/jpeg")


def test_a_bmp_is_converted_to_png() -> None:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (7, 3)).save(out, "BMP")
    att = ipyllm.Image(out.getvalue()).attachment
    assert (att.mime, size_of(att.data)) == ("image/png", (7, 3))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ipyllm.File(b"\xff\xfe\x00binary"), "neither a PDF, an image nor UTF-8"),
        (lambda: ipyllm.File(b"hello", mime="application/pdf"), "not a PDF"),
        (lambda: ipyllm.Image(b"not an image"), "not an image Pillow can read"),
        (lambda: ipyllm.Image("/no/such/file.png"), "Cannot read"),
        (lambda: to_attachment(b"raw"), r"ipyllm\.Image\(\.\.\.\) for an image"),
        (lambda: to_attachment(object()), "Cannot attach a object"),
    ],
)
def test_what_cannot_be_attached_says_why(make: object, message: str) -> None:
    with pytest.raises(ipyllm.AttachmentError, match=message) as caught:
        make()  # type: ignore[operator]
    assert isinstance(caught.value, ipyllm.ConfigurationError)


def test_fit_image_scales_by_edge_then_by_bytes_and_converts_formats() -> None:
    att = ipyllm.Image(png(3000, 1500)).attachment
    fitted = fit_image(att, 1000, 10_000_000)
    assert (fitted.width, fitted.height, fitted.mime) == (1000, 500, "image/png")
    assert size_of(fitted.data) == (1000, 500)
    assert fit_image(fitted, 1000, 10_000_000) is fitted  # fits: sent as it is
    noisy = ipyllm.Image(png(600, 600, noise=True)).attachment
    assert len(noisy.data) > 1_000_000
    small = fit_image(noisy, 2048, 200_000)
    assert len(small.data) <= 200_000
    assert small.mime == "image/jpeg"
    gif = to_attachment(_gif())
    assert fit_image(gif, 2048, 10**7, frozenset({"image/png"})).mime == "image/png"


def _gif() -> ipyllm.Image:
    from PIL import Image

    out = io.BytesIO()
    Image.new("P", (9, 9)).save(out, "GIF")
    return ipyllm.Image(out.getvalue())


def test_the_demo_says_what_it_received(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IPYLLM_DEMO_DELAY", "0")
    s = ipyllm.Session("demo")
    r = s.ask(["What does this plot show?", figure()])
    assert "I received 1 image (640×480 PNG)." in r.text
    assert "You asked: *What does this plot show?*" in r.text
    notes = ipyllm.File(NOTES.encode(), mime="text/plain")
    r = s.ask(["And these?", ipyllm.File(TINY_PDF), notes, ipyllm.Image(png(8, 6))])
    pdf = f"1 PDF (document.pdf, {len(TINY_PDF)} bytes)"
    assert f"I received {pdf}, 1 text file (document.txt, 2 lines)" in r.text
    assert "and 1 image (8×6 PNG)." in r.text
