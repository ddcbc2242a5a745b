"""Keys stay secret (issue 9, part 3).

A malformed key (a line break, a space, a control or non-ASCII character) is refused
before any request, in one line naming where it came from; a key a server echoes back
is masked in every form, everywhere a user, a log, a notebook or the history could keep
it. Planted keys are shaped like no vendor's, so only their registration can mask them.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import traceback
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import quote, quote_plus

import keyring
import pytest
from keyring.backend import KeyringBackend

import ipyllm
from ipyllm import _registry
from ipyllm._errors import LLMError, redact, redact_value, register_secret
from ipyllm._types import Response, ToolCall
from ipyllm.testing import FakeLLMServer, Reply

MODEL = "openai:gpt-4o-mini"


def planted() -> str:
    """A unique key no built-in pattern recognises."""
    return f"plk{uuid.uuid4().hex}{uuid.uuid4().hex[:8]}"


def pieces(key: str) -> list[str]:
    """The parts of ``key`` that would identify it: its runs of 8+ printable ASCII."""
    found = re.findall(r"[!-~]{8,}", key)
    assert found, key
    return found


def exposed(err: BaseException, caplog: pytest.LogCaptureFixture | None = None) -> str:
    """Everything a user, a log or a saved notebook could keep of ``err``."""
    texts = [str(err), repr(err), "".join(traceback.format_exception(err))]
    if isinstance(err, LLMError):
        texts += [repr(err.body), json.dumps(err.body, default=repr), repr(err.partial)]
        texts += [repr(err.response), str(err.response)]
    if caplog is not None:
        for record in caplog.records:
            texts.append(record.getMessage())
            if record.exc_info:
                texts.append("".join(traceback.format_exception(*record.exc_info)))
    return "\n".join(texts)


def assert_hidden(key: str, text: str) -> None:
    for piece in pieces(key):
        assert piece not in text


def _history_db() -> sqlite3.Connection:
    store = ipyllm.manager().history
    assert store.flush(10.0)
    assert store.path is not None
    # Read-only, and through SQLite only: opening and closing the file some other way
    # would drop the writer's POSIX locks (a documented way to corrupt SQLite).
    return sqlite3.connect(f"{store.path.as_uri()}?mode=ro", uri=True)


def history_rows(marker: str) -> list[tuple[str, str, str | None]]:
    """(status, text, error) of every stored turn whose prompt holds ``marker``."""
    db = _history_db()
    try:
        query = "SELECT status, text, error FROM turns WHERE instr(query, ?)"
        return list(db.execute(query, (marker,)))
    finally:
        db.close()


def history_dump() -> str:
    """Every table of the history database as SQL text, every column of every row."""
    db = _history_db()
    try:
        return "\n".join(db.iterdump())
    finally:
        db.close()


class MemoryKeyring(KeyringBackend):
    """An in-memory OS keyring stand-in that counts writes."""

    priority: float = 1
    viable = False  # never chosen by keyring's own discovery

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}
        self.sets = 0

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.sets += 1
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


@pytest.fixture
def memory() -> Iterator[MemoryKeyring]:
    original = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    _registry.key_store().clear_cache()
    yield backend
    keyring.set_keyring(original)
    _registry.key_store().clear_cache()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


# -- malformed keys are refused before any request ------------------------------------


def test_key_with_a_newline_in_the_environment_never_leaves(
    fake: FakeLLMServer, monkeypatch: pytest.MonkeyPatch, logs: pytest.LogCaptureFixture
) -> None:
    key = f"{planted()}\n{planted()}"  # pasted badly: two lines
    monkeypatch.setenv("OPENAI_API_KEY", key)
    with pytest.raises(ipyllm.InvalidKeyError) as info:
        ipyllm.Session(MODEL, base_url=fake.base_url("openai"))
    err = info.value
    assert isinstance(err, ipyllm.MissingKeyError)
    message = str(err)
    assert "\n" not in message
    assert "the OPENAI_API_KEY environment variable" in message
    assert "line break" in message
    assert_hidden(key, exposed(err, logs))
    assert fake.requests == []


def test_key_with_a_newline_through_a_tab_leaves_no_trace_in_history(
    fake: FakeLLMServer, monkeypatch: pytest.MonkeyPatch, logs: pytest.LogCaptureFixture
) -> None:
    key = f"{planted()}\n{planted()}"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    marker = f"newline-key-{uuid.uuid4().hex}"
    tab = ipyllm.manager().new_tab(model=MODEL)
    try:
        handle = tab.send(marker, base_url=fake.base_url("openai"), max_retries=0)
        with pytest.raises(ipyllm.InvalidKeyError) as info:
            handle.result()
        assert_hidden(key, exposed(info.value, logs))
        assert_hidden(key, tab.error or "")
        assert fake.requests == []
        rows = history_rows(marker)
        assert [status for status, _, _ in rows] == ["error"]
        assert "OPENAI_API_KEY" in (rows[0][2] or "")
        assert_hidden(key, history_dump())
    finally:
        tab.close()


def test_non_ascii_key_argument_is_refused_naming_the_argument(
    fake: FakeLLMServer, logs: pytest.LogCaptureFixture
) -> None:
    key = f"{planted()}\u2026"  # copied from a display that shortened it
    with pytest.raises(ipyllm.InvalidKeyError) as info:
        ipyllm.Session(MODEL, api_key=key, base_url=fake.base_url("openai"))
    message = str(info.value)
    assert "\n" not in message
    assert "the api_key argument" in message
    assert "non-ASCII" in message
    assert "HORIZONTAL ELLIPSIS" in message
    assert not isinstance(info.value.__context__, UnicodeError)
    assert_hidden(key, exposed(info.value, logs))
    assert fake.requests == []


def test_malformed_key_in_the_keyring_is_named_as_such(
    fake: FakeLLMServer, memory: MemoryKeyring, logs: pytest.LogCaptureFixture
) -> None:
    key = f"{planted()} {planted()}"  # a space inside
    memory.store[("ipyllm", "openai")] = key
    with pytest.raises(ipyllm.InvalidKeyError) as info:
        ipyllm.Session(MODEL, base_url=fake.base_url("openai"))
    message = str(info.value)
    assert "the OS keyring" in message
    assert "a space" in message
    assert "ipyllm.keys.set('openai')" in message
    assert_hidden(key, exposed(info.value, logs))
    assert fake.requests == []
    # Listing keys still works and shows where the (bad) key is.
    assert ipyllm.keys.status()["openai"] == "keyring"


@pytest.mark.parametrize(
    ("inside", "what"),
    [
        ("\n", "a line break"),
        ("\r", "a line break"),
        ("\t", "a tab"),
        (" ", "a space"),
        ("\x07", "a control character (U+0007)"),
        ("\x7f", "a control character (U+007F)"),
        ("\u00a0", "a non-ASCII character (U+00A0 NO-BREAK SPACE)"),
        ("\u201d", "a non-ASCII character (U+201D RIGHT DOUBLE QUOTATION MARK)"),
        ("\u00e9", "a non-ASCII character (U+00E9 LATIN SMALL LETTER E WITH ACUTE)"),
    ],
)
def test_every_kind_of_bad_character_is_named(inside: str, what: str) -> None:
    first, second = planted(), planted()
    key = first + inside + second
    with pytest.raises(ipyllm.InvalidKeyError) as info:
        ipyllm.get_provider("openai", api_key=key)
    message = str(info.value)
    assert f"{what} at character {len(first) + 1} of {len(key)}" in message
    assert "\n" not in message
    assert_hidden(key, exposed(info.value))


def test_keyless_local_providers_check_an_explicit_key_too() -> None:
    key = f"{planted()}\n{planted()}"
    with pytest.raises(ipyllm.InvalidKeyError, match="api_key argument") as info:
        ipyllm.get_provider("ollama", api_key=key)
    assert_hidden(key, exposed(info.value))


def test_surrounding_whitespace_is_still_just_stripped(fake: FakeLLMServer) -> None:
    key = planted()
    fake.add_reply("fine")
    session = ipyllm.Session(MODEL, api_key=f"  {key}\r\n", base_url=fake.base_url("openai"))
    assert session.ask("hi").text == "fine"
    assert fake.requests[0].headers["authorization"] == f"Bearer {key}"


def test_keys_set_refuses_a_malformed_key_before_storing(memory: MemoryKeyring) -> None:
    key = f"{planted()}\n{planted()}"
    with pytest.raises(ipyllm.InvalidKeyError) as info:
        ipyllm.keys.set("openai", key)
    assert "nothing was stored" in str(info.value)
    assert memory.sets == 0
    assert memory.store == {}
    assert_hidden(key, exposed(info.value))


# -- a key echoed by the server is masked everywhere ----------------------------------


def test_key_echoed_in_an_error_body_is_masked_everywhere(
    fake: FakeLLMServer, logs: pytest.LogCaptureFixture
) -> None:
    key = planted()
    body = {
        "error": {
            "message": f"Incorrect API key provided: {key}",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
            "details": [{"header": f"Authorization: Bearer {key}"}, {"url": f"?key={quote(key)}"}],
        },
        key: "the key as a field name",
    }
    fake.add_reply(
        status=401, body=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    marker = f"echo-{uuid.uuid4().hex}"
    session = ipyllm.Session(MODEL, api_key=key, base_url=fake.base_url("openai"))
    try:
        with pytest.raises(ipyllm.AuthenticationError) as info:
            session.ask(marker)
        err = info.value
        assert len(fake.requests) == 1  # the key did go out: the server is what echoed it
        assert err.body["error"]["code"] == "invalid_api_key"  # the body is still useful
        assert "[REDACTED]" in err.body["error"]["message"]
        assert_hidden(key, exposed(err, logs))
        assert_hidden(key, session.tab.error or "")
        rows = history_rows(marker)
        assert [status for status, _, _ in rows] == ["error"]
        assert_hidden(key, history_dump())
    finally:
        session.tab.close()


def test_key_echoed_mid_stream_is_masked_in_partial_and_response(
    fake: FakeLLMServer, logs: pytest.LogCaptureFixture
) -> None:
    key = planted()
    fake.add_reply(
        Reply(
            ["Your ", "key ", "is ", key, " and"],
            error_after=4,
            status=500,
            error_message=f"upstream rejected {key!r}",
        )
    )
    marker = f"midstream-{uuid.uuid4().hex}"
    session = ipyllm.Session(MODEL, api_key=key, base_url=fake.base_url("openai"), max_retries=0)
    try:
        with pytest.raises(ipyllm.LLMError) as info:
            session.ask(marker)
        err = info.value
        assert err.mid_stream
        assert err.partial.startswith("Your key is ")
        assert err.response is not None
        assert err.response.text == err.partial
        assert_hidden(key, exposed(err, logs))
        assert session.last is not None
        assert_hidden(key, repr(session.last))
        rows = history_rows(marker)
        assert [status for status, _, _ in rows] == ["error"]
        assert_hidden(key, history_dump())
    finally:
        session.tab.close()


# -- redaction units ------------------------------------------------------------------


def awkward_key() -> tuple[str, list[str]]:
    """A key with characters every encoding changes, and its identifying chunks.

    No run of 8 printable ASCII characters: only the form itself, not a registered
    piece of the key, can mask it.
    """
    chunks = [uuid.uuid4().hex[:5] for _ in range(5)]
    a, b, c, d, e = chunks
    return f"{a}é{b}\n{c}\t'\"\\\t{d} +/= {e}", chunks


@pytest.mark.parametrize(
    "form",
    [
        pytest.param(lambda k: k, id="raw"),
        pytest.param(repr, id="repr"),
        pytest.param(lambda k: repr(k.encode()), id="repr-bytes"),
        pytest.param(ascii, id="ascii"),
        pytest.param(json.dumps, id="json"),
        pytest.param(lambda k: json.dumps(k, ensure_ascii=False), id="json-utf8"),
        pytest.param(lambda k: quote(k, safe=""), id="quote"),
        pytest.param(quote, id="quote-path"),
        pytest.param(quote_plus, id="quote_plus"),
        pytest.param(lambda k: quote(k, safe="").lower(), id="quote-lower-hex"),
        pytest.param(lambda k: f"Bearer {k}", id="bearer"),
        pytest.param(lambda k: repr(f"Bearer {k}".encode()), id="bearer-header-bytes"),
    ],
)
def test_redact_masks_every_form_of_a_registered_key(form: Callable[[str], str]) -> None:
    key, chunks = awkward_key()
    register_secret(key)
    text = f"Illegal header value {form(key)} (check the base URL)"
    assert all(chunk in text for chunk in chunks)
    scrubbed = redact(text)
    assert [chunk for chunk in chunks if chunk in scrubbed] == []
    assert "[REDACTED]" in scrubbed
    assert scrubbed.startswith("Illegal header value ")
    assert scrubbed.endswith(" (check the base URL)")


def test_redact_masks_a_piece_of_a_key_cut_at_its_line_break() -> None:
    first, second = planted(), planted()
    register_secret(f"{first}\n{second}")
    assert first not in redact(f"header value b'Bearer {first}'")
    assert second not in redact(f"then {second} alone")


def test_unregistered_bearer_credentials_are_masked_but_prose_is_not() -> None:
    token = f"tok{uuid.uuid4().hex}"
    assert token not in redact(f"Authorization: Bearer {token}")
    assert token not in redact(f'{{"authorization": "bearer {token}"}}')
    for prose in ("Missing Bearer token.", "Bearer authentication required"):
        assert redact(prose) == prose


def test_redact_value_goes_deep_and_leaves_the_rest_alone() -> None:
    key = planted()
    register_secret(key)
    response = Response(
        text=f"the key is {key}",
        reasoning=key,
        model="m",
        tool_calls=[ToolCall(id="1", name="f", arguments=json.dumps({"k": key}))],
        tokens_in=3,
    )
    value = {
        "list": [key, 1, None, (f"x{key}", 2.5)],
        key: {"nested": [{"deep": key.encode()}]},
        "response": response,
    }
    scrubbed = redact_value(value)
    assert key not in repr(scrubbed)
    assert scrubbed["list"][1:3] == [1, None]
    assert scrubbed["list"][3][1] == 2.5
    assert isinstance(scrubbed["response"], Response)
    assert scrubbed["response"].tokens_in == 3
    assert scrubbed["response"].model == "m"
    assert key in response.text  # the original is not changed in place
    clean = Response(text="nothing secret here")
    assert redact_value(clean) is clean


def test_error_scrubs_body_partial_and_response_it_is_given() -> None:
    key = planted()
    register_secret(key)
    err = ipyllm.ServerError(
        f"boom {key}",
        body={"error": {"message": key}},
        partial=f"half {key}",
        response=Response(text=f"half {key}"),
    )
    assert_hidden(key, exposed(err))
