"""Attachments refused before a turn starts: each model the turn may use (fallbacks
included) must take every attachment that goes with it, the history's too."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .. import _registry
from .._errors import LLMError
from .._providers.attachment_wire import check_attachments
from .._types import Attachment, Message


def check_attachments_for(models: Sequence[str], messages: Sequence[Message]) -> None:
    """Raise :class:`~ipyllm.AttachmentError` if a model of ``models`` cannot take an
    attachment of ``messages`` (a conversation continued with a model that takes less
    than the one that began it, too)."""
    attachments = _unique(a for m in messages for a in m.get("attachments") or ())
    if not attachments:
        return
    for model in models:
        try:
            provider = _registry.parse_model(model)[0]
            spec = _registry.effective_spec(provider)
        except LLMError:
            continue  # an unknown model fails its turn, with its own message
        check_attachments(spec, attachments, model)


def _unique(attachments: Iterable[Attachment]) -> list[Attachment]:
    # The same image sent with every prompt is checked once (by identity: cheap).
    seen: dict[int, Attachment] = {}
    for att in attachments:
        seen.setdefault(id(att), att)
    return list(seen.values())
