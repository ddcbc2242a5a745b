"""A ``%%llm`` cell whose request could not even be sent changes nothing: the tab keeps
its model and turns, no footer is printed and nothing counts in ``%llm usage``. A
request that was sent and failed still shows its footer and counts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import keyring
import pytest
from IPython.core.interactiveshell import InteractiveShell
from keyring.backend import KeyringBackend

import ipyllm
from fake_endpoints import fake_endpoint
from ipyllm import _registry
from ipyllm.testing import FakeLLMServer, Reply
from magic_helpers import cell, usage_error

pytestmark = pytest.mark.usefixtures("restore_provider_settings")


@pytest.fixture
def model(fake: FakeLLMServer) -> str:
    """A keyless endpoint on the fake server; returns its ``provider:model``."""
    return fake_endpoint(fake)


class EmptyKeyring(KeyringBackend):
    """A working keyring holding no key: openai's key is missing, not unusable."""

    priority: float = 1
    viable = False

    def get_password(self, service: str, username: str) -> str | None:
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        raise AssertionError("nothing is stored here")

    def delete_password(self, service: str, username: str) -> None:
        pass


@pytest.fixture(autouse=True)
def no_openai_key() -> Iterator[None]:
    original = keyring.get_keyring()
    keyring.set_keyring(EmptyKeyring())
    _registry.key_store().clear_cache()
    yield
    keyring.set_keyring(original)
    _registry.key_store().clear_cache()


def listing(ip: InteractiveShell, capsys: pytest.CaptureFixture[str], command: str) -> str:
    capsys.readouterr()
    shown = ip.run_line_magic("llm", command)
    return capsys.readouterr().out + (repr(shown) if shown is not None else "")


def test_a_cell_without_a_key_changes_nothing(
    ip: InteractiveShell, fake: FakeLLMServer, model: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.add_reply("first")
    assert cell(ip, model, "one").success
    tabs_before = listing(ip, capsys, "tabs")
    usage_before = listing(ip, capsys, "usage")
    requests = len(fake.requests)

    capsys.readouterr()
    failed = cell(ip, "openai:gpt-5-mni", "two")
    out = capsys.readouterr().out
    message = usage_error(failed)
    assert message.startswith("No API key for openai.")
    assert "\n" not in message
    assert "failed" not in out  # no footer: "$0 · total 0.00 s · failed"
    assert " · " not in out
    assert len(fake.requests) == requests

    assert listing(ip, capsys, "tabs") == tabs_before
    assert listing(ip, capsys, "usage") == usage_before
    tab = ipyllm.manager().tabs[0]
    assert tab.model == model
    assert [t.query for t in tab.turns] == ["one"]

    fake.add_reply("second")
    again = cell(ip, "", "three")
    assert again.success, again.error_in_exec
    assert fake.requests[-1].json["model"] == "m"
    assert [t.query for t in tab.turns] == ["one", "three"]


def test_a_first_cell_without_a_key_opens_no_tab(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "No API key for openai." in usage_error(cell(ip, "openai:gpt-5-mni", "hi"))
    assert listing(ip, capsys, "tabs").strip() == "No tabs yet."
    assert ipyllm.usage().total.turns == 0


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("nosuch:m", "nosuch"),  # an unknown provider
        ("openai:gpt-5-mni", "No API key"),  # on a named tab too
        ("{model} -n 0", "max_tokens"),  # a bad option
        ("openai:gpt-5-mni -T 0.5", "No API key"),  # whatever the options
        ("{model} --base-url ftp://x", "http"),  # a bad base URL
    ],
)
def test_other_failures_before_sending_change_nothing(
    ip: InteractiveShell,
    fake: FakeLLMServer,
    model: str,
    capsys: pytest.CaptureFixture[str],
    line: str,
    expected: str,
) -> None:
    fake.add_reply("first")
    assert cell(ip, f"{model} -t work", "one").success
    tabs_before = listing(ip, capsys, "tabs")
    requests = len(fake.requests)
    capsys.readouterr()
    failed = cell(ip, line.format(model=model) + " -t work", "two")
    assert expected in usage_error(failed)
    assert " · " not in capsys.readouterr().out
    assert len(fake.requests) == requests
    assert listing(ip, capsys, "tabs") == tabs_before
    assert ipyllm.manager().tab("work").model == model


def test_a_refused_attachment_keeps_the_tab_model(
    ip: InteractiveShell, fake: FakeLLMServer, model: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    from PIL import Image as PIL

    text_only = f"text{uuid.uuid4().hex[:6]}"
    ipyllm.register_endpoint(text_only, fake.base_url("openai"), models=["t"], attachments=())
    fake.add_reply("first")
    assert cell(ip, model, "one").success
    png = io.BytesIO()
    PIL.new("RGB", (4, 4)).save(png, "PNG")
    ip.user_ns["pic"] = ipyllm.Image(png.getvalue())
    tabs_before = listing(ip, capsys, "tabs")
    requests = len(fake.requests)
    capsys.readouterr()
    failed = cell(ip, f"{text_only}:t -a pic", "two")
    assert "attach" in usage_error(failed).lower()
    assert " · " not in capsys.readouterr().out
    assert len(fake.requests) == requests
    assert listing(ip, capsys, "tabs") == tabs_before
    assert ipyllm.manager().tabs[0].model == model


def test_a_request_sent_and_failed_still_shows_its_footer_and_counts(
    ip: InteractiveShell, fake: FakeLLMServer, model: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(5):  # more than the retries
        fake.add_reply(Reply(status=500))
    capsys.readouterr()
    failed = cell(ip, f"{model} --deadline 30", "boom")
    out = capsys.readouterr().out
    assert not failed.success
    assert fake.requests, "the request was sent"
    assert "failed" in out  # the footer
    assert model in out
    summary = ipyllm.usage()
    assert summary.total.turns == 1
    tab = ipyllm.manager().tabs[0]
    assert tab.model == model
    assert [t.status for t in tab.turns] == ["error"]
