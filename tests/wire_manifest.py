"""The recorded wire transcripts and what each must decode to."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

WIRE_DIR = Path(__file__).parent / "fixtures" / "wire"
MANIFEST: list[dict[str, Any]] = json.loads((WIRE_DIR / "MANIFEST.json").read_text("utf-8"))

# The manifest's provider families, and the ipyllm provider that speaks each.
FAMILY_PROVIDER = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "openrouter": "openrouter",
    "xai": "xai",
    "vllm": "vllm",
    "minimax": "minimax",
    "zai": "zai",
    "ollama": "ollama",
    "openai_compatible": "openai-compatible",
}
