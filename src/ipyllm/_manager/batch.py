"""``ipyllm.batch``: many independent prompts, answered concurrently, in input order."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from .. import _registry, _runner
from .._errors import LLMError
from .._types import Message, Options, Response, check_options
from .cost import cost_usd


def batch(
    prompts: Iterable[str],
    model: str | None = None,
    *,
    concurrency: int = 8,
    system: str | None = None,
    progress: bool = True,
    **options: Any,
) -> list[Response | LLMError]:
    """Answer every prompt independently, ``concurrency`` at a time.

    Returns one item per prompt, in input order: the :class:`~ipyllm.Response`,
    or the :class:`~ipyllm.LLMError` that prompt failed with (a failure never
    stops the others). Shows a progress bar in notebooks and terminals. The
    provider's rate limit (``manager().set_rate_limit``) applies. Other
    options: ``temperature``, ``max_tokens``, ``api_key``, ``base_url``,
    ``max_retries``, and the limits ``timeout``, ``connect_timeout``,
    ``deadline`` (each prompt's, from when it starts) and ``max_answer_chars``
    (docs/limits.md).
    """
    from .._engine.limits import check_limits
    from .manager import manager

    prompts = list(prompts)
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    provider_name, model_name = _registry.parse_model(model or _registry.default_model())
    provider = _registry.get_provider(
        provider_name,
        options.pop("api_key", None),
        options.pop("base_url", None),
        allow_insecure_http=bool(options.pop("allow_insecure_http", False)),
    )
    max_retries = int(options.pop("max_retries", 2))
    limits = {
        name: options.pop(name, None)
        for name in ("timeout", "connect_timeout", "deadline", "max_answer_chars")
    }
    check_limits("batch()", **limits)
    call = Options(model=model_name, system=system, **options)
    # batch bypasses Tab.send, so the provider's temperature range is checked here.
    check_options(
        call.temperature,
        None,
        max_temperature=provider.spec.max_temperature,
        provider=provider_name,
    )
    gate = manager().limiter_for(provider)
    bar = _progress_bar(len(prompts)) if progress else None

    async def run_all() -> list[Response | LLMError]:
        slots = asyncio.Semaphore(concurrency)

        async def one(prompt: str) -> Response | LLMError:
            messages: list[Message] = [{"role": "user", "content": prompt}]
            async with slots:
                try:
                    response = await provider.query_stream(
                        messages,
                        call,
                        max_retries=max_retries,
                        idle_timeout=limits["timeout"],
                        connect_timeout=limits["connect_timeout"],
                        deadline=limits["deadline"],
                        max_answer_chars=limits["max_answer_chars"],
                        gate=gate,
                    )
                    response.cost = cost_usd(
                        provider_name, model_name, response.tokens_in, response.tokens_out
                    )
                    return response
                except LLMError as err:
                    return err
                finally:
                    if bar is not None:
                        bar.update(1)

        return list(await asyncio.gather(*(one(p) for p in prompts)))

    future = _runner.submit(run_all())
    try:
        return future.result()
    except BaseException:  # KeyboardInterrupt: stop every request still running
        future.cancel()
        raise
    finally:
        if bar is not None:
            bar.close()


def _progress_bar(total: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="ipyllm.batch", unit="prompt")
