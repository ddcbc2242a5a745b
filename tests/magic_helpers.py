"""What the ``%%llm`` tests share: a cell run the way a user runs it, and the one-line
error a cell ended with."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell


def cell(ip: InteractiveShell, line: str, body: str) -> Any:
    """Run a %%llm cell the way a user does; return the execution result."""
    return ip.run_cell(f"%%llm {line}\n{body}")


def usage_error(result: Any) -> str:
    """The message of the UsageError a cell ended with (it must have ended with one)."""
    assert isinstance(result.error_in_exec, UsageError), result.error_in_exec
    return str(result.error_in_exec)
