import { afterEach, describe, expect, it, vi } from "vitest";
import { PanelState } from "../src/panelState.js";
import type { KernelMessage } from "../src/protocol.js";
import { deltas, FakeModel, PROVIDERS, tab, turn } from "./fakeModel.js";

function setup(traits: Record<string, unknown> = {}) {
  const model = new FakeModel(traits);
  const state = new PanelState(model);
  const emit = (msg: unknown) => state.handleMessage(msg as KernelMessage);
  const setTrait = (name: string, value: unknown) => {
    model.set(name, value);
    state.handleTraitChange(name);
  };
  return { model, state, emit, setTrait };
}

const status = (tab: string, turn: number, status: string) => ({ type: "status", tab, turn, status });

afterEach(() => vi.useRealTimers());

describe("archiving turns", () => {
  it("keeps a finished turn's text when the next turn starts", () => {
    const { state, emit } = setup();
    emit(deltas(["t1", 0, 0, "Hello"], ["t1", 0, 5, ", world"]));
    emit(status("t1", 0, "done"));
    emit(deltas(["t1", 1, 0, "Bye"]));
    expect(state.turnText("t1", 0)).toMatchObject({ text: "Hello, world", length: 12, known: true, liveStatus: null });
    expect(state.turnText("t1", 1)).toMatchObject({ text: "Bye", liveStatus: "streaming", known: true });
  });

  it("archives when a status for a newer turn arrives first", () => {
    const { state, emit } = setup();
    emit(deltas(["t1", 0, 0, "first"], ["t1", 0, 0, "why", "reasoning"]));
    emit(status("t1", 1, "streaming"));
    expect(state.turnText("t1", 0)).toMatchObject({ text: "first", reasoning: "why" });
    expect(state.turnText("t1", 1)).toMatchObject({ text: "", liveStatus: "streaming" });
  });

  it("does not archive on stale messages", () => {
    const { state, emit } = setup();
    emit(deltas(["t1", 2, 0, "two"]));
    emit(deltas(["t1", 1, 0, "old"]));
    expect(state.turnText("t1", 1).known).toBe(false);
    expect(state.turnText("t1", 2).text).toBe("two");
  });
});

describe("snapshots", () => {
  it("fill the past turns and the live one, counting code points", () => {
    const { state, emit } = setup();
    emit({
      type: "snapshot",
      tab: "t1",
      turn: 2,
      status: "streaming",
      text: "c🦅",
      reasoning: "",
      past: [
        { index: 0, text: "a", reasoning: "r0" },
        { index: 1, text: "b🦅b", reasoning: "" },
      ],
    });
    expect(state.turnText("t1", 0)).toMatchObject({ text: "a", reasoning: "r0", length: 1 });
    expect(state.turnText("t1", 1)).toMatchObject({ text: "b🦅b", length: 3 });
    expect(state.turnText("t1", 2)).toMatchObject({ text: "c🦅", length: 2, liveStatus: "streaming" });
    emit(deltas(["t1", 2, 2, "d"]));
    expect(state.turnText("t1", 2).text).toBe("c🦅d");
  });

  it("replace what was archived before", () => {
    const { state, emit } = setup();
    emit(deltas(["t1", 0, 0, "partial"]));
    emit(deltas(["t1", 1, 0, "x"]));
    expect(state.turnText("t1", 0).text).toBe("partial");
    emit({ type: "snapshot", tab: "t1", turn: 1, status: "done", text: "x!", reasoning: "", past: [{ index: 0, text: "complete", reasoning: "" }] });
    expect(state.turnText("t1", 0).text).toBe("complete");
    expect(state.turnText("t1", 1).text).toBe("x!");
  });
});

describe("text_length check", () => {
  it("asks for a sync once when a settled turn's length differs", () => {
    const { model, state, emit, setTrait } = setup();
    emit(deltas(["t1", 0, 0, "Hello"]));
    emit(status("t1", 0, "done"));
    expect(model.sentOfType("sync")).toHaveLength(0);
    setTrait("tabs", [tab("t1", [turn(0, { text_length: 8 })])]);
    expect(model.sentOfType("sync")).toEqual([expect.objectContaining({ type: "sync", tab: "t1" })]);
    // The same mismatch does not ask again, even once the sync is answered with the same text.
    emit({ type: "snapshot", tab: "t1", turn: 0, status: "done", text: "Hello", reasoning: "", past: [] });
    expect(state.store.isResyncPending("t1")).toBe(false);
    setTrait("tabs", [tab("t1", [turn(0, { text_length: 8 })], { title: "renamed" })]);
    emit(status("t1", 0, "done"));
    expect(model.sentOfType("sync")).toHaveLength(1);
    // The snapshot brings the full text: no further sync.
    emit({ type: "snapshot", tab: "t1", turn: 0, status: "done", text: "Hello!!!", reasoning: "", past: [] });
    setTrait("tabs", [tab("t1", [turn(0, { text_length: 8 })])]);
    expect(model.sentOfType("sync")).toHaveLength(1);
    expect(state.turnText("t1", 0).text).toBe("Hello!!!");
  });

  it("does not ask while the turn's own status has not arrived", () => {
    const { model, emit, setTrait } = setup();
    emit(deltas(["t1", 0, 0, "Hel"]));
    setTrait("tabs", [tab("t1", [turn(0, { text_length: 5 })])]);
    expect(model.sentOfType("sync")).toHaveLength(0);
    emit(deltas(["t1", 0, 3, "lo"]));
    emit(status("t1", 0, "done"));
    expect(model.sentOfType("sync")).toHaveLength(0);
  });

  it("does not ask when the lengths agree, and checks archived turns", () => {
    const { model, emit, setTrait } = setup();
    emit(deltas(["t1", 0, 0, "ab🦅"]));
    emit(status("t1", 0, "done"));
    emit(deltas(["t1", 1, 0, "next"]));
    setTrait("tabs", [tab("t1", [turn(0, { text_length: 3 }), turn(1, { status: "streaming" })])]);
    expect(model.sentOfType("sync")).toHaveLength(0);
    setTrait("tabs", [tab("t1", [turn(0, { text_length: 4 }), turn(1, { status: "streaming" })])]);
    expect(model.sentOfType("sync")).toHaveLength(1);
  });

  it("asks when a whole settled turn was missed", () => {
    const { model, emit, setTrait } = setup();
    emit(deltas(["t1", 0, 0, "zero"]));
    emit(status("t1", 0, "done"));
    emit(deltas(["t1", 2, 0, "two"])); // turn 1 never arrived
    setTrait("tabs", [tab("t1", [turn(0, { text_length: 4 }), turn(1, { text_length: 3 }), turn(2, { status: "streaming" })])]);
    expect(model.sentOfType("sync")).toEqual([expect.objectContaining({ tab: "t1" })]);
  });

  it("keeps several tabs apart", () => {
    const { model, state, emit, setTrait } = setup();
    emit(deltas(["t1", 0, 0, "one"], ["t2", 0, 0, "two"], ["t1", 0, 3, " more"], ["t2", 0, 3, "!"]));
    emit(status("t1", 0, "done"));
    emit(status("t2", 0, "done"));
    expect(state.turnText("t1", 0).text).toBe("one more");
    expect(state.turnText("t2", 0).text).toBe("two!");
    setTrait("tabs", [tab("t1", [turn(0, { text_length: 8 })]), tab("t2", [turn(0, { text_length: 9 })])]);
    expect(model.sentOfType("sync")).toEqual([expect.objectContaining({ tab: "t2" })]);
  });
});

describe("syncs and replies", () => {
  it("a gap asks once; an unanswered sync is asked again, backing off", () => {
    vi.useFakeTimers();
    const model = new FakeModel();
    const state = new PanelState(model, { syncTimeoutMs: 1000 });
    state.handleMessage(deltas(["t1", 0, 5, "late"]) as KernelMessage);
    state.handleMessage(deltas(["t1", 0, 9, "later"]) as KernelMessage);
    expect(model.sentOfType("sync")).toHaveLength(1);
    expect(model.sent[0]?.id).toEqual(expect.any(String));
    vi.advanceTimersByTime(1001);
    expect(model.sentOfType("sync")).toHaveLength(2);
    vi.advanceTimersByTime(1500); // the next wait is 2 s
    expect(model.sentOfType("sync")).toHaveLength(2);
    vi.advanceTimersByTime(600);
    expect(model.sentOfType("sync")).toHaveLength(3);
    // A snapshot ends the retries.
    state.handleMessage({ type: "snapshot", tab: "t1", turn: 0, status: "streaming", text: "x", reasoning: "", past: [] } as KernelMessage);
    vi.advanceTimersByTime(60_000);
    expect(model.sentOfType("sync")).toHaveLength(3);
    vi.useRealTimers();
  });

  it("routes a reply to its request by id", () => {
    const { model, state, emit } = setup();
    const onReply = vi.fn();
    const id = state.request({ type: "new_tab" }, onReply);
    expect(model.sent.at(-1)).toEqual({ type: "new_tab", id });
    emit({ type: "opened", tab: "other", reply_to: "nope" });
    expect(onReply).not.toHaveBeenCalled();
    emit({ type: "opened", tab: "t9", reply_to: id });
    expect(onReply).toHaveBeenCalledWith(expect.objectContaining({ tab: "t9" }));
  });

  it("shows key results and errors as the notice", () => {
    const { state, emit } = setup({ providers: PROVIDERS });
    const listener = vi.fn();
    state.subscribe(listener);
    emit({ type: "key_result", provider: "openai", ok: true, message: "Saved to keyring", key: "keyring" });
    expect(state.notice).toEqual({ kind: "ok", text: "Saved to keyring" });
    expect(state.providers().find((p) => p.name === "openai")?.key).toBe("keyring");
    emit({ type: "error", message: "No such tab" });
    expect(state.notice).toEqual({ kind: "error", text: "No such tab" });
    expect(listener).toHaveBeenCalledTimes(2);
  });

  it("forgets closed tabs and syncs tabs that appear with history", () => {
    const { model, state, emit, setTrait } = setup({ tabs: [tab("t1"), tab("t2")] });
    emit(deltas(["t2", 0, 0, "bye"]));
    setTrait("tabs", [tab("t1"), tab("t3", [turn(0, { text_length: 5 })])]);
    expect(state.turnText("t2", 0).known).toBe(false);
    expect(model.sentOfType("sync")).toEqual([expect.objectContaining({ tab: "t3" })]);
  });
});
