"""``LLMMagics``: the ``%%llm`` cell magic and the ``%llm`` line commands.

Loading it imports only IPython's magic machinery; HTTP, the keyring, widgets
and SQLite load when a cell first needs them.
"""

from __future__ import annotations

import shlex
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, kwds, magic_arguments
from traitlets import Int, Unicode, observe

from .describe import DEFAULT_MAX_CHARS
from .interpolate import interpolate
from .lookup import split_names
from .state import APPROVALS, FORMATS, CellOptions, MagicState

_HELP = """Ask an LLM from a cell, or manage keys, models and tabs.

Cell magic, the cell body is the prompt::

    %%llm [options] [MODEL]
    Explain {result} in one sentence.

MODEL is ``provider:model`` (``anthropic:claude-sonnet-4-5``) or a provider
name for its default model. By default every ``%%llm`` cell continues one
conversation (the tab ``llm``); ``-t NAME`` uses another tab (shared with the
chat panel and ``Session(tab=NAME)``), ``--new`` starts afresh.

``{name}``, ``{obj.attr}``, ``{items[0]}``, ``{d['key']}``, ``{In[3]}`` and
``{Out[3]}`` are replaced by the values of existing notebook variables (a pandas or
polars frame or series, or a numpy array, by a short description: shape, dtypes,
nulls, first and last rows; every value cut at ``--value-chars``, 8000 by
default); ``{Err}`` is the last error's cell and traceback, ``{Err[3]}`` cell 3's; any
other braces (JSON, code, ``{}``) stay as typed; ``{{name}}`` keeps ``{name}``
literally. Nothing is evaluated and no code of the objects runs: ``.attr`` is
read only from the object's own ``__dict__`` or slots (never a property or
``__getattr__``), ``[...]`` only from a dict, list or tuple (never an overridden
``__getitem__``); only ``str()`` of the value found is called, and if it
raises, the braces stay and a one-line warning says so. The options line of
``%%llm`` and the ``%llm`` commands get the same treatment, word by word,
instead of IPython's ``{expression}`` and ``$name`` expansion (which runs
code); ``--no-interpolate`` turns it off for the cell and its options line.

Tools and structured output::

    %%llm --tools get_weather,plot [--approve auto] [--max-tool-rounds N]
    What is the weather in Paris? Plot the week.

    %%llm --schema City -o city
    The largest city of Japan.

Attachments::

    %%llm -a fig -a notes.pdf
    What does this plot show, given the notes?

``-a`` (repeatable) attaches a notebook value (a matplotlib figure, a PIL image,
``ipyllm.Image`` / ``ipyllm.File``, anything with ``_repr_png_``), ``_`` for the last
output, or a file's path (images sent as images); an unknown name or a missing file
is an error before anything is sent.

``--tools`` names functions defined in the notebook that the model may call
(their signatures and docstrings tell it how). Each call waits for you, in the
cell's live view (Run / Deny) or, in a terminal, at an ``input()`` prompt, unless
``--approve auto``; the cell keeps every call, its arguments and its result.
``--schema`` names a pydantic model, dataclass, TypedDict or JSON Schema dict:
the answer must fit it, the cell shows it as JSON, and ``-o`` gets the validated
value.

Code into cells::

    %%llm -f code [--replace]
    A function that parses ISO dates.

``-f code`` offers the answer's code as a new cell below (``--replace``: in
place of this cell), as well as showing it; ``-o NAME`` still stores it.

Line commands (``%llm help`` lists them all, ``%llm help COMMAND`` one in full)::

    %llm help [COMMAND]        this list, or one command in full
    %llm keys                  providers and where their key comes from
    %llm keys set PROVIDER     store a key in the OS keyring (hidden prompt)
    %llm keys delete PROVIDER  remove it
    %llm models [PROVIDER]     known models (and the live list of PROVIDER)
    %llm providers             base URLs, key status, local servers reachable
    %llm default [MODEL]       show or set the model of new %%llm tabs
    %llm config PROVIDER base_url=URL [default_model=M] [models=a,b]
    %llm tabs                  open tabs (* = the one %%llm continues)
    %llm stop [TAB]            stop an answer (all, with no TAB)
    %llm usage                 tokens and cost by tab and model
    %llm history [SEARCH]      past turns, newest first
    %llm chat                  open the chat panel
    %llm fix [N]               send the last error (cell N's) and its cell; the
                               fixed code comes as the next cell
    %llm explain [N]           the same, answered in prose

The default model is also ``%config LLMMagics.default_model = "…"`` (or
``c.LLMMagics.default_model`` in ipython_config.py), then ``IPYLLM_MODEL``;
the cap of one ``{value}`` is ``%config LLMMagics.value_chars = 20000``.
"""


def _split(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"Cannot parse {line!r}: {exc} (check the quotes).") from None


def _keeps_braces(words: list[str]) -> bool:
    # --no-interpolate, or an abbreviation argparse would accept ("--no" is unambiguous).
    return any(len(w) >= 4 and "--no-interpolate".startswith(w) for w in words)


@magics_class
class LLMMagics(Magics):
    """The ``%%llm`` / ``%llm`` magics; ``%load_ext ipyllm`` registers them."""

    default_model = Unicode(
        None, allow_none=True, help="Model of new %%llm tabs, as 'provider:model'."
    ).tag(config=True)

    value_chars = Int(
        DEFAULT_MAX_CHARS,
        help="The most characters one {value} puts into a %%llm prompt (a cut says so).",
    ).tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        # Before super().__init__: loading ipython_config.py there sets default_model,
        # whose observer writes to the state.
        self.state = MagicState()
        super().__init__(shell=shell, **kwargs)
        self.state.default_model = self.default_model
        self.state.value_chars = self.value_chars

    @observe("default_model")
    def _default_model_changed(self, change: dict[str, Any]) -> None:
        self.state.default_model = change["new"]

    @observe("value_chars")
    def _value_chars_changed(self, change: dict[str, Any]) -> None:
        self.state.value_chars = change["new"]

    @no_var_expand  # IPython would evaluate {expressions} in the line: see _words
    @magic_arguments()
    # IPython prints the usage after its own "%": the cell form, then the line form.
    @kwds(usage="%%llm [options] [MODEL]\n  %%llm COMMAND [ARGS]  (%%llm help: the commands)")
    @argument(
        "model",
        nargs="?",
        metavar="MODEL",
        help="provider:model, or a provider for its default model",
    )
    @argument("-t", "--tab", help="continue this tab (created if new)")
    @argument("--new", action="store_true", help="start a fresh default tab")
    @argument("-c", "--context", help="other tabs to include as context: TAB[,TAB…]")
    @argument("-s", "--system", help="system prompt")
    @argument("-T", "--temperature", type=float, help="sampling temperature")
    @argument("-n", "--max-tokens", type=int, help="most output tokens")
    @argument(
        "-H", "--max-history", type=int, help="earlier turns of the tab sent along (default: all)"
    )
    @argument("--base-url", help="send to this base URL (an OpenAI-compatible proxy, …)")
    @argument("--timeout", type=float, help="seconds of silence allowed between chunks (300)")
    @argument("--connect-timeout", type=float, help="seconds allowed to connect (15)")
    @argument("--deadline", type=float, help="seconds for the whole answer, retries included (600)")
    @argument(
        "--max-answer-chars",
        type=int,
        help="characters of text + reasoning kept; the answer stops there (8388608)",
    )
    @argument(
        "-f",
        "--format",
        choices=FORMATS,
        help="how to show the answer; code and json also shape what -o receives "
        "(default: markdown; json with --schema)",
    )
    @argument(
        "-o",
        "--output",
        help="store the Response (code: the code; json: the value; --schema: the data)",
    )
    @argument(
        "-a",
        "--attach",
        action="append",
        default=[],
        metavar="NAME_OR_PATH",
        help="attach a notebook value (a figure, an image, ipyllm.Image / File), _ for the "
        "last output, or a file's path; repeatable",
    )
    @argument(
        "--tools",
        metavar="NAME[,NAME…]",
        help="functions of the notebook the model may call",
    )
    @argument(
        "--approve",
        choices=APPROVALS,
        default=APPROVALS[0],
        help="ask: each tool call waits for Run / Deny in the live view (input() in a "
        "terminal); auto: every call runs (default: ask)",
    )
    @argument(
        "--max-tool-rounds",
        type=int,
        metavar="N",
        help="rounds of tool calls one answer may make (10)",
    )
    @argument(
        "--schema",
        metavar="NAME",
        help="a class (pydantic model, dataclass, TypedDict) or JSON Schema dict of the "
        "notebook the answer must fit; -o gets the validated data",
    )
    @argument(
        "--replace",
        action="store_true",
        help="with -f code: the code replaces this cell (default: a new cell below)",
    )
    @argument(
        "--value-chars",
        type=int,
        metavar="N",
        help="the most characters one {value} puts into the prompt (8000)",
    )
    @argument("--bg", action="store_true", help="return at once; the answer keeps streaming")
    @argument("--no-interpolate", action="store_true", help="send {braces} as typed")
    @line_cell_magic
    def llm(self, line: str, cell: str | None = None) -> Any:
        words = _split(line)
        if cell is None:
            return self._command(self._words(words))
        if not _keeps_braces(words):
            words = self._words(words)
        # shlex, not IPython's parse_argstring: that one keeps the quotes in -s "Be brief."
        args = self.llm.parser.parse_args(words)
        if args.schema and args.format in ("code", "html"):
            raise UsageError(
                f"--schema answers in JSON: use -f json (the default with --schema), "
                f"markdown or text, not -f {args.format}."
            )
        if args.replace and args.format not in (None, "code"):
            raise UsageError(f"--replace puts code in the cell: use -f code, not -f {args.format}.")
        if args.value_chars is not None and args.value_chars < 1:
            raise UsageError(f"--value-chars must be 1 or more, not {args.value_chars}.")
        fmt = "code" if args.replace else args.format or ("json" if args.schema else "markdown")
        opts = CellOptions(
            model=args.model,
            tab=args.tab,
            new=args.new,
            context=[c.strip() for c in (args.context or "").split(",") if c.strip()],
            system=args.system,
            temperature=args.temperature,
            max_tokens=args.max_tokens,
            max_history=args.max_history,
            base_url=args.base_url,
            timeout=args.timeout,
            connect_timeout=args.connect_timeout,
            deadline=args.deadline,
            max_answer_chars=args.max_answer_chars,
            format=fmt,
            output=args.output,
            background=args.bg,
            interpolate=not args.no_interpolate,
            tools=split_names(args.tools),
            attach=list(args.attach),
            approve=args.approve,
            max_tool_rounds=args.max_tool_rounds,
            schema=args.schema,
            # The reply of the running cell carries the new cell: --bg has none.
            insert=None if fmt != "code" or args.bg else "replace" if args.replace else "below",
            value_chars=args.value_chars,
        )
        if args.tools is not None and not opts.tools:
            raise UsageError("--tools needs the names of functions, comma-separated.")
        if opts.output and not opts.output.isidentifier():
            raise UsageError(f"-o needs a variable name, not {opts.output!r}.")
        from .cell import run_cell  # the session manager loads with the first cell

        run_cell(self.shell, opts, cell, self.state)
        return None

    llm.__doc__ = _HELP + "\n" + (llm.__doc__ or "")

    def _words(self, words: list[str]) -> list[str]:
        """Notebook values put into each word of the line by the prompt's rules, which
        evaluate nothing; split first, so a value with spaces or quotes stays one word."""
        namespace = self.state.namespace(self.shell.user_ns if self.shell is not None else {})
        cap = self.state.value_chars or DEFAULT_MAX_CHARS
        return [interpolate(word, namespace, cap) for word in words]

    def _command(self, words: list[str]) -> Any:
        from .._errors import LLMError, redact
        from .commands import COMMANDS, unknown_command

        if not words:
            raise UsageError(
                "Say what to do: %llm keys | models | providers | tabs | … (%llm help)"
            )
        name, args = words[0], words[1:]
        command = COMMANDS.get(name)
        if command is None:
            raise UsageError(unknown_command(name))
        try:
            return command(self.shell, args, self.state)
        except LLMError as exc:
            raise UsageError(redact(str(exc))) from None
