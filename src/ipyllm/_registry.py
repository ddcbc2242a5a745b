"""Which providers exist, how each is configured, and the cached :class:`Provider` factory."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ._errors import UnknownProviderError
from ._providers.catalog import BUILTIN, MODEL_PREFIXES
from ._providers.spec import Adapter, ProviderSpec

if TYPE_CHECKING:
    from ._engine.provider import Provider
    from ._keys import KeyStore

_lock = threading.RLock()
_specs: dict[str, ProviderSpec] = {spec.name: spec for spec in BUILTIN}
_overrides: dict[str, dict[str, Any]] = {}
_cache: dict[tuple[str, str, str, int], Provider] = {}
_generation = 0  # bumped by configure() so cached providers pick up new settings
_adapters: dict[str, Adapter] = {}
_key_store: KeyStore | None = None


def provider_names() -> list[str]:
    """Every provider and registered endpoint name."""
    with _lock:
        return list(_specs)


def spec_for(name: str) -> ProviderSpec:
    """The table row for ``name``; raises :class:`UnknownProviderError` with the choices."""
    with _lock:
        spec = _specs.get(name)
    if spec is None:
        raise UnknownProviderError(
            f"Unknown provider {name!r}. Choose one of: {', '.join(provider_names())}; "
            "or add an OpenAI-compatible endpoint with ipyllm.register_endpoint(name, base_url).",
            provider=name,
        )
    return spec


def key_env_vars(name: str) -> Sequence[str]:
    """The environment variables that may hold ``name``'s key, in the order tried."""
    with _lock:
        spec = _specs.get(name)
    return spec.key_env if spec else ()


def key_store() -> KeyStore:
    """The process-wide key store (explicit, env, then OS keyring)."""
    global _key_store
    with _lock:
        if _key_store is None:
            from ._keys import KeyStore

            _key_store = KeyStore(key_env_vars)
        return _key_store


def parse_model(model: str) -> tuple[str, str]:
    """Split ``"provider:model"``; a bare model name is matched by its prefix (``claude-…``)."""
    model = model.strip()
    head, sep, rest = model.partition(":")
    with _lock:
        known = head in _specs
    if sep and known:
        return head, rest or spec_for(head).default_model
    if not sep and known:  # just a provider name: its default model
        return head, spec_for(head).default_model
    lowered = model.lower()
    for prefix, provider in MODEL_PREFIXES:
        if lowered.startswith(prefix):
            return provider, model
    raise UnknownProviderError(
        f"Cannot tell which provider serves {model!r}. Write it as provider:model "
        f"(e.g. 'anthropic:claude-sonnet-4-5' or 'ollama:{model}'); providers: "
        f"{', '.join(provider_names())}.",
        provider=head if sep else None,
    )


def configure(
    provider: str,
    *,
    base_url: str | None = None,
    headers: dict[str, str] | None = None,
    models: Iterable[str] | None = None,
    default_model: str | None = None,
) -> None:
    """Set a provider's defaults for this process (base URL, extra headers, model list)."""
    global _generation
    spec_for(provider)
    with _lock:
        settings = _overrides.setdefault(provider, {})
        if base_url is not None:
            settings["base_url"] = base_url
        if headers is not None:
            settings["headers"] = dict(headers)
        if models is not None:
            settings["models"] = tuple(models)
        if default_model is not None:
            settings["default_model"] = default_model
        _generation += 1


def register_endpoint(
    name: str,
    base_url: str,
    *,
    key_env: str | None = None,
    models: Iterable[str] = (),
    headers: dict[str, str] | None = None,
    default_model: str | None = None,
) -> None:
    """Add a named OpenAI-compatible endpoint, usable as ``"name:model"``.

    ``key_env`` names the environment variable holding its key; with none, the
    key comes from the OS keyring (``ipyllm.keys.set(name)``) if one is stored.
    """
    global _generation
    if not name or ":" in name or any(c.isspace() for c in name):
        raise UnknownProviderError(
            f"Endpoint name {name!r} must be non-empty with no spaces or ':'.", provider=name
        )
    models = tuple(models)
    spec = dataclasses.replace(
        spec_for("openai-compatible"),
        name=name,
        label=name,
        base_url=base_url,
        base_url_env=(),
        key_env=(key_env,) if key_env else (),
        models=models,
        default_model=default_model or (models[0] if models else "default"),
        headers=dict(headers or {}),
    )
    with _lock:
        _specs[name] = spec
        _overrides.pop(name, None)
        _generation += 1


def _normalize_ollama_host(value: str) -> str:
    # OLLAMA_HOST is often "0.0.0.0:11434" or "localhost": no scheme, maybe no port.
    if "://" not in value:
        value = "http://" + value
    scheme, _, rest = value.partition("://")
    host, _, path = rest.partition("/")
    if host.startswith("0.0.0.0"):
        host = "127.0.0.1" + host[len("0.0.0.0") :]
    if ":" not in host.rsplit("]", 1)[-1]:
        host += ":11434"
    return f"{scheme}://{host}" + (f"/{path}" if path else "")


def resolve_base_url(spec: ProviderSpec, explicit: str | None = None) -> str:
    """Explicit argument, then :func:`configure`, then the environment, then the default."""
    with _lock:
        configured = _overrides.get(spec.name, {}).get("base_url")
    url = explicit or configured
    if not url:
        url = next((os.environ[v] for v in spec.base_url_env if os.environ.get(v)), None)
        if url and spec.name == "ollama":
            url = _normalize_ollama_host(url)
    url = url or spec.base_url
    if not url:
        env = spec.base_url_env[0] if spec.base_url_env else "the base URL"
        raise UnknownProviderError(
            f"{spec.label} needs a base URL: pass base_url=…, set {env}, or call "
            f"ipyllm.configure({spec.name!r}, base_url='http://host:port/v1').",
            provider=spec.name,
        )
    return url.rstrip("/")


def _adapter(kind: str) -> Adapter:
    with _lock:
        if kind not in _adapters:
            from ._providers.anthropic import AnthropicAdapter
            from ._providers.gemini import GeminiAdapter
            from ._providers.ollama import OllamaAdapter
            from ._providers.openai_chat import OpenAIChatAdapter

            _adapters.update(
                openai=OpenAIChatAdapter(),
                demo=OpenAIChatAdapter(),
                anthropic=AnthropicAdapter(),
                gemini=GeminiAdapter(),
                ollama=OllamaAdapter(),
            )
        return _adapters[kind]


def _fingerprint(key: str | None) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16] if key else "-"


def get_provider(name: str, api_key: str | None = None, base_url: str | None = None) -> Provider:
    """A ready :class:`Provider`, cached by name, base URL and a fingerprint of the key.

    The key is ``api_key``, else the provider's environment variable, else the
    OS keyring. A missing key is reported when a request needs it.
    """
    from ._engine.provider import Provider

    spec = spec_for(name)
    url = resolve_base_url(spec, base_url)
    # Local servers with no key variable (demo, Ollama, LM Studio) take a key only
    # when given one, which also keeps keyring's slow import off their first use.
    keyless = spec.local and not spec.key_env and not spec.needs_key
    store = key_store()
    found = (api_key, "explicit") if keyless else store.find(name, api_key)
    key = found[0] if found else None
    cache_key = (name, url, _fingerprint(key), _generation)
    with _lock:
        cached = _cache.get(cache_key)
        if cached is not None:
            return cached
        settings = dict(_overrides.get(name, {}))
        if settings.get("default_model"):
            spec = dataclasses.replace(spec, default_model=settings["default_model"])
        transport_factory = None
        if spec.name == "demo":
            from ._providers.demo import DemoTransport

            transport_factory = DemoTransport
        provider = Provider(
            spec,
            _adapter(spec.adapter),
            base_url=url,
            api_key=key,
            key_resolver=(lambda: store.require(name)) if spec.needs_key and key is None else None,
            transport_factory=transport_factory,
            models=settings.get("models"),
            headers=settings.get("headers"),
        )
        _cache[cache_key] = provider
        return provider
