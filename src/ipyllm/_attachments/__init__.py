"""Attachments: what a prompt may carry besides its text, made into plain
:class:`~ipyllm._types.Attachment` values (``sources``), and images made to fit a
provider's limits (``images``). Knows no provider and no HTTP; Pillow is imported on
first use, never by ``import ipyllm``."""

from .sources import File, Image, PromptInput, split_prompt, to_attachment

__all__ = ["File", "Image", "PromptInput", "split_prompt", "to_attachment"]
