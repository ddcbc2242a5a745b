"""A keyless OpenAI-compatible endpoint on the shared fake server, under a fresh name."""

from __future__ import annotations

import uuid
from typing import Any

import ipyllm
from ipyllm.testing import FakeLLMServer


def fake_endpoint(fake: FakeLLMServer, prefix: str = "fake", **settings: Any) -> str:
    """A new keyless endpoint on the fake server (``register_endpoint`` ``settings``);
    returns its ``provider:model``."""
    name = f"{prefix}{uuid.uuid4().hex[:6]}"
    ipyllm.register_endpoint(name, fake.base_url("openai"), models=["m"], **settings)
    return f"{name}:m"
