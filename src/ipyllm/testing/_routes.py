"""Which provider a request path belongs to, its key check, and the model-list bodies.

Gemini serves its models under ``/v1/`` (google-genai's default) and ``/v1beta/``. A
``GET /v1/models`` is also OpenAI's and Anthropic's, so there it is Gemini's only when the
request carries Gemini's own marks: an ``x-goog-api-key`` or ``x-goog-api-client`` header,
or a ``key`` query parameter.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ._error_bodies import error_json, error_plan
from ._plan import Kind, Plan, json_plan
from ._render_base import go_json_plan

__all__ = ["Route", "key_rejection", "models_plan", "route_for"]

_GEMINI_CALL = re.compile(r"/models/([^/]+):(streamGenerateContent|generateContent)$")
_GEMINI_MODEL = re.compile(r"/models/([^/]+)$")
_OTHER_MODEL = re.compile(r"/models/(.+)$")


@dataclass(frozen=True)
class Route:
    """A matched request: the wire family, what it asks for, and any model named in the path."""

    kind: Kind
    action: Literal["complete", "list", "get"]
    model: str | None = None
    stream: bool = True
    """For Gemini, whether the path asked for ``:streamGenerateContent``."""


def route_for(
    method: str,
    path: str,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    body: Any = None,
) -> Route | None:
    """Match ``path`` by its suffix, so any base-URL prefix (``/v1``, ``/api/paas/v4``) works.

    ``headers`` (lower-case names) and ``query`` tell Gemini's ``/v1/models`` from
    OpenAI's; ``body`` names the model of an Ollama ``/api/show``.
    """
    path = path.rstrip("/") or "/"
    gemini = _is_gemini(path, headers or {}, query or {})
    if method == "POST":
        if path.endswith("/api/show"):
            request = body if isinstance(body, dict) else {}
            model = request.get("model") or request.get("name")  # "name": older clients
            return Route("ollama", "get", model=model if isinstance(model, str) else "")
        if path.endswith("/chat/completions"):
            return Route("openai", "complete")
        if path.endswith("/v1/messages"):
            return Route("anthropic", "complete")
        if match := _GEMINI_CALL.search(path):
            stream = match[2] == "streamGenerateContent"
            return Route("gemini", "complete", model=match[1], stream=stream)
        if path.endswith("/api/chat"):
            return Route("ollama", "complete")
    elif method == "GET":
        if path.endswith("/api/tags"):
            return Route("ollama", "list")
        if path.endswith("/models"):
            return Route("gemini" if gemini else "models", "list")
        if match := (_GEMINI_MODEL if gemini else _OTHER_MODEL).search(path):
            return Route("gemini" if gemini else "models", "get", model=match[1])
    return None


def _is_gemini(path: str, headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
    if "/v1beta/" in path or "/v1alpha/" in path:
        return True
    marked = "x-goog-api-key" in headers or "x-goog-api-client" in headers or "key" in query
    return marked and "/v1/" in path


def key_rejection(
    route: Route, headers: Mapping[str, str], query: Mapping[str, str], key: str
) -> Plan | None:
    """The error a real provider sends when the request lacks ``key``; ``None`` if it has it."""
    bearer = headers.get("authorization") == f"Bearer {key}"
    x_api_key = headers.get("x-api-key") == key
    if route.kind == "openai" and not bearer:
        return error_plan("openai", 401, "Incorrect API key provided.")
    if route.kind in ("anthropic", "models") and not (bearer or x_api_key):
        # Anthropic takes x-api-key or, as its newer SDKs send, a Bearer token.
        if route.kind == "anthropic":
            return error_plan("anthropic", 401, "invalid x-api-key")
        return error_plan("models", 401, "Invalid API key.")
    if route.kind == "gemini" and key not in (headers.get("x-goog-api-key"), query.get("key")):
        # Gemini really answers a bad key with 400 INVALID_ARGUMENT.
        return error_plan("gemini", 400, "API key not valid. Please pass a valid API key.")
    return None


def models_plan(route: Route, models: Sequence[str]) -> Plan:
    """The model list (or one model) in the route's shape; 404 for an unknown model."""
    if route.kind == "gemini":
        names = [m.removeprefix("models/") for m in models]
        if route.action == "get":
            model = route.model or ""
            if model not in names:
                return error_plan("gemini", 404, f"models/{model} is not found.")
            return json_plan(200, _gemini_model(model))
        return json_plan(200, {"models": [_gemini_model(m) for m in names]})
    if route.kind == "ollama":
        if route.action == "get":
            # Ollama resolves a name without a tag to ":latest".
            wanted = route.model or ""
            found = [m for m in models if wanted in (m, m.removesuffix(":latest"))]
            if not found:
                message = f"model '{wanted}' not found"
                return go_json_plan(404, error_json("ollama", 404, message))
            return go_json_plan(200, _ollama_show(found[0]))
        return go_json_plan(200, {"models": [_ollama_tag(m) for m in models]})
    if route.action == "get":
        model = route.model or ""
        if model not in models:
            return error_plan("models", 404, f"The model `{model}` does not exist.")
        return json_plan(200, _openai_anthropic_model(model))
    data = [_openai_anthropic_model(m) for m in models]
    first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
    body = {"object": "list", "data": data, "has_more": False, "first_id": first, "last_id": last}
    return json_plan(200, body)


def _gemini_model(name: str) -> dict[str, Any]:
    methods = ["generateContent", "streamGenerateContent", "countTokens"]
    return {
        "name": f"models/{name}",
        "version": "001",
        "displayName": name,
        "inputTokenLimit": 1048576,
        "outputTokenLimit": 65536,
        "supportedGenerationMethods": methods,
    }


_OLLAMA_DETAILS = {
    "parent_model": "",
    "format": "gguf",
    "family": "llama",
    "families": ["llama"],
    "parameter_size": "3.2B",
    "quantization_level": "Q4_K_M",
}
_OLLAMA_MODIFIED = "2025-01-01T00:00:00.000000000Z"


def _ollama_tag(name: str) -> dict[str, Any]:
    digest = hashlib.sha256(name.encode()).hexdigest()
    return {
        "name": name,
        "model": name,
        "modified_at": _OLLAMA_MODIFIED,
        "size": 2019393189,
        "digest": digest,
        "details": _OLLAMA_DETAILS,
    }


def _ollama_show(name: str) -> dict[str, Any]:
    return {
        "license": "",
        "modelfile": f"# Modelfile generated by the ipyllm fake server\nFROM {name}\n",
        "parameters": 'stop "<|eot_id|>"',
        "template": "{{ .Prompt }}",
        "details": _OLLAMA_DETAILS,
        "model_info": {"general.architecture": "llama", "general.parameter_count": 3212749888},
        "capabilities": ["completion"],
        "modified_at": _OLLAMA_MODIFIED,
    }


def _openai_anthropic_model(model_id: str) -> dict[str, Any]:
    # One object that reads right to both SDKs: OpenAI's id/object/owned_by, Anthropic's type.
    return {
        "id": model_id,
        "type": "model",
        "object": "model",
        "display_name": model_id,
        "created": 1735689600,
        "created_at": "2025-01-01T00:00:00Z",
        "owned_by": "ipyllm-fake",
    }
