"""The kernel session manager against the loopback server: tabs, turns, stop, errors,
history, sessions on tabs and usage."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ipyllm
from ipyllm._manager.history import HistoryEntry, HistoryStore
from ipyllm._manager.manager import SessionManager
from ipyllm._manager.tab import Tab
from ipyllm.testing import FakeLLMServer, Reply
from waiting import wait_until

KEY = "test-key-manager-0123456789"
WAIT = 10.0  # every blocking wait has a timeout; a healthy turn takes well under a second


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def opts(fake: FakeLLMServer, provider: str = "openai") -> dict[str, Any]:
    """Per-turn options that point a turn at the fake server."""
    return {"api_key": KEY, "base_url": fake.base_url(provider)}


def new_tab(model: str = "openai:m", title: str | None = None) -> Tab:
    return ipyllm.manager().new_tab(title or unique("tab"), model)


def history_entries(prompt: str) -> list[HistoryEntry]:
    assert ipyllm.manager().history.flush(5)
    return list(ipyllm.history(search=prompt))


def has_text(tab: Tab) -> Callable[[], bool]:
    return lambda: len(tab.text) > 0


SLOW = Reply([f"w{i} " for i in range(200)], delay_s=0.02)  # about 4 s if never stopped


# ---- tabs ------------------------------------------------------------------------------


def test_new_tab_is_listed_found_by_id_and_title_and_closed() -> None:
    mgr = ipyllm.manager()
    assert ipyllm.manager() is mgr  # one per process
    title = unique("tabs")
    tab = mgr.new_tab(title, "demo:demo")
    assert (tab.title, tab.model, tab.status, tab.text, tab.messages) == (
        title,
        "demo:demo",
        "idle",
        "",
        [],
    )
    assert tab.query is None
    assert tab.full_query is None
    assert tab.error is None
    assert tab in mgr.tabs
    assert mgr.tab(tab.id) is tab
    assert mgr.tab(title) is tab
    assert mgr.tab(tab) is tab
    tab.close()
    assert tab not in mgr.tabs
    assert mgr.find(title) is None
    assert mgr.find(tab) is None
    with pytest.raises(ipyllm.UnknownTabError):
        mgr.tab(tab.id)


def test_unknown_tab_error_names_open_tabs_and_the_fix() -> None:
    mgr = ipyllm.manager()
    tab = mgr.new_tab(unique("known"), "demo:demo")
    missing = unique("missing")
    with pytest.raises(ipyllm.UnknownTabError) as info:
        mgr.tab(missing)
    message = str(info.value)
    assert repr(missing) in message
    assert repr(tab.title) in message  # lists what is open
    assert "new_tab" in message  # says how to fix it
    tab.close()


def test_titles_are_made_unique() -> None:
    mgr = ipyllm.manager()
    title = unique("same")
    a, b, c = (mgr.new_tab(title, "demo:demo") for _ in range(3))
    assert (a.title, b.title, c.title) == (title, f"{title} (2)", f"{title} (3)")
    assert len({a.id, b.id, c.id}) == 3
    assert mgr.tab(title) is a
    for tab in (a, b, c):
        tab.close()


def test_closed_tab_refuses_to_send(fake: FakeLLMServer) -> None:
    tab = new_tab()
    tab.close()
    with pytest.raises(ipyllm.LLMError, match="closed"):
        tab.send("hello", **opts(fake))
    assert fake.requests == []


# ---- a turn --------------------------------------------------------------------------


def test_turn_streams_idle_to_streaming_to_done_with_tokens_timings_and_reasoning(
    fake: FakeLLMServer,
) -> None:
    fake.add_reply(
        Reply(["Hel", "lo", " you"], reasoning=["Think", "ing."], tokens_in=7, tokens_out=3),
        delay_s=0.05,
    )
    tab = new_tab("openai:m")
    assert tab.snapshot().status == "idle"
    prompt = unique("hi")
    handle = tab.send(prompt, **opts(fake))
    assert tab.snapshot().status == "streaming"  # at once, before the first byte
    assert not handle.done()
    assert handle.wait(WAIT)
    assert handle.done()
    assert tab.status == "done"
    assert (tab.text, tab.reasoning) == ("Hello you", "Thinking.")
    assert tab.query == prompt
    assert tab.full_query == [{"role": "user", "content": prompt}]
    turn = tab.last
    assert turn is not None
    assert (turn.tokens_in, turn.tokens_out, turn.finish_reason) == (7, 3, "stop")
    assert turn.answered_by == "openai:m"
    assert turn.ttft_s is not None
    assert turn.elapsed_s is not None
    assert 0 < turn.ttft_s <= turn.elapsed_s
    assert turn.elapsed_s >= 0.2  # five pieces 50 ms apart
    r = handle.result(WAIT)
    assert (r.text, r.reasoning, r.provider, r.model) == ("Hello you", "Thinking.", "openai", "m")
    assert tab.messages == [
        {"role": "user", "content": prompt},
        {"role": "assistant", "content": "Hello you"},
    ]
    # The second turn carries the first; tokens add up over turns.
    fake.add_reply(Reply("Second.", tokens_in=11, tokens_out=2))
    second = unique("again")
    assert tab.send(second, **opts(fake)).wait(WAIT)
    assert fake.requests[-1].json["messages"] == [
        {"role": "user", "content": prompt},
        {"role": "assistant", "content": "Hello you"},
        {"role": "user", "content": second},
    ]
    assert tab.full_query == fake.requests[-1].json["messages"]
    assert [t.tokens_in for t in tab.turns] == [7, 11]
    assert (tab.tokens_in, tab.tokens_out) == (18, 5)
    assert tab.cost is None  # genai-prices knows no model "m"
    assert tab.turns[0].cost is None
    tab.close()


def test_demo_turns_cost_nothing() -> None:
    tab = new_tab("demo:demo")
    handle = tab.send(unique("free"))
    assert handle.wait(WAIT)
    assert tab.status == "done"
    assert tab.last is not None
    assert tab.last.cost == 0.0
    assert tab.cost == 0.0
    assert handle.result(WAIT).cost == 0.0
    tab.close()


def test_sending_to_a_streaming_tab_raises_busy(fake: FakeLLMServer) -> None:
    fake.add_reply(SLOW)
    tab = new_tab()
    handle = tab.send(unique("first"), **opts(fake))
    with pytest.raises(ipyllm.TabBusyError, match=r"tab\.stop\(\)"):
        tab.send(unique("second"), **opts(fake))
    assert len(tab.turns) == 1
    assert wait_until(lambda: len(tab.text) > 0)  # the slow reply is taken
    handle.cancel()
    assert handle.wait(WAIT)
    fake.add_reply(Reply("ok"))
    assert tab.send(unique("third"), **opts(fake)).wait(WAIT)
    assert tab.text == "ok"
    tab.close()


def test_context_puts_another_tabs_transcript_into_the_query(fake: FakeLLMServer) -> None:
    source = new_tab(title=unique("source"))
    fake.add_reply(Reply("Paris is the capital."))
    question = unique("capital of France?")
    assert source.send(question, **opts(fake)).wait(WAIT)

    target = new_tab()
    fake.add_reply(Reply("Summary."))
    prompt = unique("summarize")
    assert target.send(prompt, context=[source], **opts(fake)).wait(WAIT)
    assert target.query == prompt  # as typed
    assert target.full_query is not None
    last = target.full_query[-1]
    assert last["role"] == "user"
    assert f'<context tab="{source.title}">' in last["content"]
    assert f"User: {question}" in last["content"]
    assert "Assistant: Paris is the capital." in last["content"]
    assert last["content"].endswith(prompt)
    sent = fake.requests[-1].json["messages"]
    assert sent[-1] == last  # what the server received
    # A title works as a reference too; the tab's own transcript is never its context.
    fake.add_reply(Reply("Again."))
    assert target.send("more", context=[source.title, target], **opts(fake)).wait(WAIT)
    sent = fake.requests[-1].json["messages"]
    assert sent[-1]["content"].count("<context") == 1
    # Context is part of what was sent, not of the tab's own messages.
    assert target.messages[0] == {"role": "user", "content": prompt}
    with pytest.raises(ipyllm.UnknownTabError):
        target.send("x", context=[unique("nope")], **opts(fake))
    source.close()
    target.close()


# ---- stop ----------------------------------------------------------------------------


def _stopped_turn_checks(fake: FakeLLMServer, tab: Tab, prompt: str) -> None:
    assert fake.wait_for_disconnect(5)
    assert tab.status == "stopped"
    full = "".join(f"w{i} " for i in range(200))
    assert 0 < len(tab.text) < len(full)
    assert full.startswith(tab.text)  # the partial is kept, as streamed
    assert tab.last is not None
    assert tab.last.finish_reason == "stopped"
    # A stopped turn stays in the conversation.
    assert tab.messages[-1] == {"role": "assistant", "content": tab.text}
    entries = history_entries(prompt)
    assert [(e.status, e.query, e.text) for e in entries] == [("stopped", prompt, tab.text)]
    assert entries[0].conversation_id == tab.conversation_id


def test_tab_stop_keeps_the_partial_and_records_it(fake: FakeLLMServer) -> None:
    fake.add_reply(SLOW)
    tab = new_tab()
    prompt = unique("stop-me")
    handle = tab.send(prompt, **opts(fake))
    assert wait_until(lambda: len(tab.text) > 10)
    started = time.monotonic()
    tab.stop()
    assert handle.wait(WAIT)
    assert time.monotonic() - started < 2
    _stopped_turn_checks(fake, tab, prompt)
    r = handle.result(WAIT)  # a stopped turn gives its partial
    assert (r.text, r.finish_reason) == (tab.text, "stopped")
    tab.close()


def test_handle_cancel_stops_the_turn(fake: FakeLLMServer) -> None:
    fake.add_reply(SLOW)
    tab = new_tab()
    prompt = unique("cancel-me")
    handle = tab.send(prompt, **opts(fake))
    assert wait_until(lambda: len(tab.text) > 10)
    handle.cancel()
    assert handle.wait(WAIT)
    _stopped_turn_checks(fake, tab, prompt)
    assert handle.result(WAIT).finish_reason == "stopped"
    handle.cancel()  # a settled turn: nothing happens
    assert tab.status == "stopped"
    tab.close()


def test_session_stop_from_another_thread(fake: FakeLLMServer) -> None:
    fake.add_reply(SLOW)
    s = ipyllm.Session("openai:m", api_key=KEY, base_url=fake.base_url("openai"))
    prompt = unique("session-stop")
    out: list[ipyllm.Response] = []
    worker = threading.Thread(target=lambda: out.append(s.ask(prompt)), daemon=True)
    worker.start()
    assert wait_until(lambda: len(s.tab.text) > 10)
    s.stop()
    worker.join(WAIT)
    assert not worker.is_alive()
    assert out
    assert out[0].finish_reason == "stopped"
    assert out[0].text == s.tab.text
    _stopped_turn_checks(fake, s.tab, prompt)
    s.tab.close()


def test_closing_a_streaming_tab_stops_and_records_the_turn(fake: FakeLLMServer) -> None:
    fake.add_reply(SLOW)
    tab = new_tab()
    view_events: list[object] = []
    sub = tab.subscribe(view_events.append)
    prompt = unique("close-me")
    handle = tab.send(prompt, **opts(fake))
    assert wait_until(lambda: len(tab.text) > 10)
    tab.close()
    assert tab not in ipyllm.manager().tabs
    assert sub.closed
    assert handle.wait(WAIT)
    _stopped_turn_checks(fake, tab, prompt)


@pytest.mark.parametrize("how", ["tab.stop", "handle.cancel"])
def test_stop_right_after_send_settles_as_stopped(fake: FakeLLMServer, how: str) -> None:
    # The stop reaches the worker loop before (or while) the turn's task starts:
    # it must not be lost, and nothing must hang.
    for _ in range(5):
        fake.add_reply(SLOW)
        tab = new_tab()
        handle = tab.send(unique("instant"), **opts(fake))
        if how == "tab.stop":
            tab.stop()
        else:
            handle.cancel()
        assert handle.wait(WAIT), "a stop issued at once left the turn hanging"
        assert tab.status == "stopped"
        r = handle.result(WAIT)
        assert r.finish_reason == "stopped"
        assert r.text == tab.text
        tab.close()
        fake.reset()


def test_result_right_after_stop_returns_the_partial(fake: FakeLLMServer) -> None:
    # handle.result() is called the moment the turn settles, while the task's
    # cancellation may still be on its way to the future. Every request gets the slow
    # answer (not one queued reply, which a straggling request of an earlier test could
    # take under load, leaving this one a short answer that ends before the stop).
    for _ in range(10):
        fake.default_reply = SLOW
        tab = new_tab()
        handle = tab.send(unique("race"), **opts(fake))
        assert wait_until(has_text(tab))
        tab.stop()
        r = handle.result(WAIT)
        assert r.finish_reason == "stopped"
        tab.close()
        fake.reset()


# ---- failures ------------------------------------------------------------------------


def test_401_turn_is_an_error_recorded_and_left_out_of_messages(fake: FakeLLMServer) -> None:
    tab = new_tab()
    fake.add_reply(Reply("First answer."))
    first = unique("fine")
    assert tab.send(first, **opts(fake)).wait(WAIT)

    fake.add_reply(status=401)
    prompt = unique("unauthorized")
    handle = tab.send(prompt, **opts(fake))
    assert handle.wait(WAIT)
    assert tab.status == "error"
    assert tab.error is not None
    assert tab.last is not None
    assert tab.error == tab.last.error
    with pytest.raises(ipyllm.AuthenticationError) as info:
        handle.result(WAIT)
    assert str(info.value) == tab.error
    assert len(fake.requests) == 2  # a 401 is not retried
    assert tab.text == ""
    assert tab.last is not None
    assert tab.last.cost == 0.0
    entries = history_entries(prompt)
    assert [(e.status, e.query) for e in entries] == [("error", prompt)]
    # The failed turn is not part of the conversation: the next prompt works without it.
    assert tab.messages == [
        {"role": "user", "content": first},
        {"role": "assistant", "content": "First answer."},
    ]
    fake.add_reply(Reply("Back."))
    after = unique("after")
    assert tab.send(after, **opts(fake)).wait(WAIT)
    assert tab.snapshot().status == "done"
    assert fake.requests[-1].json["messages"] == [
        *tab.messages[:2],
        {"role": "user", "content": after},
    ]


def test_mid_stream_failure_keeps_the_partial(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply(["Half ", "an ", "answer ", "never ", "ends"], error_after=2, status=500))
    tab = new_tab()
    prompt = unique("broken")
    handle = tab.send(prompt, max_retries=0, **opts(fake))
    assert handle.wait(WAIT)
    assert tab.status == "error"
    assert tab.text == "Half an "
    assert tab.error
    with pytest.raises(ipyllm.LLMError) as info:
        handle.result(WAIT)
    assert info.value.partial == "Half an "
    entries = history_entries(prompt)
    assert [(e.status, e.text) for e in entries] == [("error", "Half an ")]
    assert tab.messages == []
    tab.close()


# ---- history -------------------------------------------------------------------------


def test_restore_after_a_restart_continues_the_conversation(
    fake: FakeLLMServer, tmp_path: Path
) -> None:
    path = tmp_path / "history.sqlite3"
    before = SessionManager(history=HistoryStore(path))
    title = unique("restored")
    tab = before.new_tab(title, "openai:m")
    fake.add_reply(Reply("One.", tokens_in=5, tokens_out=1))
    fake.add_reply(Reply("Two.", reasoning="hmm", tokens_in=9, tokens_out=2))
    q1, q2 = unique("q1"), unique("q2")
    assert tab.send(q1, **opts(fake)).wait(WAIT)
    assert tab.send(q2, **opts(fake)).wait(WAIT)
    assert before.history.flush(5)
    before.history.close()

    after = SessionManager(history=HistoryStore(path))  # a new kernel, same file
    assert after.tabs == []
    restored = after.restore(tab.conversation_id)
    assert after.restore(tab.conversation_id) is restored  # already open: the same tab
    assert restored is not tab
    assert restored.id != tab.id
    assert restored.title == title
    assert restored.conversation_id == tab.conversation_id
    assert restored.model == "openai:m"
    assert [(t.query, t.text, t.status) for t in restored.turns] == [
        (q1, "One.", "done"),
        (q2, "Two.", "done"),
    ]
    assert restored.reasoning == "hmm"
    assert (restored.tokens_in, restored.tokens_out) == (14, 3)
    assert restored.messages == tab.messages
    assert restored.full_query == tab.full_query

    # A Session on the restored tab sends the restored history with its next prompt.
    s = ipyllm.Session("openai:m", api_key=KEY, base_url=fake.base_url("openai"), tab=restored)
    assert s.tab is restored
    fake.add_reply(Reply("Three."))
    q3 = unique("q3")
    assert s.ask(q3).text == "Three."
    assert fake.requests[-1].json["messages"] == [
        {"role": "user", "content": q1},
        {"role": "assistant", "content": "One."},
        {"role": "user", "content": q2},
        {"role": "assistant", "content": "Two."},
        {"role": "user", "content": q3},
    ]
    assert len(restored.turns) == 3
    assert after.history.flush(5)
    records = after.history.conversation(tab.conversation_id)
    assert [r.turn_index for r in records] == [0, 1, 2]  # continued, not overwritten
    with pytest.raises(ipyllm.UnknownTabError, match=r"ipyllm\.history\(\)"):
        after.restore(uuid.uuid4().hex)
    after.history.close()


def test_history_off_writes_no_file(
    fake: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IPYLLM_HOME", str(tmp_path))
    monkeypatch.setenv("IPYLLM_HISTORY", "0")
    mgr = SessionManager()
    assert not mgr.history.enabled
    tab = mgr.new_tab(unique("nohist"), "openai:m")
    fake.add_reply(Reply("Unrecorded."))
    assert tab.send(unique("q"), **opts(fake)).wait(WAIT)
    assert tab.text == "Unrecorded."
    assert mgr.history.flush(5)
    assert list(tmp_path.iterdir()) == []
    assert list(mgr.history.search()) == []


# ---- Session on tabs -----------------------------------------------------------------


def test_sessions_share_a_named_tab(fake: FakeLLMServer) -> None:
    name = unique("shared")
    mgr = ipyllm.manager()
    assert mgr.find(name) is None
    a = ipyllm.Session("openai:m", api_key=KEY, base_url=fake.base_url("openai"), tab=name)
    tab = mgr.tab(name)
    assert a.tab is tab
    fake.add_reply(Reply("First."))
    q1 = unique("q1")
    a.ask(q1)

    b = ipyllm.Session("openai:m", api_key=KEY, base_url=fake.base_url("openai"), tab=name)
    assert b.tab is tab  # the same conversation, not a new tab
    fake.add_reply(Reply("Second."))
    q2 = unique("q2")
    b.ask(q2)
    assert fake.requests[-1].json["messages"] == [
        {"role": "user", "content": q1},
        {"role": "assistant", "content": "First."},
        {"role": "user", "content": q2},
    ]
    assert [t.query for t in tab.turns] == [q1, q2]
    assert a.messages == b.messages == tab.messages

    c = ipyllm.Session("openai:m", api_key=KEY, base_url=fake.base_url("openai"), tab=tab)
    assert c.tab is tab
    assert [t.title for t in mgr.tabs].count(name) == 1
    tab.close()

    # A closed tab object is not silently replaced by a tab titled after its repr.
    d = ipyllm.Session("openai:m", api_key=KEY, base_url=fake.base_url("openai"), tab=tab)
    assert d.tab is tab
    assert not any(t.title.startswith("<Tab") for t in mgr.tabs)
    with pytest.raises(ipyllm.LLMError, match="closed"):
        d.ask("anyone?")


def test_a_sessions_turns_show_in_the_manager(fake: FakeLLMServer) -> None:
    s = ipyllm.Session("openai:m", api_key=KEY, base_url=fake.base_url("openai"))
    assert s.tab in ipyllm.manager().tabs
    assert s.tab.status == "idle"
    fake.add_reply(Reply("Seen."))
    prompt = unique("seen")
    s.ask(prompt)
    tab = ipyllm.manager().tab(s.tab.id)
    assert (tab.query, tab.text, tab.status) == (prompt, "Seen.", "done")
    assert "turns=1" in repr(s)
    s.tab.close()


# ---- usage ---------------------------------------------------------------------------


def test_usage_sums_tokens_by_tab_and_by_model(fake: FakeLLMServer) -> None:
    model = unique("usage-model")
    t1 = new_tab(f"openai:{model}", unique("usage-a"))
    t2 = new_tab(f"openai:{model}", unique("usage-b"))
    demo = new_tab("demo:demo", unique("usage-demo"))
    fake.add_reply(Reply("a", tokens_in=3, tokens_out=1))
    fake.add_reply(Reply("b", tokens_in=5, tokens_out=2))
    fake.add_reply(Reply("c", tokens_in=7, tokens_out=4))
    assert t1.send("x", **opts(fake)).wait(WAIT)
    assert t1.send("y", **opts(fake)).wait(WAIT)
    assert t2.send("z", **opts(fake)).wait(WAIT)
    assert demo.send("free").wait(WAIT)

    summary = ipyllm.usage()
    by_tab = {row.name: row for row in summary.by_tab}
    by_model = {row.name: row for row in summary.by_model}
    assert (by_tab[t1.title].turns, by_tab[t1.title].tokens_in, by_tab[t1.title].tokens_out) == (
        2,
        8,
        3,
    )
    assert (by_tab[t2.title].tokens_in, by_tab[t2.title].tokens_out) == (7, 4)
    assert by_tab[t1.title].cost is None  # an unknown model has no price
    assert by_tab[demo.title].cost == 0.0
    row = by_model[f"openai:{model}"]
    assert (row.turns, row.tokens_in, row.tokens_out, row.cost) == (3, 15, 7, None)
    assert by_model["demo:demo"].cost == 0.0
    assert summary.total.tokens_in >= 15 + (demo.tokens_in or 0)

    text = repr(summary)
    assert "by tab" in text
    assert "by model" in text
    assert t1.title[:23] in text
    assert "unknown" in text  # the unpriced cost
    html = summary._repr_html_()
    assert html.startswith("<table>")
    assert html.endswith("</table>")
    assert f"<td>{t1.title}</td><td>2</td><td>8</td><td>3</td><td>unknown</td>" in html
    for tab in (t1, t2, demo):
        tab.close()
    assert t1.title not in {row.name for row in ipyllm.usage().by_tab}


def test_usage_escapes_titles_in_html() -> None:
    tab = new_tab("demo:demo", unique("<b>&"))
    html = ipyllm.usage()._repr_html_()
    assert "&lt;b&gt;&amp;" in html
    assert "<b>&" not in html
    tab.close()


def test_a_stopped_demo_turn_still_costs_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IPYLLM_DEMO_DELAY", "0.02")  # slow enough to stop midway
    tab = new_tab("demo:demo")
    handle = tab.send(unique("free-but-stopped"))
    assert wait_until(lambda: len(tab.text) > 5)
    tab.stop()
    assert handle.wait(WAIT)
    assert tab.status == "stopped"
    assert tab.last is not None
    assert tab.last.cost == 0.0
    assert tab.cost == 0.0
    row = next(r for r in ipyllm.usage().by_tab if r.name == tab.title)
    assert row.cost == 0.0
    tab.close()


def test_restore_of_an_open_conversation_returns_its_tab(fake: FakeLLMServer) -> None:
    mgr = ipyllm.manager()
    tab = new_tab()
    fake.add_reply(Reply("Kept."))
    assert tab.send(unique("open"), **opts(fake)).wait(WAIT)
    assert mgr.restore(tab.conversation_id) is tab
    tab.close()
    assert mgr.history.flush(5)
    reopened = mgr.restore(tab.conversation_id)  # closed: reopened from the history
    assert reopened is not tab
    assert reopened in mgr.tabs
    assert reopened.title == tab.title
    assert (reopened.text, reopened.messages) == ("Kept.", tab.messages)
    reopened.close()
