"""What the ``%%llm`` tests share: a keyless endpoint on the fake server, a cell run the
way a user runs it, and the one-line error a cell ended with."""

from __future__ import annotations

import uuid
from typing import Any

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import ipyllm
from ipyllm.testing import FakeLLMServer


def fake_endpoint(fake: FakeLLMServer, prefix: str = "fake", **settings: Any) -> str:
    """A new keyless endpoint on the fake server (``register_endpoint`` ``settings``);
    returns its ``provider:model``."""
    name = f"{prefix}{uuid.uuid4().hex[:6]}"
    ipyllm.register_endpoint(name, fake.base_url("openai"), models=["m"], **settings)
    return f"{name}:m"


def cell(ip: InteractiveShell, line: str, body: str) -> Any:
    """Run a %%llm cell the way a user does; return the execution result."""
    return ip.run_cell(f"%%llm {line}\n{body}")


def usage_error(result: Any) -> str:
    """The message of the UsageError a cell ended with (it must have ended with one)."""
    assert isinstance(result.error_in_exec, UsageError), result.error_in_exec
    return str(result.error_in_exec)
