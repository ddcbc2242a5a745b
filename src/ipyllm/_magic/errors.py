"""The notebook's recent errors, kept for ``%llm fix``, ``%llm explain`` and ``{Err}``.

``%load_ext ipyllm`` registers :meth:`ErrorLog.record` as a ``post_run_cell``
hook. A cell that succeeds costs one attribute check; a cell that fails is
kept as a :class:`PastError`: its source, the exception's type and message,
and the traceback cut to what the user can act on (IPython's own frames
dropped, long runs of library frames shortened). Only the last
:data:`KEPT` errors are kept.

The texts are the user's own (paths, values), sent to the model they chose;
keys in them are masked (:func:`ipyllm._errors.redact`) whenever one is
turned into text, so a key set after the error is masked too.
"""

from __future__ import annotations

import os
import sys
import traceback
from dataclasses import dataclass
from typing import Any

from .describe import clip

KEPT = 10
"""How many past errors the log keeps."""

_MESSAGE_CHARS = 2000  # an exception's message (a KeyError of a huge key…)
_LIBRARY_RUN = 3  # consecutive frames outside the cells shown before shortening
_IPYTHON_DIRS = tuple(
    os.path.dirname(m.__file__ or "") + os.sep
    for m in (sys.modules.get("IPython"), sys.modules.get("ipykernel"))
    if m is not None
)


@dataclass(frozen=True)
class PastError:
    """One failed cell: what ran, and what it raised."""

    count: int | None  # the cell's execution count (``In[count]``); None if not stored
    source: str  # the cell as typed
    error: str  # "Traceback … ZeroDivisionError: division by zero"

    @property
    def label(self) -> str:
        """``In[3]``, or ``the last cell`` when IPython did not number it."""
        return f"In[{self.count}]" if self.count is not None else "the last cell"

    def __str__(self) -> str:
        from .._errors import redact

        return redact(f"Cell {self.label}:\n\n{_fence(self.source, 'python')}\n\n{self.error}")


class ErrorLog(dict[int, PastError]):
    """The last :data:`KEPT` errors by execution count; ``str()`` is the latest.

    A dict, so ``{Err[3]}`` in a prompt finds cell 3's error with the built-in
    lookup that interpolation allows (:mod:`.interpolate`).
    """

    def __init__(self, shell: Any = None) -> None:
        super().__init__()
        self.shell = shell
        self.latest: PastError | None = None

    def __str__(self) -> str:
        return str(self.latest) if self.latest is not None else ""

    def record(self, result: Any) -> None:
        """The ``post_run_cell`` hook: keep the cell's error, if it raised one."""
        exc = result.error_in_exec or result.error_before_exec
        if exc is None:
            return
        from IPython.core.error import UsageError

        # A magic's own UsageError is a message to the user, not a bug to fix.
        if isinstance(exc, UsageError | KeyboardInterrupt):
            return
        info = getattr(result, "info", None)
        self.add(
            PastError(
                count=result.execution_count,
                source=getattr(info, "raw_cell", "") or "",
                error=format_error(exc, self.shell),
            )
        )

    def add(self, error: PastError) -> None:
        """Keep ``error`` as the latest, dropping the oldest past :data:`KEPT`."""
        self.latest = error
        if error.count is not None:
            self[error.count] = error
            while len(self) > KEPT:
                del self[min(self)]

    def find(self, count: int | None = None) -> PastError | None:
        """Cell ``count``'s error, or the latest; else the one IPython kept in
        ``sys.last_value`` (an error from before the extension loaded)."""
        if count is not None:
            return self.get(count)
        if self.latest is not None:
            return self.latest
        last = getattr(sys, "last_value", None)
        if isinstance(last, BaseException):
            return PastError(count=None, source="", error=format_error(last, self.shell))
        return None


def format_error(exc: BaseException, shell: Any = None) -> str:
    """The traceback of ``exc`` without IPython's frames, cells named ``Cell In[3]``."""
    if isinstance(exc, SyntaxError):  # no frames: the line and a caret say it all
        return "".join(traceback.format_exception_only(exc)).rstrip()
    frames = list(traceback.extract_tb(exc.__traceback__))
    while frames and frames[0].filename.startswith(_IPYTHON_DIRS):
        frames.pop(0)
    lines = ["Traceback (most recent call last):"]
    run: list[str] = []  # consecutive frames outside the cells

    def flush() -> None:
        if len(run) > _LIBRARY_RUN:
            hidden = len(run) - 2
            run[1:-1] = [f"  … {hidden} more frames in libraries …"]
        lines.extend(run)
        run.clear()

    for frame in frames:
        cell = _cell_name(frame.filename, shell)
        where = f"Cell {cell}" if cell else f'File "{frame.filename}"'
        text = f"  {where}, line {frame.lineno}, in {frame.name}"
        if frame.line:
            text += f"\n    {frame.line.strip()}"
        if cell:
            flush()
            lines.append(text)
        else:
            run.append(text)
    flush()
    message = "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
    lines.append(clip(message, _MESSAGE_CHARS))
    cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    if cause is not None:
        first = "".join(traceback.format_exception_only(type(cause), cause)).strip()
        lines.append(f"(raised while handling {clip(first, 500)})")
    return "\n".join(lines)


def _cell_name(filename: str, shell: Any) -> str | None:
    """``In[3]`` for the file IPython compiled cell 3 into, else None."""
    compiler = getattr(shell, "compile", None)
    name = getattr(compiler, "format_code_name", None)
    label = name(filename) if name is not None else None
    return label[1] if label else None


def _fence(code: str, language: str) -> str:
    from .._untrusted import code_fence

    return code_fence(code, language)
