"""The per-request options, declared once: :class:`RequestOptions`.

Every front door (``Session``, ``Tab.send``, ``batch``, ``%%llm``, the panel) builds
one and passes it down; the runner derives from it the engine's
:class:`~ipyllm.Options` (what an adapter needs to build the request) and the
engine's keyword arguments (retries, limits). ``None`` means "not given": a
``Session`` default, then ``ipyllm.configure``, then the built-in default applies.

:class:`SendOptions` and :class:`CallOptions` are the same names for type checkers
(``**options: Unpack[SendOptions]``); tests/test_options.py checks that they agree
with the dataclass. An unknown name is a :class:`TypeError` at the call, with the
nearest valid name and the list of them, before any turn or request exists.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from .. import _registry
from .._engine.limits import check_limits
from .._errors import InvalidOptionError, LLMError
from .._types import Message, Options, Response, ToolCall, check_options
from .._urls import check_base_url

if TYPE_CHECKING:
    from typing import Unpack

    from .._engine.accumulate import AnswerSource
    from .._engine.provider import Provider, RequestGate
    from .._engine.reader import OnChunk
    from .._tools import OutputSpec, Tool

DEFAULT_MAX_RETRIES = 2
DEFAULT_MAX_TOOL_ROUNDS = 10

Approval = Literal["auto", "ask"] | Callable[[ToolCall], bool]
"""Who decides whether a tool call runs: ``"auto"`` (it runs), ``"ask"`` (the user is
asked: the panel's card, the ``%%llm`` view, or a prompt in the calling thread) or a
function given the :class:`~ipyllm.ToolCall` that returns True to run it."""


class CallOptions(TypedDict, total=False):
    """The options one ``Session.ask``/``stream`` call may override."""

    system: str | None
    temperature: float | None
    max_tokens: int | None
    extra_body: Mapping[str, Any] | None
    headers: Mapping[str, str] | None
    max_retries: int | None
    timeout: float | None
    connect_timeout: float | None
    deadline: float | None
    max_answer_chars: int | None
    max_history: int | None
    tools: Sequence[Any] | None
    approve: Approval | None
    max_tool_rounds: int | None
    schema: Any


class SendOptions(CallOptions, total=False):
    """Every request option: a call's, plus where the first model's requests go."""

    api_key: str | None
    base_url: str | None
    allow_insecure_http: bool | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestOptions:
    """How to ask, apart from the prompt and the models; each value checked when built.

    ``system``, ``temperature``, ``max_tokens``, ``extra_body`` (JSON merged into the
    request body) and ``headers`` (this request's extra HTTP headers) go to the
    adapter. ``api_key``, ``base_url`` and ``allow_insecure_http`` are for the first
    model only (fallback models use their provider's). ``max_retries`` (default 2) and
    the limits ``timeout``, ``connect_timeout``, ``deadline`` (the whole turn,
    fallback models included) and ``max_answer_chars`` (docs/limits.md) go to the
    engine. ``max_history`` is how many earlier turns go with the prompt.
    ``tools`` are Python functions the model may call (kept as
    :class:`~ipyllm._tools.Tool` objects), ``approve`` who decides whether a call runs
    (:data:`Approval`; default ``"auto"``), ``max_tool_rounds`` how many rounds of calls
    a turn may make (default 10), and ``schema`` the type the answer must fit
    (structured output; kept as an :class:`~ipyllm._tools.OutputSpec`).
    ``None`` everywhere means "not given".
    """

    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    extra_body: Mapping[str, Any] | None = None
    headers: Mapping[str, str] | None = None
    api_key: str | None = None
    base_url: str | None = None
    allow_insecure_http: bool | None = None
    max_retries: int | None = None
    timeout: float | None = None
    connect_timeout: float | None = None
    deadline: float | None = None
    max_answer_chars: int | None = None
    max_history: int | None = None
    tools: Sequence[Any] | None = None
    approve: Approval | None = None
    max_tool_rounds: int | None = None
    schema: Any = None

    def __post_init__(self) -> None:
        check_options(self.temperature, self.max_tokens)
        check_limits(
            timeout=self.timeout,
            connect_timeout=self.connect_timeout,
            deadline=self.deadline,
            max_answer_chars=self.max_answer_chars,
        )
        check_max_history(self.max_history)
        if self.max_retries is not None and (
            isinstance(self.max_retries, bool)
            or not isinstance(self.max_retries, int)
            or self.max_retries < 0
        ):
            raise InvalidOptionError(
                f"max_retries must be a whole number >= 0, not {self.max_retries!r}."
            )
        if self.base_url is not None:
            check_base_url(self.base_url, "the base_url argument")
        for name in ("extra_body", "headers"):
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, Mapping):
                raise InvalidOptionError(f"{name} must be a dict, not {value!r}.")
            # A copy: the caller's dict may change after the options are checked.
            object.__setattr__(self, name, dict(value))
        self._check_tools()

    def _check_tools(self) -> None:
        # The _tools package (and pydantic) load only when a tool or schema is used.
        if self.tools is not None:
            from .._tools import tools_from

            object.__setattr__(self, "tools", tools_from(self.tools))
        if self.schema is not None:
            from .._tools import OutputSpec, output_spec

            if not isinstance(self.schema, OutputSpec):
                object.__setattr__(self, "schema", output_spec(self.schema))
        if self.approve is not None and not (
            self.approve in ("auto", "ask") or callable(self.approve)
        ):
            raise InvalidOptionError(
                f"approve must be 'auto', 'ask' or a function of the ToolCall that returns "
                f"True to run it; not {self.approve!r}."
            )
        rounds = self.max_tool_rounds
        if rounds is not None and (
            isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0
        ):
            raise InvalidOptionError(
                f"max_tool_rounds must be a whole number >= 0 (0: never run a tool), "
                f"not {rounds!r}."
            )

    @property
    def tool_list(self) -> tuple[Tool, ...]:
        """The tools, as :class:`~ipyllm._tools.Tool` objects (none if not given)."""
        return tuple(self.tools or ())

    @property
    def output(self) -> OutputSpec | None:
        """The structured-output spec ``schema`` became, or None."""
        return self.schema  # type: ignore[no-any-return]

    def merged(self, **values: Unpack[SendOptions]) -> RequestOptions:
        """These options with every given value that is not ``None`` replaced (and checked)."""
        return self.merged_from("merged()", values)

    def merged_from(
        self, where: str, values: Mapping[str, object], allowed: Collection[str] = ()
    ) -> RequestOptions:
        """:meth:`merged` for a mapping from ``where`` (a call's name, for the message);
        a name not in ``allowed`` (default: every option) is a :class:`TypeError`."""
        check_option_names(where, values, allowed or OPTION_NAMES)
        given = {name: value for name, value in values.items() if value is not None}
        return dataclasses.replace(self, **given) if given else self  # type: ignore[arg-type]

    def check_models(self, models: Sequence[str]) -> None:
        """Check ``temperature`` against the range of each model's provider (fallbacks too)."""
        if self.temperature is None:
            return
        for model in models:
            try:
                provider = _registry.parse_model(model)[0]
                bound = _registry.effective_spec(provider).max_temperature
            except LLMError:
                continue  # an unknown model fails its turn, with its own message
            check_options(self.temperature, None, max_temperature=bound, provider=provider)

    def for_model(self, model: str) -> Options:
        """The engine's :class:`~ipyllm.Options` for ``model``: the fields they share."""
        # The fields they share by name; tools and the schema become what adapters take.
        own = ("model", "tools", "output_schema")
        shared: dict[str, Any] = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(Options) if f.name not in own
        }
        for name in ("extra_body", "headers"):
            shared[name] = dict(shared[name] or {})
        shared["tools"] = tuple(t.spec for t in self.tool_list)
        output = self.output
        shared["output_schema"] = None if output is None else output.output_schema
        return Options(model=model, **shared)


OPTION_NAMES: frozenset[str] = frozenset(f.name for f in dataclasses.fields(RequestOptions))
"""Every request option (the fields of :class:`RequestOptions`)."""
CALL_OPTION_NAMES: frozenset[str] = OPTION_NAMES - {"api_key", "base_url", "allow_insecure_http"}
"""What one ``Session.ask``/``stream`` call may override (the rest is the Session's)."""


def request_options(
    where: str,
    values: Mapping[str, object],
    base: RequestOptions | None = None,
    allowed: Collection[str] = (),
) -> RequestOptions:
    """``base`` (default: nothing given) merged with ``values`` from the call ``where``."""
    return (base or _NOTHING).merged_from(where, values, allowed)


def check_option_names(where: str, names: Collection[str], allowed: Collection[str]) -> None:
    """A :class:`TypeError` naming the first unknown name, the nearest valid one and the list."""
    for name in names:
        if name in allowed:
            continue
        if name in OPTION_NAMES:
            raise TypeError(f"{where} cannot change {name!r}: give it when the Session is made.")
        close = difflib.get_close_matches(name, sorted(allowed), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else "."
        raise TypeError(
            f"{where} got an unknown option {name!r}{hint} "
            f"The options are: {', '.join(sorted(allowed))}."
        )


def check_max_history(value: object) -> int | None:
    """``value`` if it is ``None`` or a whole number >= 0; else
    :class:`~ipyllm.InvalidOptionError`, before anything is sent or recorded."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    raise InvalidOptionError(
        f"max_history is the number of earlier turns sent with a prompt: a whole number "
        f">= 0, or None for all of them; not {value!r}."
    )


async def stream_request(
    provider: Provider,
    messages: list[Message],
    model: str,
    options: RequestOptions,
    on_chunk: OnChunk | None = None,
    *,
    gate: RequestGate | None = None,
    deadline_from: float | None = None,
    estimated_tokens: int = 0,
    answer: AnswerSource | None = None,
) -> Response:
    """One request to ``provider`` for ``model`` with ``options``: the one place the
    options become the engine's arguments."""
    return await provider.query_stream(
        messages,
        options.for_model(model),
        on_chunk,
        max_retries=DEFAULT_MAX_RETRIES if options.max_retries is None else options.max_retries,
        idle_timeout=options.timeout,
        connect_timeout=options.connect_timeout,
        deadline=options.deadline,
        max_answer_chars=options.max_answer_chars,
        deadline_from=deadline_from,
        gate=gate,
        estimated_tokens=estimated_tokens,
        answer=answer,
    )


_NOTHING = RequestOptions()
