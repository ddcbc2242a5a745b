"""Every built-in provider as a table row. OpenAI-compatible services differ only here."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .spec import Adapter, ProviderSpec

if TYPE_CHECKING:
    import httpx

BUILTIN: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        name="openai",
        label="OpenAI",
        adapter="openai",
        base_url="https://api.openai.com/v1",
        base_url_env=("OPENAI_BASE_URL",),
        key_env=("OPENAI_API_KEY",),
        default_model="gpt-5-mini",
        models=(
            "gpt-5",
            "gpt-5-mini",
            "gpt-5-nano",
            "gpt-4.1",
            "gpt-4.1-mini",
            "gpt-4o-mini",
            "o4-mini",
        ),
        # Reasoning models refuse max_tokens; max_completion_tokens works for all.
        max_tokens_field="max_completion_tokens",
        # Images (image_url: data URI or https URL) and PDFs (file parts); text files go
        # as text parts. platform.openai.com/docs/guides/images-vision: PNG, JPEG, WebP,
        # non-animated GIF; up to 50 MB per request; a high-detail image is scaled to fit
        # 2048×2048, so more pixels are only bytes (the spec defaults: 2048 px, 20 MB).
        attachments=frozenset({"image", "pdf", "text"}),
        attachment_urls=True,
        # platform.openai.com/docs/guides/pdf-files ("File inputs"): up to 32 MB of file
        # content in one request. The images guide's 50 MB payload per request holds
        # 37.5 MB once base64 (data URIs) is counted: the bound on all attachments.
        max_document_bytes=32_000_000,
        max_request_attachment_bytes=37_500_000,
    ),
    ProviderSpec(
        name="anthropic",
        label="Anthropic",
        adapter="anthropic",
        base_url="https://api.anthropic.com",
        base_url_env=("ANTHROPIC_BASE_URL",),
        key_env=("ANTHROPIC_API_KEY",),
        default_model="claude-sonnet-4-5",
        models=("claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5"),
        max_temperature=1.0,  # the Messages API: "Ranges from 0.0 to 1.0"
        # image / document blocks (base64, a URL for images; text files as text documents).
        # docs.anthropic.com/en/docs/vision: JPEG, PNG, GIF, WebP; an image whose long edge
        # is over 1568 px is scaled down by the API (over 8000×8000 px is refused, 2000×2000
        # when a request holds more than 20 images); 5 MB per image, which the API counts
        # on the base64 text (4/3 of the bytes): 3.75 MB of image is always under.
        attachments=frozenset({"image", "pdf", "text"}),
        attachment_urls=True,
        max_image_edge=1568,
        max_image_bytes=3_750_000,
        # docs.anthropic.com/en/api/overview ("Request size limits") and
        # docs.anthropic.com/en/docs/build-with-claude/pdf-support: 32 MB per Messages
        # request, base64 included, so 24 MB of files in all; 100 pages per request
        # (600 for larger-context models), which ipyllm does not count (the API says so).
        max_document_bytes=24_000_000,
        max_request_attachment_bytes=24_000_000,
    ),
    ProviderSpec(
        name="gemini",
        label="Google Gemini",
        adapter="gemini",
        base_url="https://generativelanguage.googleapis.com",
        base_url_env=("GEMINI_BASE_URL",),
        key_env=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        default_model="gemini-2.5-flash",
        models=("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"),
        # inlineData parts. ai.google.dev/gemini-api/docs/image-understanding: PNG, JPEG,
        # WebP, HEIC, HEIF (no GIF: converted). No per-image byte or pixel limit is
        # documented for the Gemini API (images are tiled at 768×768: 3072 px is 4 tiles);
        # 7 MB is our bound, the smallest per-file inline limit of Google's Vertex AI
        # table (cloud.google.com/vertex-ai/generative-ai/docs/multimodal/image-understanding).
        attachments=frozenset({"image", "pdf", "text"}),
        image_mimes=frozenset({"image/png", "image/jpeg", "image/webp"}),
        max_image_edge=3072,
        max_image_bytes=7_000_000,
        # ai.google.dev/gemini-api/docs/file-input-methods: inline PDFs up to 50 MB, and
        # at most 100 MB of inline data per request, base64-encoded (raised from 20 MB in
        # January 2026: blog.google/innovation-and-ai/technology/developers-tools/
        # gemini-api-new-file-limits), so 75 MB of files in all.
        max_document_bytes=50_000_000,
        max_request_attachment_bytes=75_000_000,
    ),
    ProviderSpec(
        name="xai",
        label="xAI",
        adapter="openai",
        base_url="https://api.x.ai/v1",
        base_url_env=("XAI_BASE_URL",),
        key_env=("XAI_API_KEY",),
        default_model="grok-4",
        models=("grok-4", "grok-4-fast", "grok-3-mini", "grok-code-fast-1"),
        # docs.x.ai, "Image understanding": image_url takes a base64 data URI or a URL.
        attachment_urls=True,
        # response_format json_schema: docs.x.ai, "Structured Outputs" (the default).
    ),
    ProviderSpec(
        name="openrouter",
        label="OpenRouter",
        adapter="openai",
        base_url="https://openrouter.ai/api/v1",
        base_url_env=("OPENROUTER_BASE_URL",),
        key_env=("OPENROUTER_API_KEY",),
        default_model="openrouter/auto",
        models=(
            "openrouter/auto",
            "openai/gpt-5-mini",
            "anthropic/claude-sonnet-4.5",
            "google/gemini-2.5-flash",
            "deepseek/deepseek-r1",
        ),
        headers={"X-Title": "ipyllm"},
        # openrouter.ai/docs, "Images & PDFs": image_url (URL or data URI) and file parts.
        attachments=frozenset({"image", "pdf", "text"}),
        attachment_urls=True,
        # json_schema for the models that support it: openrouter.ai/docs/structured-outputs.
    ),
    ProviderSpec(
        name="fireworks",
        label="Fireworks",
        adapter="openai",
        base_url="https://api.fireworks.ai/inference/v1",
        base_url_env=("FIREWORKS_BASE_URL",),
        key_env=("FIREWORKS_API_KEY",),
        default_model="accounts/fireworks/models/deepseek-v3p1",
        models=(
            "accounts/fireworks/models/deepseek-v3p1",
            "accounts/fireworks/models/qwen3-235b-a22b",
            "accounts/fireworks/models/llama-v3p3-70b-instruct",
        ),
        # json_schema and json_object: docs.fireworks.ai/structured-responses.
    ),
    ProviderSpec(
        name="ollama",
        label="Ollama",
        adapter="ollama",
        base_url="http://127.0.0.1:11434",
        base_url_env=("OLLAMA_HOST",),
        bare_host_port=11434,  # OLLAMA_HOST is often "0.0.0.0:11434" or "localhost"
        needs_key=False,
        local=True,
        default_model="llama3.2",
        models=("llama3.2", "qwen3", "gemma3", "gpt-oss:20b"),
        max_temperature=None,  # llama.cpp sampling: no documented upper bound
        # /api/chat takes images only: base64 in the message's `images` (docs/api.md).
        # No size limit is documented and its vision models resize to under ~1.2k px
        # (llama3.2-vision 1120, gemma3 896); its image decoder (stb_image) reads no
        # WebP. 2048 px and 20 MB are our bounds, to keep a local request reasonable.
        attachments=frozenset({"image"}),
        image_mimes=frozenset({"image/png", "image/jpeg"}),
    ),
    ProviderSpec(
        name="lmstudio",
        label="LM Studio",
        adapter="openai",
        base_url="http://127.0.0.1:1234/v1",
        base_url_env=("LMSTUDIO_BASE_URL", "LM_STUDIO_BASE_URL"),
        needs_key=False,
        local=True,
        default_model="local-model",
        models=("local-model",),
        # json_schema only, no json_object: lmstudio.ai/docs/api/structured-output.
        max_temperature=None,  # a local server: no documented upper bound
    ),
    ProviderSpec(
        name="vllm",
        label="vLLM",
        adapter="openai",
        base_url="http://127.0.0.1:8000/v1",
        base_url_env=("VLLM_BASE_URL",),
        key_env=("VLLM_API_KEY",),
        needs_key=False,
        local=True,
        default_model="default",
        models=(),
        max_temperature=None,  # vLLM checks only temperature >= 0
        # response_format json_schema: docs.vllm.ai, features/structured_outputs.
    ),
    ProviderSpec(
        name="minimax",
        label="MiniMax",
        adapter="openai",
        base_url="https://api.minimax.io/v1",
        base_url_env=("MINIMAX_BASE_URL",),
        key_env=("MINIMAX_API_KEY",),
        default_model="MiniMax-M2",
        models=("MiniMax-M2",),
        # Its OpenAI-compatible reference lists text content only: no images.
        attachments=frozenset({"text"}),
        # Keeps reasoning out of the answer text (else it arrives inside <think> tags).
        extra_body={"reasoning_split": True},
        max_temperature=1.0,  # MiniMax documents (0, 1]
        # No response_format for its M2 models: its OpenAI-compatible reference
        # (platform.minimax.io/docs/api-reference/text-chat) lists none, and its native
        # API documents it for MiniMax-Text-01 only. The prompt asks for the schema.
        structured_output="none",
        # base_resp.status_code, which MiniMax may send with HTTP 200, from its error-code
        # page (platform.minimax.io/docs/api-reference/errorcode).
        error_codes={
            "1000": "server",  # unknown error
            "1001": "timeout",  # request timeout
            "1002": "rate_limit",  # rate limit (requests per minute)
            "1004": "auth",  # not authorized / login fail
            "1008": "quota",  # insufficient balance
            "1013": "server",  # internal service error
            "1024": "server",  # internal error
            "1026": "content_filter",  # input new_sensitive
            "1027": "content_filter",  # output new_sensitive
            "1033": "server",  # system error
            "1039": "rate_limit",  # token limit (tokens per minute)
            "1041": "rate_limit",  # connection limit
            "1042": "bad_request",  # too many illegal characters in the input
            "2013": "bad_request",  # invalid parameters
            "2049": "auth",  # invalid API key
        },
    ),
    ProviderSpec(
        name="zai",
        label="Z.AI",
        adapter="openai",
        base_url="https://api.z.ai/api/paas/v4",
        base_url_env=("ZAI_BASE_URL",),
        key_env=("ZAI_API_KEY",),
        default_model="glm-4.6",
        models=("glm-4.6", "glm-4.5", "glm-4.5-air"),
        has_model_list=False,
        max_temperature=1.0,  # Z.AI documents [0, 1]
        # JSON mode only: response_format {"type": "json_object"}, no json_schema
        # (docs.z.ai/guides/capabilities/struct-output).
        structured_output="json_object",
        # Z.AI's business code for an account out of balance (docs.z.ai, error codes),
        # sent with HTTP 429 like a rate limit; retrying will not help.
        error_codes={"1113": "quota"},
    ),
    ProviderSpec(
        name="openai-compatible",
        label="OpenAI-compatible endpoint",
        adapter="openai",
        base_url=None,  # the user must say where
        base_url_env=("OPENAI_COMPATIBLE_BASE_URL",),
        key_env=("OPENAI_COMPATIBLE_API_KEY",),
        needs_key=False,
        default_model="default",
        # Any server at all (register_endpoint copies this row): let it judge.
        max_temperature=None,
    ),
    ProviderSpec(
        name="demo",
        label="ipyllm offline demo",
        adapter="openai",
        base_url="http://ipyllm-demo.invalid/v1",
        needs_key=False,
        local=True,
        default_model="demo",
        models=("demo",),
        transport="demo",  # answered in-process (demo.DemoTransport): no network
        reasoning=False,
        # The demo says what it received, so an offline notebook can show a plot sent.
        attachments=frozenset({"image", "pdf", "text"}),
    ),
)

# How a bare model name ("claude-…") maps to its provider when no prefix is given.
MODEL_PREFIXES: tuple[tuple[str, str], ...] = (
    ("gpt-", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("chatgpt-", "openai"),
    ("claude-", "anthropic"),
    ("gemini-", "gemini"),
    ("grok-", "xai"),
    ("glm-", "zai"),
    ("minimax-", "minimax"),
    ("demo", "demo"),
)

# The providers ipyllm.default_model() tries, in order, when IPYLLM_MODEL is unset: the
# first one with a key (in the environment or the keyring); with none, OFFLINE.
PREFERRED: tuple[str, ...] = (
    "anthropic",
    "openai",
    "gemini",
    "xai",
    "openrouter",
    "zai",
    "minimax",
    "fireworks",
)
OFFLINE = "demo"
"""The provider that needs no key and no network: the default when no provider has a key."""
ENDPOINT_TEMPLATE = "openai-compatible"
"""The row ``register_endpoint`` copies for a named endpoint."""
EXAMPLE_MODEL = "anthropic:claude-sonnet-4-5"
"""A ``provider:model`` name, for messages that show how to write one."""
LOCAL_EXAMPLE = "ollama"
"""A local provider, for messages that show how to name a model it serves."""


def new_adapter(kind: str) -> Adapter:
    """A fresh adapter for a row's ``adapter`` (imported on first use, so that the
    catalog stays cheap to import)."""
    if kind == "openai":
        from .openai_chat import OpenAIChatAdapter

        return OpenAIChatAdapter()
    if kind == "anthropic":
        from .anthropic import AnthropicAdapter

        return AnthropicAdapter()
    if kind == "gemini":
        from .gemini import GeminiAdapter

        return GeminiAdapter()
    if kind == "ollama":
        from .ollama import OllamaAdapter

        return OllamaAdapter()
    raise KeyError(f"no adapter {kind!r}")


def new_transport(name: str) -> Callable[[], httpx.AsyncBaseTransport]:
    """The factory of the in-process transport a row's ``transport`` names."""
    if name == "demo":
        from .demo import DemoTransport

        return DemoTransport
    raise KeyError(f"no transport {name!r}")
