"""schema=: the JSON Schema sent for models, dataclasses, TypedDicts and dicts, the
answer read back (fences, wrapped roots, bad JSON, misfits), and the strict-mode form."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from typing import Annotated, Any, Literal, NotRequired, TypedDict

import pytest
from pydantic import BaseModel, Field, TypeAdapter

from ipyllm import InvalidOptionError, SchemaError
from ipyllm._tools import output_spec, strict_schema
from ipyllm._tools import validate as validate_module
from ipyllm._tools.schema import _compatible_typeddict
from ipyllm._tools.shape import NAME_PATTERN, walk


class Address(BaseModel):
    street: str
    zip_code: str | None = None


class City(BaseModel):
    """A city and where it is."""

    name: str
    population: int
    kind: Literal["city", "town"] = "city"
    address: Address | None = None
    tags: list[str] = []
    note: str = Field(default="", title="A remark worth keeping")


class Node(BaseModel):
    value: int
    children: list[Node] = []


@dataclasses.dataclass
class Point:
    x: int
    y: float = 0.0


class Movie(TypedDict):
    title: str
    year: NotRequired[int]


def openai_strict_violations(schema: dict[str, Any]) -> list[str]:
    """What OpenAI's strict mode refuses in ``schema`` (its documented subset): the root
    an object, every object closed with all properties required, a type on every
    subschema, no oneOf or default, a $ref alone and resolvable."""
    found: list[str] = []
    if schema.get("type") != "object" or "anyOf" in schema:
        found.append("root is not an object")

    def visit(node: dict[str, Any], key: str | None) -> None:
        where = key or json.dumps(node)[:40]
        if "$ref" in node:
            if len(node) > 1:
                found.append(f"$ref with siblings at {where}")
            ref = node["$ref"]
            if not (ref == "#" or ref.removeprefix("#/$defs/") in schema.get("$defs", {})):
                found.append(f"unresolved {ref}")
            return
        if not any(w in node for w in ("type", "anyOf")):
            found.append(f"no type at {where}")
        for word in ("oneOf", "default", "patternProperties"):
            if word in node:
                found.append(f"{word} at {where}")
        if node.get("type") == "object":
            if node.get("additionalProperties") is not False:
                found.append(f"open object at {where}")
            if sorted(node.get("required", [])) != sorted(node.get("properties", {})):
                found.append(f"not all required at {where}")

    walk(schema, visit)
    return found


# ---- the schema sent ---------------------------------------------------------------


def test_pydantic_model_schema_is_clean_strict_and_keeps_refs() -> None:
    spec = output_spec(City)
    out = spec.output_schema
    assert out.name == "City"
    assert spec.wrapped_key is None
    schema = out.schema
    assert schema["type"] == "object"
    assert schema["description"] == "A city and where it is."
    # Sent in strict form: closed, every field required, defaults said in words.
    assert out.strict is True
    assert openai_strict_violations(schema) == []
    assert schema["required"] == ["name", "population", "kind", "address", "tags", "note"]
    assert schema["properties"]["kind"] == {
        "enum": ["city", "town"],
        "type": "string",
        "description": 'Default: "city".',
    }
    assert "title" not in schema
    assert "title" not in schema["properties"]["name"]  # "Name" only repeated the name
    assert schema["properties"]["note"]["title"] == "A remark worth keeping"
    assert schema["properties"]["address"]["anyOf"] == [
        {"$ref": "#/$defs/Address"},
        {"type": "null"},
    ]
    assert schema["$defs"]["Address"]["properties"]["street"] == {"type": "string"}
    assert schema["properties"]["tags"]["items"] == {"type": "string"}


def test_every_answer_the_strict_form_allows_parses() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = output_spec(City).output_schema.schema
    full = City(name="Kyoto", population=1, address=Address(street="Main"))
    answer = full.model_dump(mode="json")
    jsonschema.validate(answer, schema)
    assert output_spec(City).parse(json.dumps(answer)) == full
    with pytest.raises(jsonschema.ValidationError):  # the strict form is closed
        jsonschema.validate({**answer, "extra": 1}, schema)


def test_a_type_with_no_strict_form_is_sent_plain_and_not_claimed_strict() -> None:
    class Counts(BaseModel):
        by_word: dict[str, int]
        total: int = 0

    out = output_spec(Counts).output_schema
    assert out.strict is False
    assert out.schema["required"] == ["by_word"]
    assert out.schema["properties"]["by_word"]["additionalProperties"] == {"type": "integer"}
    assert output_spec(Counts).parse('{"by_word": {"a": 2}}') == Counts(by_word={"a": 2})


def test_a_property_named_title_is_kept() -> None:
    class Book(BaseModel):
        title: str

    schema = output_spec(Book).output_schema.schema
    assert schema["properties"] == {"title": {"type": "string"}}


def test_recursive_model_root_is_the_object_not_a_ref() -> None:
    schema = output_spec(Node).output_schema.schema
    assert schema["type"] == "object"
    assert "$ref" not in schema
    assert schema["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}
    assert schema["$defs"]["Node"]["type"] == "object"  # still referred to: kept
    assert output_spec(Node).parse('{"value": 1, "children": [{"value": 2}]}') == Node(
        value=1, children=[Node(value=2)]
    )


def test_dataclass_and_typeddict() -> None:
    point = output_spec(Point)
    assert point.output_schema.name == "Point"
    assert point.output_schema.schema["required"] == ["x", "y"]  # strict form
    assert point.parse('{"x": 1}') == Point(1, 0.0)
    movie = output_spec(Movie)  # typing.TypedDict, which pydantic refuses before 3.12
    assert movie.output_schema.schema["properties"] == {
        "title": {"type": "string"},
        "year": {"type": "integer"},
    }
    assert movie.parse('{"title": "Ran", "year": "1985"}') == {"title": "Ran", "year": 1985}


def test_non_object_roots_are_wrapped_and_unwrapped() -> None:
    cities = output_spec(list[City])
    assert cities.wrapped_key == "items"
    schema = cities.output_schema.schema
    assert schema["type"] == "object"
    assert schema["required"] == ["items"]
    assert schema["properties"]["items"]["items"] == {"$ref": "#/$defs/City"}
    assert set(schema["$defs"]) == {"City", "Address"}
    assert NAME_PATTERN.match(cities.output_schema.name)
    assert cities.output_schema.name == "list_City"
    parsed = cities.parse('{"items": [{"name": "Osaka", "population": 2700000}]}')
    assert parsed == [City(name="Osaka", population=2_700_000)]
    # A model that ignored the wrapper and sent the bare list is still understood.
    assert cities.parse("[]") == []
    number = output_spec(int | str)
    assert number.wrapped_key == "value"
    assert number.parse('{"value": 3}') == 3


def test_annotated_type_even_unhashable() -> None:
    spec = output_spec(Annotated[list[int], {"unhashable": "metadata"}])
    assert spec.output_schema.name == "list_int"
    assert spec.parse("[1, 2]") == [1, 2]


def test_each_call_gets_its_own_copy_of_a_cached_schema() -> None:
    first = output_spec(City).output_schema.schema
    first["properties"].clear()
    assert output_spec(City).output_schema.schema["properties"]


def test_json_schema_dict() -> None:
    schema = {
        "title": "Tally result!",
        "type": "object",
        "properties": {"count": {"type": "integer", "minimum": 0}},
        "required": ["count"],
    }
    spec = output_spec(schema)
    assert spec.output_schema.name == "Tally_result"
    assert spec.output_schema.schema == schema
    assert spec.output_schema.schema is not schema
    assert spec.parse('{"count": 2}') == {"count": 2}
    envelope = {"name": "tally", "schema": schema, "strict": False}
    assert output_spec(envelope).output_schema.name == "tally"
    assert output_spec(envelope).output_schema.strict is False


def test_json_schema_dict_is_validated_with_jsonschema() -> None:
    pytest.importorskip("jsonschema")
    spec = output_spec(
        {"type": "object", "properties": {"count": {"type": "integer", "minimum": 0}}}
    )
    with pytest.raises(SchemaError) as caught:
        spec.parse('{"count": -1}')
    assert caught.value.errors[0]["loc"] == ["count"]
    assert caught.value.errors[0]["type"] == "minimum"
    assert "count" in str(caught.value)
    with pytest.raises(InvalidOptionError, match="not a valid JSON Schema"):
        output_spec({"type": "object", "properties": {"a": {"type": 5}}})


def test_json_schema_dict_without_jsonschema_checks_the_root_type(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(validate_module, "jsonschema_module", lambda: None)
    spec = output_spec({"type": "object", "properties": {"count": {"type": "integer"}}})
    assert spec.parse('{"count": "many"}') == {"count": "many"}  # not checked this deep
    with pytest.raises(SchemaError, match="expected object, got array") as caught:
        spec.parse("[1, 2]")
    assert caught.value.errors == [
        {"loc": [], "msg": "expected object, got array", "type": "type", "input": [1, 2]}
    ]


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        (5, "not int"),
        ("City", "not str"),
        (City(name="x", population=1), "pass the class City, not an instance"),
        ({"name": "str", "age": "int"}, "no JSON Schema keyword"),
    ],
)
def test_bad_schema_values_are_refused(value: object, needle: str) -> None:
    with pytest.raises(InvalidOptionError, match=needle) as caught:
        output_spec(value)
    assert isinstance(caught.value, ValueError)


def test_a_type_without_json_schema_is_refused() -> None:
    class Opaque:
        pass

    with pytest.raises(InvalidOptionError, match="Opaque has no JSON Schema"):
        output_spec(Opaque)


# ---- reading the answer --------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "Tokyo", "population": 14000000}',
        '  \n{"name": "Tokyo", "population": 14000000}\n ',
        '```json\n{"name": "Tokyo", "population": 14000000}\n```',
        '```\n{"name": "Tokyo", "population": 14000000}```',
    ],
)
def test_parse_tolerates_whitespace_and_fences(text: str) -> None:
    assert output_spec(City).parse(text) == City(name="Tokyo", population=14_000_000)


def test_parse_misfit_gives_schema_error_with_pydantic_errors() -> None:
    text = '{"name": 3, "population": "lots", "address": {"street": null}}'
    with pytest.raises(SchemaError) as caught:
        output_spec(City).parse(text)
    err = caught.value
    assert err.partial == text
    assert [e["loc"] for e in err.errors] == [["name"], ["population"], ["address", "street"]]
    assert err.errors[1]["type"] == "int_parsing"
    assert "url" not in err.errors[0]
    json.dumps(err.errors)  # JSON-safe
    assert "does not fit the schema 'City'" in err.message
    assert "population: Input should be a valid integer" in err.message


def test_schema_error_errors_are_json_safe_with_validator_exceptions() -> None:
    from pydantic import field_validator

    class Even(BaseModel):
        n: int

        @field_validator("n")
        @classmethod
        def even(cls, v: int) -> int:
            if v % 2:
                raise ValueError("must be even")
            return v

    with pytest.raises(SchemaError) as caught:
        output_spec(Even).parse('{"n": 3}')
    assert json.loads(json.dumps(caught.value.errors))[0]["msg"] == "Value error, must be even"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('{"name": "Tok', "max_tokens"),
        ('{"name": "Tokyo", "population": 1', "breaks off"),
        ("The largest city is Tokyo.", "not valid JSON at line 1 column 1"),
        ('{"name": "Tokyo", "population": 1} Hope that helps!', "more after its JSON"),
        ("   ", "empty"),
    ],
)
def test_parse_bad_json_says_what_went_wrong(text: str, needle: str) -> None:
    with pytest.raises(SchemaError, match=needle) as caught:
        output_spec(City).parse(text)
    assert caught.value.partial == text
    assert caught.value.errors == []


# ---- strict mode ---------------------------------------------------------------------


@pytest.mark.parametrize("target", [City, Node, Point, Movie, list[City], int | str])
def test_strict_form_meets_openai_strict_rules(target: Any) -> None:
    assert openai_strict_violations(output_spec(target).output_schema.schema) == []
    # strict_schema itself, on pydantic's plain schema (which strict mode would refuse).
    plain = TypeAdapter(_compatible_typeddict(target)).json_schema()
    if plain.get("type") == "object":
        assert openai_strict_violations(plain)
        strict = strict_schema(plain)
        assert strict is not None
        assert openai_strict_violations(strict) == []


def test_strict_form_moves_defaults_into_descriptions() -> None:
    strict = strict_schema(TypeAdapter(City).json_schema())
    assert strict is not None
    assert strict["properties"]["kind"]["description"] == 'Default: "city".'
    assert strict["properties"]["tags"]["description"] == "Default: []."
    assert "default" not in strict["$defs"]["Address"]["properties"]["zip_code"]
    assert "description" not in strict["$defs"]["Address"]["properties"]["zip_code"]


def test_strict_form_of_a_discriminated_union_uses_anyof() -> None:
    class Cat(BaseModel):
        kind: Literal["cat"]

    class Dog(BaseModel):
        kind: Literal["dog"]

    class Pet(BaseModel):
        pet: Cat | Dog = Field(discriminator="kind")

    plain = TypeAdapter(Pet).json_schema()
    assert "oneOf" in plain["properties"]["pet"]
    strict = strict_schema(plain)
    assert strict is not None
    assert openai_strict_violations(strict) == []
    assert output_spec(Pet).output_schema.strict is True
    assert output_spec(Pet).parse('{"pet": {"kind": "dog"}}') == Pet(pet=Dog(kind="dog"))


@pytest.mark.parametrize(
    "schema",
    [
        {
            "type": "object",
            "properties": {
                "counts": {"type": "object", "additionalProperties": {"type": "integer"}}
            },
        },
        {"type": "object", "properties": {"anything": {}}},
        {"type": "array", "items": {"type": "string"}},
    ],
)
def test_strict_form_is_none_where_strict_cannot_say_it(schema: dict[str, Any]) -> None:
    assert strict_schema(schema) is None


def test_import_does_not_load_pydantic() -> None:
    code = (
        "import sys, ipyllm, ipyllm._tools; "
        "print([m for m in ('pydantic', 'pydantic_core', 'jsonschema') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
