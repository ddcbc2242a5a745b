"""``schema=``: the JSON Schema a structured answer must follow, and reading the answer.

:func:`output_spec` takes what users pass and gives an :class:`OutputSpec`: the
:class:`~ipyllm._types.OutputSchema` the provider adapters send, and ``parse`` for the
answer's text. pydantic is imported here, inside the functions, so that
``import ipyllm`` does not load it.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._errors import InvalidOptionError, SchemaError
from .._types import OutputSchema, Response
from . import shape
from .strict import strict_schema
from .validate import dict_validator, fit_message

# What ``schema=`` accepts, for the message when it is something else.
ACCEPTED = (
    "a pydantic model class, a dataclass, a TypedDict, a type pydantic can validate "
    "(list[Model], int | str, Literal[...]), or a JSON Schema dict"
)
# A fence some models put around JSON in json_object mode (```json ... ```).
_FENCE = re.compile(r"^```[A-Za-z]*[ \t]*\n(.*?)\n?[ \t]*```$", re.DOTALL)
# Keywords at least one of which a JSON Schema dict has (a dict without any is more
# likely a sample answer or a {"field": "type"} sketch than a schema).
_SCHEMA_WORDS = {"type", "properties", "$ref", "anyOf", "oneOf", "allOf", "enum", "const"}
_SCHEMA_WORDS |= {"items", "$defs", "definitions"}


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """A ``schema=`` made ready to send and to check.

    ``output_schema`` is what the provider is told. Its root is always an object
    (OpenAI requires one), so any other root is wrapped as the one required property
    ``wrapped_key``: ``"items"`` for an array, else ``"value"``. For a type, it is in
    the form OpenAI's strict mode takes (:func:`~ipyllm._tools.strict_schema`: objects
    closed, every field required, defaults in the descriptions) with ``strict=True``
    where that form exists, else pydantic's schema with ``strict=False``; a dict is
    sent as given. :meth:`parse` reads an answer's text back into the validated value.
    """

    output_schema: OutputSchema
    wrapped_key: str | None = None
    _check: Callable[[Any], Any] = field(default=lambda value: value, repr=False)

    def fill(self, response: Response) -> None:
        """Set ``response.data`` to :meth:`parse` of its text; the
        :class:`~ipyllm.SchemaError` raised for a text that does not fit carries the
        response (whose ``data`` stays None)."""
        try:
            response.data = self.parse(response.text)
        except SchemaError as err:
            err.response = response
            raise

    def parse(self, text: str) -> Any:
        """The answer ``text`` decoded and validated: a model, dataclass or TypedDict
        (a dict) instance for those schemas, the decoded JSON for a dict schema.

        Whitespace and a ```json fence around the JSON are tolerated. A wrapped root
        is unwrapped; a bare value where the wrapper was expected is accepted too.
        Raises :class:`~ipyllm.SchemaError` (``partial`` = ``text``) when the text is
        not JSON or does not fit the schema.
        """
        name = self.output_schema.name
        body = _unfence(text)
        if not body:
            raise SchemaError(
                f"The answer is empty where JSON for the schema {name!r} was expected; "
                "the model may not support structured output, or it refused.",
                partial=text,
            )
        try:
            value = json.loads(body)
        except json.JSONDecodeError as e:
            raise SchemaError(_json_message(e, name), partial=text) from None
        key = self.wrapped_key
        if key is not None and isinstance(value, dict) and set(value) == {key}:
            value = value[key]
        try:
            return self._check(value)
        except SchemaError as e:  # from a dict schema's validator: add what was received
            raise SchemaError(e.message, partial=text, errors=e.errors) from None
        except ValueError as e:  # pydantic's ValidationError is a ValueError
            errors = _jsonable_errors(e)
            raise SchemaError(fit_message(errors, name), partial=text, errors=errors) from None


def output_spec(schema: object) -> OutputSpec:
    """The :class:`OutputSpec` for a ``schema=`` value (see :data:`ACCEPTED`).

    Raises :class:`~ipyllm.InvalidOptionError` (a ``ValueError``, like every bad
    request option in ipyllm) for anything else, naming the kinds accepted.
    """
    if isinstance(schema, OutputSchema):
        return _dict_spec(schema.schema, schema.name, schema.strict)
    if isinstance(schema, dict):
        return _dict_spec(*_unenvelope(schema))
    if not (isinstance(schema, type) or typing.get_origin(schema) is not None):
        kind = type(schema).__name__
        # A model or dataclass instance is a likely slip: say what to pass instead.
        is_instance = dataclasses.is_dataclass(schema) or hasattr(schema, "model_json_schema")
        hint = f" (pass the class {kind}, not an instance of it)" if is_instance else ""
        raise InvalidOptionError(f"schema= must be {ACCEPTED}, not {kind}{hint}.")
    try:
        hash(schema)
    except TypeError:  # Annotated[..., {"a": "dict"}]: cannot be cached, build it each time
        adapter, sent, key = _build.__wrapped__(schema)
    else:
        adapter, sent, key = _build(schema)
    # The cached schema is shared by every call with this type: hand out a copy, since
    # an adapter may rewrite it in place (provider quirks).
    return OutputSpec(copy.deepcopy(sent), key, _validator(adapter))


@functools.lru_cache(maxsize=128)  # building a TypeAdapter costs milliseconds; reuse it
def _build(target: Any) -> tuple[Any, OutputSchema, str | None]:
    import pydantic

    try:
        adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(_compatible_typeddict(target))
        schema = adapter.json_schema()
    except (pydantic.PydanticUserError, NameError) as e:  # NameError: an undefined annotation
        raise InvalidOptionError(
            f"schema={_describe(target)} has no JSON Schema: {_first_line(e)}. "
            f"schema= must be {ACCEPTED}, whose fields have JSON types."
        ) from None
    shape.trim_titles(schema)
    root, key = _object_root(schema)
    name = shape.safe_name(_describe(target))
    # Sent in strict form where there is one: every answer that fits it fits the type
    # too (it only closes objects and requires fields that had defaults), and OpenAI
    # then guarantees the answer parses. Otherwise the plain schema, not claimed strict.
    strict = strict_schema(root)
    if strict is None:
        return adapter, OutputSchema(name, root, strict=False), key
    return adapter, OutputSchema(name, strict, strict=True), key


def _object_root(schema: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    root = shape.inline_root_ref(schema)
    if shape.is_object_root(root):
        return root, None
    key = "items" if root.get("type") == "array" else "value"
    return shape.wrap_root(root, key), key


def _validator(adapter: Any) -> Callable[[Any], Any]:
    # JSON-mode validation, as the value came from JSON: strings become datetimes,
    # enums and the like even in a model with strict=True.
    return lambda value: adapter.validate_json(json.dumps(value))


def _compatible_typeddict(target: Any) -> Any:
    """A ``typing.TypedDict`` rebuilt as ``typing_extensions.TypedDict``, which pydantic
    requires before Python 3.12 (a notebook's ``from typing import TypedDict``)."""
    if not (typing.is_typeddict(target) and type(target).__module__ == "typing"):
        return target
    import sys

    if sys.version_info >= (3, 12):
        return target
    import typing_extensions

    hints = typing.get_type_hints(target, include_extras=True)
    fields = {
        k: (
            typing_extensions.Required[v]
            if k in target.__required_keys__
            else typing_extensions.NotRequired[v]
        )
        for k, v in hints.items()
    }
    make: Any = typing_extensions.TypedDict
    return make(target.__name__, fields)


def _unenvelope(schema: dict[str, Any]) -> tuple[dict[str, Any], str, bool]:
    """A JSON Schema dict, or OpenAI's ``{"name", "schema", "strict"}`` envelope around
    one, as (schema, name, strict)."""
    inner = schema.get("schema")
    if isinstance(inner, dict) and set(schema) <= {"name", "schema", "strict", "description"}:
        name = schema.get("name")
        strict = schema.get("strict", True)
        return inner, name if isinstance(name, str) else "", strict is not False
    title = schema.get("title")
    return schema, title if isinstance(title, str) else "", True


def _dict_spec(schema: dict[str, Any], name: str, strict: bool) -> OutputSpec:
    if not _SCHEMA_WORDS & set(schema):
        raise InvalidOptionError(
            "schema= is a dict with no JSON Schema keyword (type, properties, $ref…); "
            'pass a JSON Schema such as {"type": "object", "properties": {...}}, '
            "or a pydantic model class."
        )
    name = shape.safe_name(name)
    check = dict_validator(copy.deepcopy(schema), name)
    root, key = _object_root(copy.deepcopy(schema))
    return OutputSpec(OutputSchema(name, root, strict=strict), key, check)


def _unfence(text: str) -> str:
    body = text.strip().lstrip("\ufeff").strip()
    fenced = _FENCE.match(body)
    return fenced.group(1).strip() if fenced else body


def _json_message(e: json.JSONDecodeError, name: str) -> str:
    where = f"line {e.lineno} column {e.colno}"
    # An unterminated string or a document that stops early: the end was cut off.
    if e.pos >= len(e.doc.rstrip()) or e.msg.startswith("Unterminated string"):
        return (
            f"The answer's JSON breaks off at {where} ({e.msg}): max_tokens may have cut "
            f"it short; raise max_tokens and ask again (schema {name!r})."
        )
    if e.msg == "Extra data":
        return (
            f"The answer has more after its JSON, at {where}: the model wrote text "
            f"besides the JSON for the schema {name!r}; ask again, or ask for JSON only."
        )
    return (
        f"The answer is not valid JSON at {where}: {e.msg}; the model may not support "
        f"structured output (schema {name!r}), or max_tokens cut it short."
    )


def _jsonable_errors(e: ValueError) -> list[dict[str, Any]]:
    errors = getattr(e, "errors", None)
    if not callable(errors):
        return [{"loc": [], "msg": str(e), "type": "value_error"}]
    from pydantic_core import to_jsonable_python

    # ``ctx`` may hold the exception a validator raised, ``input`` anything: make it JSON.
    raw = errors(include_url=False)
    return typing.cast(list[dict[str, Any]], to_jsonable_python(raw, fallback=repr))


def _describe(target: Any) -> str:
    if typing.get_origin(target) is typing.Annotated:  # named for the type, not its notes
        return _describe(typing.get_args(target)[0])
    # list[City].__name__ is "list": a generic alias is named by its repr, arguments too.
    if typing.get_origin(target) is not None:
        return repr(target)
    return getattr(target, "__name__", None) or repr(target)


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0].rstrip(".") if str(e).strip() else type(e).__name__
