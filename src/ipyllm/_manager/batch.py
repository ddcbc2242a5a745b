"""``ipyllm.batch``: many independent prompts, answered concurrently, in input order."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .. import _registry, _worker
from .._attachments import PromptInput, split_prompt
from .._errors import LLMError, bare
from .._types import Message, Response, user_message
from .attachments import check_attachments_for
from .cost import cost_usd
from .options import RequestOptions, request_options, stream_request

if TYPE_CHECKING:
    from typing import Unpack

    from .options import SendOptions


def batch(
    prompts: Iterable[PromptInput],
    model: str | None = None,
    *,
    concurrency: int = 8,
    progress: bool = True,
    **options: Unpack[SendOptions],
) -> list[Response | LLMError]:
    """Answer every prompt independently, ``concurrency`` at a time.

    A prompt is text, or a list of text and attachments as ``Session.ask`` takes (a
    matplotlib figure, a PIL image, ``ipyllm.Image``, ``ipyllm.File``…). Every prompt
    is read first: something that cannot be attached, or a kind the model cannot take,
    raises :class:`~ipyllm.AttachmentError` before any request is sent.

    Returns one item per prompt, in input order: the :class:`~ipyllm.Response`,
    or the :class:`~ipyllm.LLMError` that prompt failed with (a failure never
    stops the others). Shows a progress bar in notebooks and terminals. The
    provider's rate limit (``manager().set_rate_limit``) applies. The request
    options are ``Tab.send``'s: ``system``, ``temperature``, ``max_tokens``,
    ``extra_body``, ``headers``, ``api_key``, ``base_url``,
    ``allow_insecure_http``, ``max_retries``, and the limits ``timeout``,
    ``connect_timeout``, ``deadline`` (each prompt's, from when it starts) and
    ``max_answer_chars`` (docs/limits.md); ``max_history`` has nothing to cut
    (each prompt goes alone). With ``schema=`` each answer's ``data`` holds the
    validated value, and an answer that does not fit is a
    :class:`~ipyllm.SchemaError` in its place. With ``tools=`` each prompt runs its
    own tool loop (``approve`` may be ``"auto"`` or a function, not ``"ask"``). An
    unknown option is a :class:`TypeError`.
    """
    try:
        return _batch(prompts, model, concurrency, progress, options)
    except LLMError as err:
        raise bare(err) from err.__cause__


def _batch(
    prompts: Iterable[PromptInput],
    model: str | None,
    concurrency: int,
    progress: bool,
    options: SendOptions,
) -> list[Response | LLMError]:
    from .manager import manager

    opts = request_options("batch()", options)
    if opts.tools and opts.approve == "ask":
        raise TypeError(
            "batch() cannot ask before each tool call (nobody would see the question): "
            "use approve='auto' or a function of the ToolCall."
        )
    output = opts.output
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    split = [split_prompt(p) for p in prompts]
    provider_name, model_name = _registry.parse_model(model or _registry.default_model())
    provider = _registry.get_provider(
        provider_name,
        opts.api_key,
        opts.base_url,
        allow_insecure_http=bool(opts.allow_insecure_http),
    )
    # batch bypasses Tab.send, so the provider's temperature range is checked here.
    opts.check_models([f"{provider_name}:{model_name}"])
    messages = [user_message(text, attachments) for text, attachments in split]
    check_attachments_for([f"{provider_name}:{model_name}"], messages)
    gate = manager().limiter_for(provider)
    bar = _progress_bar(len(messages)) if progress else None

    async def run_all() -> list[Response | LLMError]:
        slots = asyncio.Semaphore(concurrency)

        async def one(message: Message) -> Response | LLMError:
            async with slots:
                if opts.tools:
                    prompt = [message["content"], *message.get("attachments", ())]
                    try:
                        return await _with_tools(prompt, f"{provider_name}:{model_name}", opts)
                    except LLMError as err:
                        return err
                    finally:
                        if bar is not None:
                            bar.update(1)
                try:
                    response = await stream_request(
                        provider, [message], model_name, opts, gate=gate
                    )
                    response.cost = cost_usd(
                        provider_name, model_name, response.tokens_in, response.tokens_out
                    )
                    if output is not None:
                        output.fill(response)
                    return response
                except LLMError as err:
                    return err
                finally:
                    if bar is not None:
                        bar.update(1)

        return list(await asyncio.gather(*(one(m) for m in messages)))

    future = _worker.submit(run_all())
    try:
        return future.result()
    except BaseException:  # KeyboardInterrupt: stop every request still running
        future.cancel()
        raise
    finally:
        if bar is not None:
            bar.close()


async def _with_tools(prompt: PromptInput, model: str, opts: RequestOptions) -> Response:
    """One prompt whose model may call tools: a turn of a tab of its own, which no view
    lists and the history does not keep, so the tool loop is the one every front door
    uses."""
    from .manager import manager
    from .tab import Tab

    tab = Tab(manager(), "batch", model, recorded=False)
    handle = tab.send(prompt, options=opts)
    await asyncio.wrap_future(handle.future)
    return handle.result()


def _progress_bar(total: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="ipyllm.batch", unit="prompt")
