"""The provider table: which providers exist, how each is configured, its default model,
where its key is, and the cached :class:`Provider` factory.

There is one table, of *effective* specs: each provider's catalog row (or the row
:func:`register_endpoint` added) with what :func:`configure` set on top. Every
reader goes through :func:`effective_spec` (:func:`parse_model`,
:func:`default_model`, :func:`key_status`, the panel's model picker, ``%llm
models`` and ``providers``, :func:`get_provider`), so a configured model list or
default model is seen everywhere at once.

:func:`get_provider` keeps one :class:`Provider` per name, base URL, key
fingerprint and insecure-HTTP opt-in, for as long as the provider's effective
spec and limits are those it was built with. When :func:`configure` or
:func:`register_endpoint` changes them, the old object is dropped and retired:
its HTTP clients are closed on the loops they belong to, a busy one once its
requests end.

Settings are checked when they are given, so a bad one fails at once, in one
line, before any request or history row: a base URL must be ``http(s)`` with a
host (from an argument, :func:`configure`, :func:`register_endpoint` or an
environment variable), and a model name must not be empty.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ._aliases import all_aliases
from ._aliases import lookup as lookup_alias
from ._engine.limits import DEFAULT_LIMITS, LIMIT_NAMES, Limits, check_limits
from ._errors import ConfigurationError, InvalidOptionError, UnknownProviderError
from ._keys import KeyStatus, explicit_key, fingerprint
from ._providers.catalog import (
    BUILTIN,
    ENDPOINT_TEMPLATE,
    EXAMPLE_MODEL,
    LOCAL_EXAMPLE,
    MODEL_PREFIXES,
    OFFLINE,
    PREFERRED,
    new_adapter,
    new_transport,
)
from ._providers.spec import ATTACHMENT_KINDS, Adapter, ProviderSpec
from ._settings_events import changed
from ._urls import check_base_url

if TYPE_CHECKING:
    from ._engine.provider import Provider
    from ._keys import KeyStore

"""Where a provider's key is: the OS keyring, the environment, nowhere yet, or not needed."""

_lock = threading.RLock()
# The rows: the catalog's, and those register_endpoint() added.
_rows: dict[str, ProviderSpec] = {spec.name: spec for spec in BUILTIN}
# What configure() set for this process, by provider: spec fields (_SPEC_SETTINGS) and
# limits (LIMIT_NAMES). The one place these live; effective_spec() applies them.
_overrides: dict[str, dict[str, Any]] = {}
_SPEC_SETTINGS = frozenset(
    {
        "base_url",
        "headers",
        "models",
        "default_model",
        "allow_insecure_http",
        "attachments",
        "attachment_urls",
        "max_document_bytes",
    }
)


class _Cached(NamedTuple):
    spec: ProviderSpec  # the effective spec and limits the provider was built with
    limits: Limits
    provider: Provider


# (name, base URL, key fingerprint, allow_insecure_http) -> the provider built for them
_cache: dict[tuple[str, str, str, bool], _Cached] = {}
_adapters: dict[str, Adapter] = {}
_key_store: KeyStore | None = None


# ---- the table ---------------------------------------------------------------------


def provider_names() -> list[str]:
    """Every provider and registered endpoint name."""
    with _lock:
        return list(_rows)


def _effective(name: str) -> ProviderSpec | None:
    with _lock:
        row = _rows.get(name)
        settings = dict(_overrides.get(name, ()))
    changes = {k: v for k, v in settings.items() if k in _SPEC_SETTINGS}
    if row is None or not changes:
        return row
    if "base_url" in changes:
        changes["base_url_env"] = ()  # configure()'s base URL wins over the environment's
    if "headers" in changes:
        changes["headers"] = {**row.headers, **changes["headers"]}
    return dataclasses.replace(row, **changes)


def effective_spec(name: str) -> ProviderSpec:
    """``name``'s row with what :func:`configure` set on top (base URL, headers, models,
    default model, insecure-HTTP opt-in); raises :class:`UnknownProviderError` with the
    choices.

    A configured base URL replaces both the row's and its environment variable's.
    """
    spec = _effective(name)
    if spec is None:
        raise UnknownProviderError(
            f"Unknown provider {name!r}. Choose one of: {', '.join(provider_names())}; "
            "or add an OpenAI-compatible endpoint with ipyllm.register_endpoint(name, base_url).",
            provider=name,
        )
    return spec


def effective_limits(name: str) -> Limits:
    """``name``'s limits: what :func:`configure` set, else the defaults."""
    with _lock:
        settings = dict(_overrides.get(name, ()))
    return DEFAULT_LIMITS.merged(**{n: settings.get(n) for n in LIMIT_NAMES})


def key_env_vars(name: str) -> Sequence[str]:
    """The environment variables that may hold ``name``'s key, in the order tried."""
    spec = _effective(name)
    return spec.key_env if spec else ()


def key_store() -> KeyStore:
    """The process-wide key store (explicit, env, then OS keyring)."""
    global _key_store
    with _lock:
        if _key_store is None:
            from ._keys import KeyStore

            _key_store = KeyStore(key_env_vars)
        return _key_store


def key_status(provider: str, keyring_problem: str | None = None) -> KeyStatus:
    """Where ``provider``'s key is, as a :class:`~ipyllm.keys.KeyStatus` (never the key):
    the one vocabulary of ``keys.status()``, ``%llm keys`` and the panel.

    ``keyring_problem`` is ``KeyStore.keyring_problem()``'s answer (``""`` for a working
    keyring), passed in when asking for many providers; found here when None. A
    problem turns ``missing`` into ``keyring unusable``. An unknown provider raises
    :class:`~ipyllm.UnknownProviderError`.
    """
    if not effective_spec(provider).needs_key:
        return KeyStatus.NOT_NEEDED
    store = key_store()
    try:
        source = store.source(provider)
    except Exception:  # a broken keyring reads as no key; setting one says why
        source = None
    if source == "env":
        return KeyStatus.ENV
    if source == "keyring":
        return KeyStatus.KEYRING
    if keyring_problem is None:
        keyring_problem = store.keyring_problem()
    return KeyStatus.UNUSABLE if keyring_problem else KeyStatus.MISSING


def default_model() -> str:
    """``IPYLLM_MODEL`` if set, else the default model of the first provider with a key,
    else the offline ``demo``."""
    env = os.environ.get("IPYLLM_MODEL", "").strip()
    if env:
        return env
    store = key_store()
    for name in PREFERRED:
        # source(), not find(): a malformed key still picks its provider, and the
        # first request then says what is wrong with it instead of falling to the demo.
        if store.source(name):
            return f"{name}:{effective_spec(name).default_model}"
    return f"{OFFLINE}:{effective_spec(OFFLINE).default_model}"


# ---- model names -------------------------------------------------------------------


def _check_model_name(model: object, origin: str) -> str:
    """``model`` stripped; :class:`ConfigurationError` if empty or holding control characters."""
    if not isinstance(model, str):
        raise ConfigurationError(
            f"A model name in {origin} must be a str, not {type(model).__name__}."
        )
    name = model.strip()
    if not name:
        raise ConfigurationError(f"A model name in {origin} is empty: name a model, e.g. 'gpt-4o'.")
    if not name.isprintable():
        raise ConfigurationError(
            f"The model name {name!r} in {origin} contains a line break or control character."
        )
    return name


def _check_models(models: Iterable[str], origin: str) -> tuple[str, ...]:
    # A lone string is iterable too, and would become a list of its letters.
    if isinstance(models, str):
        raise ConfigurationError(
            f"models in {origin} must be a list of names, e.g. models=['a', 'b'], not a str."
        )
    return tuple(_check_model_name(m, origin) for m in models)


def parse_model(model: str, *, aliases: bool = True) -> tuple[str, str]:
    """Split ``"provider:model"``, the one place every front door resolves a model name.

    In order: ``"provider:model"`` for a known provider (any model name: new ones
    appear daily); ``"provider"`` alone, its default model (the configured one, if
    any); an alias (``ipyllm.alias``, the user's then the built-in ones; not with
    ``aliases=False``); a model one provider's list (configured or the catalog's)
    holds (``llama3.2``); a bare name matched by its prefix (``claude-…``, ``gpt-…``).
    Anything else raises :class:`UnknownProviderError` before any request, with the
    nearest known names ("Did you mean 'openai:gpt-5-mini'?") when there are some.
    ``"provider:"`` (nothing after the colon) is refused with :class:`ConfigurationError`.
    """
    model = model.strip()
    head, sep, rest = model.partition(":")
    spec = _effective(head)
    if sep and spec is not None:
        if not rest.strip():
            raise ConfigurationError(
                f"No model after {head + ':'!r}: write {head}:MODEL, or just {head!r} for its "
                f"default ({spec.default_model})."
            )
        return head, _check_model_name(rest, repr(model))
    if not sep and spec is not None:  # just a provider name: its default model
        return head, spec.default_model
    if aliases and model and not sep:
        target = lookup_alias(model)
        if target is not None:
            try:
                return parse_model(target, aliases=False)
            except UnknownProviderError as err:
                raise UnknownProviderError(
                    f"The alias {model!r} stands for {target!r}: {err} (ipyllm.alias({model!r}, "
                    "MODEL) points it elsewhere.)",
                    provider=err.provider,
                ) from None
    owner = _known_models().get(model)
    if owner:
        return owner, model
    lowered = model.lower()
    for prefix, provider in MODEL_PREFIXES:
        if lowered.startswith(prefix):
            return provider, model
    close = suggest_models(model, aliases=aliases)
    if close:
        shown = " or ".join(repr(c) for c in close)
        local = f" ('{LOCAL_EXAMPLE}:{model}' for a model of a local server)" if not sep else ""
        raise UnknownProviderError(
            f"Unknown model {model!r}. Did you mean {shown}? Write the full provider:model "
            f"name{local}; %llm models lists the known models, ipyllm.alias() the short names.",
            provider=head if sep else None,
        )
    raise UnknownProviderError(
        f"Cannot tell which provider serves {model!r}. Write it as provider:model "
        f"(e.g. '{EXAMPLE_MODEL}' or '{LOCAL_EXAMPLE}:{model}'); providers: "
        f"{', '.join(provider_names())}.",
        provider=head if sep else None,
    )


def _known_models() -> dict[str, str]:
    """Each model name one provider's list (configured, else the catalog's) or default
    holds, to that provider; a name several providers list maps to ``""``."""
    owners: dict[str, str] = {}
    for name in provider_names():
        spec = _effective(name)
        if spec is None:
            continue
        for m in {*spec.models, spec.default_model} - {""}:
            owners[m] = name if owners.get(m, name) == name else ""
    return owners


def suggest_models(model: str, *, aliases: bool = True, n: int = 2) -> list[str]:
    """The known names nearest ``model`` (difflib), as ``provider:model`` or alias names:
    over every provider's models with and without the provider prefix, and the aliases.
    Only what is known here; nothing is fetched."""
    import difflib

    candidates: dict[str, str] = {}  # what is compared -> what is suggested
    for name in provider_names():
        spec = _effective(name)
        if spec is None:
            continue
        for m in (*spec.models, spec.default_model):
            if m:
                full = f"{name}:{m}"
                candidates.setdefault(full.lower(), full)
                candidates.setdefault(m.lower(), full)
    if aliases:
        for name in all_aliases():
            candidates.setdefault(name.lower(), name)
    found = difflib.get_close_matches(model.lower(), list(candidates), n=n * 3, cutoff=0.75)
    out: list[str] = []
    for key in found:
        if candidates[key] not in out:
            out.append(candidates[key])
    return out[:n]


# ---- changing the table ------------------------------------------------------------


def configure(
    provider: str,
    *,
    base_url: str | None = None,
    headers: dict[str, str] | None = None,
    models: Iterable[str] | None = None,
    default_model: str | None = None,
    allow_insecure_http: bool | None = None,
    timeout: float | None = None,
    connect_timeout: float | None = None,
    deadline: float | None = None,
    max_answer_chars: int | None = None,
    max_event_bytes: int | None = None,
    attachments: Iterable[str] | None = None,
    attachment_urls: bool | None = None,
    max_document_bytes: int | None = None,
) -> None:
    """Set a provider's defaults for this process (base URL, extra headers, model list,
    default model, limits, attachments).

    Each value is checked before any is applied. ``models`` and ``default_model``
    are what the panel's model picker, ``%llm models``, ``Session(provider)`` and
    :func:`ipyllm.default_model` then show and use. ``allow_insecure_http=True``
    lets its key go over plain ``http://`` to hosts that are not loopback or on
    a private network; ``False`` takes that back. The limits (docs/limits.md):
    ``timeout`` is the silence allowed between two chunks (default 300 s),
    ``connect_timeout`` the time to connect (15 s), ``deadline`` the whole turn,
    retries included (600 s), ``max_answer_chars`` the characters of text plus
    reasoning kept from one answer (8 Mi), ``max_event_bytes`` the largest SSE
    event or NDJSON line (8 MiB). ``attachments`` lists the kinds its models
    take (``"image"``, ``"pdf"``, ``"text"``; others are refused before sending),
    ``attachment_urls`` whether it fetches images given by URL, ``max_document_bytes``
    the largest PDF or text file it takes (a larger one is refused before sending;
    the default is the provider's documented limit). ``None`` leaves a
    setting as it is; a value given to ``Session``, ``Tab.send`` or ``%%llm`` wins
    over these.
    """
    effective_spec(provider)
    origin = f"ipyllm.configure({provider!r})"
    limits = {
        "timeout": timeout,
        "connect_timeout": connect_timeout,
        "deadline": deadline,
        "max_answer_chars": max_answer_chars,
        "max_event_bytes": max_event_bytes,
    }
    check_limits(origin, **limits)
    changes: dict[str, Any] = {name: value for name, value in limits.items() if value is not None}
    if base_url is not None:
        changes["base_url"] = check_base_url(base_url, origin)
    if headers is not None:
        changes["headers"] = dict(headers)
    if models is not None:
        changes["models"] = _check_models(models, origin)
    if default_model is not None:
        changes["default_model"] = _check_model_name(default_model, origin)
    if allow_insecure_http is not None:
        changes["allow_insecure_http"] = bool(allow_insecure_http)
    if attachments is not None:
        changes["attachments"] = _check_attachment_kinds(attachments, origin)
    if attachment_urls is not None:
        changes["attachment_urls"] = bool(attachment_urls)
    if max_document_bytes is not None:
        changes["max_document_bytes"] = _check_byte_limit(max_document_bytes, origin)
    with _lock:
        _overrides.setdefault(provider, {}).update(changes)
    retire_stale(provider)
    changed()


def register_endpoint(
    name: str,
    base_url: str,
    *,
    key_env: str | None = None,
    models: Iterable[str] = (),
    headers: dict[str, str] | None = None,
    default_model: str | None = None,
    allow_insecure_http: bool = False,
    attachments: Iterable[str] | None = None,
    max_document_bytes: int | None = None,
) -> None:
    """Add a named OpenAI-compatible endpoint, usable as ``"name:model"``.

    ``key_env`` names the environment variable holding its key; with none, the
    key comes from the OS keyring (``ipyllm.keys.set(name)``) if one is stored.
    ``allow_insecure_http=True`` lets that key go over plain ``http://`` to a
    host that is not loopback or on a private network. ``attachments`` lists the
    kinds its models take (default images and text files; ``{"image", "pdf",
    "text"}`` for a server that reads PDF file parts), ``max_document_bytes`` the
    largest PDF or text file it takes (default 32 MB, OpenAI's). Registering a name again
    replaces its row and forgets what :func:`configure` set for it.
    """
    if not name or ":" in name or any(c.isspace() for c in name):
        raise UnknownProviderError(
            f"Endpoint name {name!r} must be non-empty with no spaces or ':'.", provider=name
        )
    origin = f"ipyllm.register_endpoint({name!r})"
    base_url = check_base_url(base_url, origin)
    models = _check_models(models, origin)
    if default_model is not None:
        default_model = _check_model_name(default_model, origin)
    kinds = None if attachments is None else _check_attachment_kinds(attachments, origin)
    doc_limit = None
    if max_document_bytes is not None:
        doc_limit = _check_byte_limit(max_document_bytes, origin)
    with _lock:
        template = _rows[ENDPOINT_TEMPLATE]
    spec = dataclasses.replace(
        template,
        name=name,
        label=name,
        base_url=base_url,
        base_url_env=(),
        key_env=(key_env,) if key_env else (),
        models=models,
        default_model=default_model or (models[0] if models else "default"),
        headers=dict(headers or {}),
        allow_insecure_http=bool(allow_insecure_http),
        attachments=template.attachments if kinds is None else kinds,
        max_document_bytes=template.max_document_bytes if doc_limit is None else doc_limit,
    )
    with _lock:
        _rows[name] = spec
        _overrides.pop(name, None)
    retire_stale(name)
    changed()


def _check_attachment_kinds(kinds: Iterable[str], origin: str) -> frozenset[str]:
    chosen = frozenset([kinds] if isinstance(kinds, str) else kinds)
    unknown = sorted(chosen - ATTACHMENT_KINDS)
    if unknown:
        raise InvalidOptionError(
            f"{origin}: unknown attachment kind {', '.join(map(repr, unknown))}; "
            f"choose among {', '.join(map(repr, sorted(ATTACHMENT_KINDS)))}."
        )
    return chosen


def _check_byte_limit(value: object, origin: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidOptionError(
            f"{origin}: max_document_bytes must be a positive whole number of bytes, not {value!r}."
        )
    return value


def retire_stale(name: str) -> None:
    """Drop the cached providers of ``name`` built for other settings than its effective
    ones, and retire them (their HTTP clients are closed on their own loops)."""
    spec = _effective(name)
    limits = effective_limits(name)
    with _lock:
        stale = [
            key
            for key, cached in _cache.items()
            if key[0] == name and (cached.spec != spec or cached.limits != limits)
        ]
        retired = [_cache.pop(key).provider for key in stale]
    for provider in retired:
        provider.retire()


# ---- providers ---------------------------------------------------------------------


def _url_of_bare_host(value: str, port: int) -> str:
    """A URL for a variable that may hold a bare ``host[:port]`` (``0.0.0.0:11434``,
    ``localhost``): ``http://`` if no scheme, ``port`` if none, and the wildcard
    address a server listens on replaced by loopback, where a client connects."""
    if "://" not in value:
        value = "http://" + value
    scheme, _, rest = value.partition("://")
    host, _, path = rest.partition("/")
    if host.startswith("0.0.0.0"):
        host = "127.0.0.1" + host[len("0.0.0.0") :]
    if ":" not in host.rsplit("]", 1)[-1]:
        host += f":{port}"
    return f"{scheme}://{host}" + (f"/{path}" if path else "")


def resolve_base_url(spec: ProviderSpec, explicit: str | None = None) -> str:
    """Explicit argument, then :func:`configure`, then the environment, then the default.

    ``spec`` is an effective spec (:func:`effective_spec`), where a configured base
    URL has replaced the default and the environment variable. An explicit or
    environment value that is not an ``http(s)`` URL with a host raises
    :class:`ConfigurationError` naming where it came from.
    """
    if explicit is not None:
        return check_base_url(explicit, "the base_url argument")
    var = next((v for v in spec.base_url_env if os.environ.get(v, "").strip()), None)
    if var is not None:
        url = os.environ[var].strip()
        if spec.bare_host_port is not None:
            url = _url_of_bare_host(url, spec.bare_host_port)
        return check_base_url(url, f"the {var} environment variable")
    if not spec.base_url:
        env = spec.base_url_env[0] if spec.base_url_env else "the base URL"
        raise UnknownProviderError(
            f"{spec.label} needs a base URL: pass base_url=…, set {env}, or call "
            f"ipyllm.configure({spec.name!r}, base_url='http://host:port/v1').",
            provider=spec.name,
        )
    return spec.base_url.rstrip("/")


def _adapter(kind: str) -> Adapter:
    """The one (stateless) adapter of ``kind`` that every provider using it shares."""
    with _lock:
        adapter = _adapters.get(kind)
        if adapter is None:
            adapter = _adapters[kind] = new_adapter(kind)
        return adapter


def get_provider(
    name: str,
    api_key: str | None = None,
    base_url: str | None = None,
    *,
    allow_insecure_http: bool = False,
) -> Provider:
    """A ready :class:`Provider` for ``name``'s effective spec and limits, cached by name,
    base URL, opt-in and a fingerprint of the key.

    The key is ``api_key``, else the provider's environment variable, else the
    OS keyring. A missing key is reported when a request needs it; a malformed
    one (:class:`InvalidKeyError`), or one that would go over plain ``http://``
    to a public host (:class:`InsecureHTTPError`, unless ``allow_insecure_http``
    here or in :func:`configure`), at once.
    """
    from ._engine.provider import Provider

    spec = effective_spec(name)
    limits = effective_limits(name)
    url = resolve_base_url(spec, base_url)
    # Local servers with no key variable (demo, Ollama, LM Studio) take a key only
    # when given one, which also keeps keyring's slow import off their first use.
    keyless = spec.local and not spec.key_env and not spec.needs_key
    store = key_store()
    key: str | None
    if keyless:
        key = explicit_key(name, api_key)
    else:
        found = store.find(name, api_key)
        key = found[0] if found else None
    allow = allow_insecure_http or spec.allow_insecure_http
    cache_key = (name, url, fingerprint(key), allow)
    with _lock:
        cached = _cache.get(cache_key)
        if cached is not None and cached.spec == spec and cached.limits == limits:
            return cached.provider
        transport_factory = new_transport(spec.transport) if spec.transport else None
        provider = Provider(
            spec,
            _adapter(spec.adapter),
            base_url=url,
            api_key=key,
            key_resolver=(lambda: store.require(name)) if spec.needs_key and key is None else None,
            transport_factory=transport_factory,
            allow_insecure_http=allow,
            limits=limits,
        )
        _cache[cache_key] = _Cached(spec, limits, provider)
    if cached is not None:
        cached.provider.retire()  # built for settings that have changed since
    return provider
