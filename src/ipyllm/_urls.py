"""Base URLs: what a valid one looks like, and where a key may go without TLS.

The cleartext rule: a key goes over plain ``http://`` only to a host that is
loopback or on a private network, judged from the URL alone (no DNS lookup,
which could be answered by anyone):

* IP literals in ``127.0.0.0/8``, ``10.0.0.0/8``, ``172.16.0.0/12``,
  ``192.168.0.0/16``, ``::1``, ``fc00::/7`` (IPv6 unique local), the
  unspecified ``0.0.0.0`` / ``::`` (they connect to this machine), and
  IPv4-mapped IPv6 forms of these;
* the names ``localhost`` and ``*.local`` (mDNS).

Every other ``http://`` host, names that merely look internal included, counts
as the public internet; ``allow_insecure_http=True`` lifts the rule.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from ._errors import ConfigurationError, InsecureHTTPError

__all__ = ["check_base_url", "cleartext_host", "insecure_http_error", "is_local_host"]

_LOCAL_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "0.0.0.0/32",
        "::1/128",
        "::/128",
        "fc00::/7",
    )
)
_EXAMPLES = "'https://api.example.com/v1' or 'http://127.0.0.1:8000/v1'"


def check_base_url(url: object, origin: str) -> str:
    """``url`` without a trailing ``/``; :class:`ConfigurationError` naming ``origin``
    (e.g. ``"the base_url argument"``) unless it is an ``http(s)`` URL with a host."""
    problem = _problem(url)
    if problem is not None:
        shown = repr(url) if not isinstance(url, str) or len(url) <= 80 else repr(url[:80] + "…")
        raise ConfigurationError(
            f"Invalid base URL {shown} from {origin}: {problem}. "
            f"Give an http:// or https:// URL with a host, like {_EXAMPLES}."
        )
    assert isinstance(url, str)
    return url.strip().rstrip("/")


def _problem(url: object) -> str | None:
    if not isinstance(url, str):
        return f"it must be a str, not {type(url).__name__}"
    url = url.strip()
    if not url:
        return "it is empty"
    # urlsplit silently drops tabs and line breaks; a URL holding them was mangled.
    if any(c.isspace() or not c.isprintable() for c in url):
        return "it contains spaces or control characters"
    scheme, sep, _ = url.partition("://")
    if not sep:
        return "it does not start with http:// or https://"
    if scheme.lower() not in ("http", "https"):
        return f"its scheme is {scheme!r}, not http or https"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises ValueError for a port that is not a number
    except ValueError as exc:
        return f"it cannot be parsed ({exc})"
    if not parts.hostname:
        return "it has no host"
    return None


def is_local_host(host: str) -> bool:
    """Whether ``host`` (as in a URL, brackets optional) is loopback or on a private
    network by the rule in this module's docstring. Never resolves a name."""
    host = host.strip().strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".local"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name: it may resolve anywhere
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in net for net in _LOCAL_NETWORKS)


def cleartext_host(url: str) -> str | None:
    """The host a key to ``url`` would reach in cleartext over the open internet, or
    None when it may go there: ``https://``, or ``http://`` to a local host."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "http":
        return None
    host = parts.hostname or ""
    return None if is_local_host(host) else host


def insecure_http_error(provider: str, label: str, host: str) -> InsecureHTTPError:
    """The error for a key that would go in cleartext to ``host``, naming the opt-in."""
    return InsecureHTTPError(
        f"Refusing to send the {label} API key over plain http:// to {host}: anyone on the "
        "way could read it. Use https://, or if you trust that network, pass "
        f"allow_insecure_http=True (to ipyllm.configure({provider!r}, …), "
        "ipyllm.register_endpoint or Session).",
        provider=provider,
    )
