"""No key over cleartext to the internet (issue 9, part 4).

The rule is tested as a pure function for every kind of host; end to end, only the
loopback fake server and ``.invalid`` names (which never resolve) are used, so no test
sends a packet to another machine.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

import ipyllm
from ipyllm._urls import cleartext_host, is_local_host
from ipyllm.testing import FakeLLMServer

PUBLIC = "http://api.example.invalid/v1"  # public-looking, and can never resolve


def planted() -> str:
    return f"plk{uuid.uuid4().hex}"


def endpoint(allow_insecure_http: bool = False) -> tuple[str, str]:
    """A fresh endpoint at :data:`PUBLIC` whose key is in its own variable: (name, variable)."""
    name = f"ep{uuid.uuid4().hex[:8]}"
    var = f"IPYLLM_TEST_{name.upper()}_KEY"
    ipyllm.register_endpoint(
        name, PUBLIC, key_env=var, models=["m"], allow_insecure_http=allow_insecure_http
    )
    return name, var


# -- the rule, as a pure function -------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/v1",
        "http://127.45.6.7/v1",
        "http://[::1]:11434",
        "http://[::ffff:127.0.0.1]:8000/v1",
        "http://10.0.0.5/v1",
        "http://10.255.255.255:8080",
        "http://172.16.0.1/v1",
        "http://172.31.255.254/v1",
        "http://192.168.1.10:1234/v1",
        "http://[fd12:3456::1]/v1",
        "http://0.0.0.0:8000/v1",
        "http://localhost:11434",
        "http://LOCALHOST./v1",
        "http://gpu-box.local:8000/v1",
        "https://api.openai.com/v1",
        "https://8.8.8.8/v1",
        "https://some-host.example/v1",
    ],
)
def test_keys_may_go_to_https_and_local_hosts(url: str) -> None:
    assert cleartext_host(url) is None


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://some-host.example/v1", "some-host.example"),
        ("http://8.8.8.8/v1", "8.8.8.8"),
        ("http://172.32.0.1/v1", "172.32.0.1"),
        ("http://169.254.169.254/", "169.254.169.254"),
        ("http://[2001:db8::1]:8000/v1", "2001:db8::1"),
        ("http://[::ffff:8.8.8.8]/v1", "::ffff:8.8.8.8"),
        ("http://localhost.example.com/v1", "localhost.example.com"),
        ("http://127.0.0.1.nip.io/v1", "127.0.0.1.nip.io"),
        ("http://2130706433/v1", "2130706433"),  # 127.0.0.1 as one number: not a literal
        ("http://gpu-box.lan:8000/v1", "gpu-box.lan"),
        ("HTTP://API.EXAMPLE.COM/v1", "api.example.com"),
    ],
)
def test_keys_never_go_in_cleartext_to_other_hosts(url: str, host: str) -> None:
    assert cleartext_host(url) == host


def test_host_check_never_resolves_names() -> None:
    # "localhost"-looking names that DNS could point anywhere are public.
    assert not is_local_host("localhost.evil.example")
    assert not is_local_host("my-localhost")
    assert is_local_host("[::1]")


def test_a_key_to_a_public_http_url_is_refused_naming_the_opt_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = planted()
    with pytest.raises(ipyllm.InsecureHTTPError) as info:
        ipyllm.get_provider("openai", api_key=key, base_url="http://8.8.8.8/v1")
    message = str(info.value)
    assert "\n" not in message
    assert "8.8.8.8" in message
    assert "allow_insecure_http=True" in message
    assert key not in message
    # The opt-in lifts it (building a provider connects to nothing).
    provider = ipyllm.get_provider(
        "openai", api_key=key, base_url="http://8.8.8.8/v1", allow_insecure_http=True
    )
    assert provider.base_url == "http://8.8.8.8/v1"


def test_the_opt_in_is_part_of_the_provider_cache_key() -> None:
    key = planted()
    allowed = ipyllm.get_provider("openai", api_key=key, base_url=PUBLIC, allow_insecure_http=True)
    with pytest.raises(ipyllm.InsecureHTTPError):
        ipyllm.get_provider("openai", api_key=key, base_url=PUBLIC)
    again = ipyllm.get_provider("openai", api_key=key, base_url=PUBLIC, allow_insecure_http=True)
    assert again is allowed


def test_private_networks_take_a_key_over_http() -> None:
    for url in ("http://10.1.2.3:8000/v1", "http://192.168.0.7/v1", "http://printer.local/v1"):
        provider = ipyllm.get_provider("openai", api_key=planted(), base_url=url)
        assert provider.base_url == url


def test_keyless_providers_are_unaffected() -> None:
    provider = ipyllm.get_provider("ollama", base_url="http://8.8.8.8:11434")
    assert provider.base_url == "http://8.8.8.8:11434"


def test_endpoint_key_from_its_variable_is_refused_and_opt_ins_lift_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name, var = endpoint()
    monkeypatch.setenv(var, planted())
    with pytest.raises(ipyllm.InsecureHTTPError, match=r"api\.example\.invalid"):
        ipyllm.get_provider(name)

    ipyllm.configure(name, allow_insecure_http=True)
    assert ipyllm.get_provider(name).base_url == PUBLIC
    ipyllm.configure(name, allow_insecure_http=False)
    with pytest.raises(ipyllm.InsecureHTTPError):
        ipyllm.get_provider(name)

    trusted, trusted_var = endpoint(allow_insecure_http=True)
    monkeypatch.setenv(trusted_var, planted())
    assert ipyllm.get_provider(trusted).base_url == PUBLIC


def test_a_key_found_only_at_request_time_is_refused_before_connecting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No key when the provider is built (it then looks one up per request)...
    provider = ipyllm.get_provider("openai", base_url=PUBLIC)
    # ...and one appears later: it must not go out either.
    monkeypatch.setenv("OPENAI_API_KEY", planted())
    options = ipyllm.Options(model="gpt-4o-mini")
    with pytest.raises(ipyllm.InsecureHTTPError):
        asyncio.run(provider.query([{"role": "user", "content": "hi"}], options))


# -- end to end: loopback only, and .invalid names ------------------------------------


def test_session_to_a_public_http_url_is_refused_and_the_opt_in_reaches_the_request() -> None:
    key = planted()
    with pytest.raises(ipyllm.InsecureHTTPError):
        ipyllm.Session("openai:gpt-4o-mini", api_key=key, base_url=PUBLIC)

    session = ipyllm.Session(
        "openai:gpt-4o-mini",
        api_key=key,
        base_url=PUBLIC,
        allow_insecure_http=True,
        max_retries=0,
        connect_timeout=5,
    )
    try:
        # The name cannot resolve: getting that far proves the refusal is gone for the
        # turn too (it builds its own provider from the Session's settings).
        with pytest.raises(ipyllm.ConnectionError) as info:
            session.ask("hi")
        assert key not in str(info.value)
    finally:
        session.tab.close()


def test_a_per_turn_base_url_is_held_to_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", planted())
    tab = ipyllm.manager().new_tab(model="openai:gpt-4o-mini")
    try:
        handle = tab.send("hi", base_url=PUBLIC, max_retries=0)
        with pytest.raises(ipyllm.InsecureHTTPError):
            handle.result()
    finally:
        tab.close()


def test_a_key_goes_to_the_loopback_fake_server(fake: FakeLLMServer) -> None:
    key = planted()
    assert fake.base_url("openai").startswith("http://127.0.0.1:")
    fake.add_reply("over loopback")
    session = ipyllm.Session("openai:gpt-4o-mini", api_key=key, base_url=fake.base_url("openai"))
    try:
        assert session.ask("hi").text == "over loopback"
        assert fake.requests[0].headers["authorization"] == f"Bearer {key}"
    finally:
        session.tab.close()


def test_a_keyless_provider_over_public_http_just_tries_to_connect() -> None:
    session = ipyllm.Session(
        "ollama:llama3",
        base_url="http://ollama.example.invalid:11434",
        max_retries=0,
        connect_timeout=5,
    )
    try:
        with pytest.raises(ipyllm.ConnectionError):
            session.ask("hi")
    finally:
        session.tab.close()
