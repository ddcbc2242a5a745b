"""Structured output (``schema=``) and function calling (``tools=``).

:func:`output_spec` turns a ``schema=`` into what adapters send and what reads the
answer back; :class:`Tool` and :func:`tools_from` turn ``tools=`` into tool specs and
calls; :func:`result_text` and :func:`error_text` make what a call returned, or
raised, into the text the model reads. :func:`strict_schema` gives a schema in the
form OpenAI's strict mode accepts. Importing this package does not import pydantic;
making a spec or a tool does.
"""

from .functions import Tool, ToolArgumentsError, check_name, tools_from
from .results import MAX_RESULT_CHARS, error_text, result_text
from .schema import OutputSpec, output_spec
from .strict import strict_schema

__all__ = [
    "MAX_RESULT_CHARS",
    "OutputSpec",
    "Tool",
    "ToolArgumentsError",
    "check_name",
    "error_text",
    "output_spec",
    "result_text",
    "strict_schema",
    "tools_from",
]
