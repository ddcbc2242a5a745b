"""What a turn cost in USD, from the prices bundled with ``genai-prices``.

Only the price table shipped inside the installed package is read: nothing
here starts ``genai_prices.UpdatePrices``, so pricing never touches the network.
(If the user starts ``UpdatePrices`` themselves, ``calc_price`` uses the prices
it fetched; that is their choice, and still no request of ours.)
"""

from __future__ import annotations

import functools
import logging

__all__ = ["FREE_PROVIDERS", "GENAI_PRICES_PROVIDER", "cost_usd"]

log = logging.getLogger("ipyllm")

# ipyllm provider name -> genai-prices provider id (see genai_prices/data.py).
# "openai-compatible" is absent on purpose: its endpoint could be anything.
GENAI_PRICES_PROVIDER: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "google",
    "xai": "x-ai",
    "openrouter": "openrouter",
    "fireworks": "fireworks",
    "minimax": "minimax",
    # api.z.ai is genai-prices' "zai"; its "zhipuai" is the mainland
    # open.bigmodel.cn service, with different prices.
    "zai": "zai",
}

# Free to call: the demo is offline, and local servers charge no API fees (the
# electricity and hardware are not ours to price).
FREE_PROVIDERS = frozenset({"demo", "ollama", "lmstudio", "vllm"})


def cost_usd(
    provider: str, model: str, tokens_in: int | None, tokens_out: int | None
) -> float | None:
    """USD for one turn, or None when genai-prices does not know the model.

    Never a guess and never an exception: missing token counts, an unknown
    provider or model, or any failure inside genai-prices all give ``None``.
    The offline demo and local servers cost ``0.0``.
    """
    if provider in FREE_PROVIDERS:
        return 0.0  # whatever the count, so a server that reports no usage is still free
    if tokens_in is None or tokens_out is None or tokens_in < 0 or tokens_out < 0:
        return None
    provider_id = GENAI_PRICES_PROVIDER.get(provider)
    if provider_id is None or not model:
        return None
    try:
        if not _is_priced(provider_id, model):
            return None
        from genai_prices import Usage, calc_price

        usage = Usage(input_tokens=tokens_in, output_tokens=tokens_out)
        price = calc_price(usage, model_ref=model, provider_id=provider_id)
        return float(price.total_price)
    except Exception as exc:  # a price lookup must never break a turn
        log.debug("genai-prices could not price %s:%s: %r", provider, model, exc)
        return None


@functools.lru_cache(maxsize=256)
def _is_priced(provider_id: str, model: str) -> bool:
    """Whether genai-prices has a price for the model (unknown models are not looked up again)."""
    from genai_prices import Usage, calc_price

    try:
        calc_price(Usage(input_tokens=0, output_tokens=0), model_ref=model, provider_id=provider_id)
    except LookupError:
        log.debug("genai-prices has no price for %s model %r", provider_id, model)
        return False
    return True
