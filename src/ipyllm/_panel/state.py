"""What the panel's traits hold: tabs and providers as plain JSON, never an answer's text.

Answer texts travel as custom messages (snapshots and deltas): a trait is
resent whole on every change, so keeping answers in one would resend the
conversation at every finished turn.
"""

from __future__ import annotations

from typing import Any

from .. import _registry
from .._manager.tab import Tab
from .._manager.turn import TurnInfo
from .._types import Attachment, ToolCall

Json = dict[str, Any]


def turn_info(turn: TurnInfo) -> Json:
    """One turn's metadata, as the ``tabs`` trait carries it."""
    return {
        "index": turn.index,
        "query": turn.query,
        "model": turn.model,
        "status": turn.status,
        "tokens_in": turn.tokens_in,
        "tokens_out": turn.tokens_out,
        "cost": turn.cost,
        "ttft_s": turn.ttft_s,
        "elapsed_s": turn.elapsed_s,
        "error": turn.error,
        "text_length": turn.text_length,
        "reasoning_length": turn.reasoning_length,
        "answer_from": turn.answer_from,
        "structured": turn.structured,
        "tool_calls": [call_info(i, c) for i, c in enumerate(turn.tool_calls)],
        "attachments": [attachment_info(a) for a in turn.attachments],
    }


def attachment_info(att: Attachment) -> Json:
    """What a turn shows of an attachment: never its bytes, nor a URL to load."""
    return {
        "kind": att.kind,
        "mime": att.mime,
        "name": att.name,
        "size": len(att.data),
        "width": att.width,
        "height": att.height,
    }


# A card shows this much of a call's arguments and result; the rest stays in the kernel
# (tab.turns[i].tool_calls), since the trait is resent whole on every change.
CARD_CHARS = 4000


def call_info(index: int, call: ToolCall) -> Json:
    """One tool call, as a turn's card shows it (arguments and result clipped)."""
    result = None
    if call.status == "done":
        from .._tools import result_text

        result = result_text(call.result, limit=CARD_CHARS)
    return tool_call_json(
        index,
        call.id,
        call.name or "",
        call.arguments,
        call.status,
        result,
        call.error,
        call.elapsed_s,
    )


def tool_call_json(
    index: int,
    id: str | None,
    name: str,
    arguments: str,
    status: str,
    result: str | None,
    error: str | None,
    elapsed_s: float | None,
) -> Json:
    """The JSON of a tool call in ``TurnInfo.tool_calls`` and in ``tool_call`` messages."""
    return {
        "index": index,
        "id": id,
        "name": name,
        "arguments": _clip(arguments),
        "status": status,
        "result": None if result is None else _clip(result),
        "error": None if error is None else _clip(error),
        "elapsed_s": elapsed_s,
    }


def _clip(text: str) -> str:
    if len(text) <= CARD_CHARS:
        return text
    return f"{text[:CARD_CHARS]}… [{len(text) - CARD_CHARS:,} more characters]"


def tab_info(tab: Tab) -> Json:
    """One tab, as the ``tabs`` trait carries it (from one consistent :meth:`Tab.info`)."""
    info = tab.info()
    return {
        "id": info.id,
        "title": info.title,
        "model": info.model,
        "status": info.status,
        "max_history": info.max_history,
        "turns": [turn_info(t) for t in info.turns],
    }


def alias_infos() -> dict[str, list[Json]]:
    """The model aliases (built-in and the user's), by the provider each points at: for
    each, ``name`` (what to pick: ``set_model``/``new_tab`` take it), ``model`` (the
    ``provider:model`` it stands for), ``label`` (``"fast → openai:gpt-5-mini"``) and
    ``builtin`` (whether it is one of ipyllm's, not the user's)."""
    from .._aliases import BUILTIN_ALIASES, user_aliases

    user = user_aliases()
    out: dict[str, list[Json]] = {}
    for name, target in {**BUILTIN_ALIASES, **user}.items():
        provider = target.partition(":")[0]
        out.setdefault(provider, []).append(
            {
                "name": name,
                "model": target,
                "label": f"{name} → {target}",
                "builtin": name not in user,
            }
        )
    return {p: sorted(rows, key=lambda r: str(r["name"])) for p, rows in out.items()}


def provider_infos() -> list[Json]:
    """Every provider with its models (what ``configure`` set, else the catalog's), the
    aliases that point at it (:func:`alias_infos`) and key status, for the model picker
    and settings."""
    from ..keys import keyring_problem, provider_status

    aliases = alias_infos()
    problem = keyring_problem() or ""  # once for all: "" when the keyring works
    out = []
    for name in _registry.provider_names():
        spec = _registry.effective_spec(name)
        models = list(spec.models)
        if spec.default_model and spec.default_model not in models:
            models.insert(0, spec.default_model)
        out.append(
            {
                "name": name,
                "label": spec.label,
                "models": models,
                "default_model": spec.default_model,
                # The code of ipyllm.keys.KeyStatus: the words of %llm keys are its .text.
                "key": provider_status(name, problem).value,
                "local": spec.local,
                "aliases": aliases.get(name, []),
            }
        )
    return out
