"""One round of a turn's tool calls: approve, run, and what goes back to the model.

The runner calls :func:`run_calls` when an answer asks for tools. Every call is
checked first (a tool of that name, arguments that fit its parameters), then
approved (``approve``: ``"auto"``, ``"ask"`` or a function), then run: the
coroutine tools of the round together on the worker loop, the plain functions
one after another, in the model's order, on a thread of their own so that no
other tab's stream waits for them. A tool that raises does not end the turn:
its exception's type and message go back to the model as the call's result,
and the model may try again. Each call's changes are published to the tab's
subscribers (:class:`~ipyllm.events.TabToolCall`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._types import Message, Response, ToolCall, WireToolCall

if TYPE_CHECKING:
    from .._tools import Tool
    from .options import Approval, RequestOptions
    from .tab import TurnWriter

log = logging.getLogger("ipyllm")

DECLINED = "The user declined to run this tool call."


async def run_calls(
    writer: TurnWriter, calls: list[ToolCall], options: RequestOptions
) -> list[Message]:
    """Run ``calls`` (one answer's) as ``options`` say; the ``tool`` messages for them."""
    from .._tools import error_text

    tools = {tool.name: tool for tool in options.tool_list}
    approve: Approval = options.approve or "auto"
    first = writer.add_calls(calls)
    ready: list[tuple[int, ToolCall, Tool]] = []
    for i, call in enumerate(calls):
        index = first + i
        tool = tools.get(call.name or "")
        if tool is None:
            _fail(writer, index, call, _unknown_tool(call.name, tools))
            continue
        try:
            call.args = tool.parse_args(call.arguments)
        except ValueError as exc:
            _fail(writer, index, call, error_text(exc))
            continue
        if not await _approved(writer, index, call, approve):
            call.status = "denied"
            writer.call_changed(index)
            continue
        ready.append((index, call, tool))
    in_order = [item for item in ready if not item[2].is_async]
    await asyncio.gather(
        *(_run_one(writer, *item) for item in ready if item[2].is_async),
        _run_in_order(writer, in_order),
    )
    return [tool_message(call) for call in calls]


def assistant_message(response: Response) -> Message:
    """The assistant message that asked for ``response.tool_calls``, as sent back."""
    calls: list[WireToolCall] = []
    for call in response.tool_calls:
        wire: WireToolCall = {"id": call.id, "name": call.name or "", "arguments": call.arguments}
        if call.signature:
            wire["signature"] = call.signature
        calls.append(wire)
    message: Message = {"role": "assistant", "content": response.text, "tool_calls": calls}
    if response.reasoning and response.reasoning_signature:
        message["reasoning"] = response.reasoning
        message["reasoning_signature"] = response.reasoning_signature
    return message


def tool_message(call: ToolCall) -> Message:
    """What the model is told of ``call``: its result, its error, or that it was declined."""
    from .._tools import result_text

    message: Message = {
        "role": "tool",
        "tool_call_id": call.id,
        "name": call.name or "",
        "content": "",
    }
    if call.status == "done":
        message["content"] = result_text(call.result)
    else:
        message["content"] = call.error or DECLINED
        message["is_error"] = True
    return message


def skip_calls(writer: TurnWriter, calls: list[ToolCall], why: str) -> None:
    """Record ``calls`` as not run (``max_tool_rounds`` reached), with the reason."""
    first = writer.add_calls(calls)
    for i, call in enumerate(calls):
        call.status = "skipped"
        call.error = why
        writer.call_changed(first + i)


async def _approved(writer: TurnWriter, index: int, call: ToolCall, approve: Approval) -> bool:
    if approve == "auto":
        return True
    if approve == "ask":
        return await writer.await_approval(index)
    decide: Callable[[ToolCall], bool] = approve
    try:
        return bool(await asyncio.to_thread(decide, call))
    except Exception as exc:  # the user's function failed: do not run the call
        from .._tools import error_text

        log.warning("approve(%s) raised %s; the call is not run", call.name, error_text(exc))
        call.error = f"The approval function raised {error_text(exc)}; the call was not run."
        return False


async def _run_in_order(writer: TurnWriter, items: list[tuple[int, ToolCall, Tool]]) -> None:
    for item in items:
        await _run_one(writer, *item)


async def _run_one(writer: TurnWriter, index: int, call: ToolCall, tool: Tool) -> None:
    from .._tools import error_text

    call.status = "running"
    writer.call_changed(index)
    args: dict[str, Any] = call.args or {}
    started = time.perf_counter()
    try:
        if tool.is_async:
            call.result = await tool.acall(args)
        else:
            call.result = await asyncio.to_thread(tool.call, args)
        call.status = "done"
    except asyncio.CancelledError:
        call.status = "requested"  # stopped before it returned
        raise
    except Exception as exc:  # the model reads what went wrong and may try again
        call.error = error_text(exc)
        call.status = "error"
    finally:
        call.elapsed_s = time.perf_counter() - started
        writer.call_changed(index)


def _fail(writer: TurnWriter, index: int, call: ToolCall, error: str) -> None:
    call.error = error
    call.status = "error"
    writer.call_changed(index)


def _unknown_tool(name: str | None, tools: dict[str, Tool]) -> str:
    offered = ", ".join(sorted(tools)) or "none"
    return f"There is no tool named {name!r}; the tools are: {offered}."
