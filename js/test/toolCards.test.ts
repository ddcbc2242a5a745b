// @vitest-environment jsdom
/**
 * Tool-call cards and structured answers in the panel: cards from the `tabs`
 * trait, live `tool_call` messages merged in (the one further along wins),
 * Run / Deny, hostile text kept as text, and JSON laid out without changing it.
 */
import { afterEach, describe, expect, it } from "vitest";
import cases from "../../tests/fixtures/hostile/cases.json";
import { formatAnswerJson, formatJson } from "../src/jsonText.js";
import type { TabInfo, ToolCallInfo, TurnInfo } from "../src/protocol.js";
import { liveIsNewer, ToolCallStore } from "../src/toolCallStore.js";
import { tab, turn } from "./fakeModel.js";
import { frame, mount, unmountAll } from "./mountPanel.js";

afterEach(() => {
  unmountAll();
  delete (window as unknown as Record<string, unknown>).__ipyllm_pwned;
});

function call(index: number, over: Partial<ToolCallInfo> = {}): ToolCallInfo {
  return {
    index,
    id: `call_${index}`,
    name: "weather",
    arguments: '{"city":"Paris"}',
    status: "done",
    result: '{"city": "Paris", "temp": 20}',
    error: null,
    elapsed_s: 0.012,
    ...over,
  };
}

function toolTurn(calls: ToolCallInfo[], over: Partial<TurnInfo> = {}): TurnInfo {
  return turn(0, { tool_calls: calls, ...over });
}

const streaming = { status: "streaming", tokens_out: null, cost: null, elapsed_s: null } as const;

function tabsWith(t: TurnInfo): TabInfo[] {
  return [tab("t1", [t])];
}

function card(root: ParentNode, index: number): HTMLElement {
  const el = root.querySelector<HTMLElement>(`[data-testid=tool-call][data-index="${index}"]`);
  expect(el, `card ${index}`).not.toBeNull();
  return el!;
}

const part = (el: HTMLElement, id: string) => el.querySelector<HTMLElement>(`[data-testid=${id}]`);

describe("cards from the trait", () => {
  it("shows each call's name, status, time, arguments and result, under the answer", async () => {
    const calls = [
      call(0),
      call(1, { name: "stock", arguments: "not json {", status: "error", result: null, error: "ValueError: no such ticker", elapsed_s: 1.5 }),
      call(2, { status: "denied", result: null, elapsed_s: null }),
    ];
    const { $, $$, model } = mount({ tabs: tabsWith(toolTurn(calls, { text_length: 4 })) });
    model.emit({ type: "snapshot", tab: "t1", turn: 0, status: "done", text: "Done", reasoning: "" });
    await frame();
    const cards = $$("[data-testid=tool-call]");
    expect(cards.map((c) => [c.dataset.index, c.dataset.status])).toEqual([["0", "done"], ["1", "error"], ["2", "denied"]]);
    const first = card(document, 0);
    expect(part(first, "tool-name")?.textContent).toBe("weather");
    expect(part(first, "tool-time")?.textContent).toBe("0.01 s");
    expect(part(first, "tool-args")?.textContent).toBe('{\n  "city": "Paris"\n}');
    expect(part(first, "tool-result")?.textContent).toBe('{\n  "city": "Paris",\n  "temp": 20\n}');
    expect(part(first, "tool-error")).toBeNull();
    expect(first.querySelector("details")?.open).toBe(false); // collapsed
    const second = card(document, 1);
    expect(part(second, "tool-args")?.textContent).toBe("not json {"); // raw when it does not parse
    expect(part(second, "tool-result")).toBeNull();
    expect(part(second, "tool-error")?.textContent).toBe("ValueError: no such ticker");
    expect(part(card(document, 2), "tool-time")?.textContent).toBe("");
    expect($$("[data-testid=tool-run], [data-testid=tool-deny]").filter((b) => !b.closest("[hidden]"))).toEqual([]);
    // Order inside the turn: answer, cards, the bar with the footer.
    const turnEl = $("[data-testid=turn]")!;
    const order = [...turnEl.children].map((c) => c.getAttribute("data-testid"));
    expect(order.indexOf("answer")).toBeLessThan(order.indexOf("tool-calls"));
    expect(order.indexOf("tool-calls")).toBeLessThan(order.indexOf("turn-bar"));
    expect(turnEl.querySelector("[data-testid=turn-bar] [data-testid=footer]")).not.toBeNull();
  });

  it("shows no card block for a turn without calls", async () => {
    const { $ } = mount({ tabs: tabsWith(turn(0)) });
    await frame();
    expect($("[data-testid=tool-calls]")?.hidden).toBe(true);
    expect($("[data-testid=tool-call]")).toBeNull();
  });
});

describe("live tool_call messages", () => {
  it("grow the arguments while they stream, then ask to run", async () => {
    const { model } = mount({ tabs: tabsWith(toolTurn([], streaming)) });
    const args = '{"city": "Paris", "days": 3}';
    const live = (text: string, over: Partial<ToolCallInfo> = {}) =>
      model.emit({ type: "tool_call", tab: "t1", turn: 0, call: call(0, { arguments: text, status: "requested", result: null, elapsed_s: null, ...over }) });
    live(args.slice(0, 9));
    await frame();
    const c = card(document, 0);
    expect(c.dataset.status).toBe("requested");
    expect(part(c, "tool-args")?.textContent).toBe('{"city": ');
    live(args.slice(0, 20));
    await frame();
    expect(part(c, "tool-args")?.textContent).toBe('{"city": "Paris", "d');
    // A trait that lags behind (shorter arguments) does not take the text back.
    model.set("tabs", tabsWith(toolTurn([call(0, { arguments: args.slice(0, 4), status: "requested", result: null })], streaming)));
    await frame();
    expect(part(c, "tool-args")?.textContent).toBe('{"city": "Paris", "d');
    live(args, { status: "awaiting" });
    await frame();
    expect(c.dataset.status).toBe("awaiting");
    expect(part(c, "tool-args")?.textContent).toBe('{\n  "city": "Paris",\n  "days": 3\n}');
    expect(part(c, "tool-run")?.closest("[hidden]")).toBeNull();
    expect(c.querySelector("details")?.open).toBe(true); // opened: the arguments are what one decides on
    live(args, { status: "denied" });
    await frame();
    expect(c.querySelector("details")?.open).toBe(false); // and folded again with its outcome
  });

  it("leave a card the user opened or closed as the user left it", async () => {
    const { model } = mount({ tabs: tabsWith(toolTurn([], streaming)) });
    const live = (status: string) =>
      model.emit({ type: "tool_call", tab: "t1", turn: 0, call: call(0, { status, result: status === "done" ? "{}" : null }) });
    live("awaiting");
    await frame();
    const details = card(document, 0).querySelector("details")!;
    const summary = details.querySelector("summary")!;
    summary.click(); // closed by the user
    summary.click(); // and opened again
    expect(details.open).toBe(true);
    live("done");
    await frame();
    expect(details.open).toBe(true);
  });

  it("lose to a trait that arrived after them: an approved call reads requested again", async () => {
    const { model, el } = mount({ tabs: tabsWith(toolTurn([call(0, { status: "requested", result: null })], streaming)) });
    model.emit({ type: "tool_call", tab: "t1", turn: 0, call: call(0, { status: "awaiting", result: null }) });
    await frame();
    expect(card(el, 0).dataset.status).toBe("awaiting"); // newer than the trait
    (part(card(el, 0), "tool-run") as HTMLButtonElement).click();
    // The kernel took the answer: the call waits to run (no message says so), the next one waits.
    model.emit({ type: "tool_call", tab: "t1", turn: 0, call: call(1, { status: "awaiting", result: null }) });
    model.set("tabs", tabsWith(toolTurn([call(0, { status: "requested", result: null }), call(1, { status: "awaiting", result: null })], streaming)));
    await frame();
    expect(card(el, 0).dataset.status).toBe("requested");
    expect(part(card(el, 0), "tool-status")?.textContent).toBe("queued");
    expect(part(card(el, 0), "tool-run")?.closest("[hidden]")).not.toBeNull();
    expect(card(el, 1).dataset.status).toBe("awaiting");
    model.emit({ type: "tool_call", tab: "t1", turn: 0, call: call(0, { status: "running", result: null }) });
    await frame();
    expect(card(el, 0).dataset.status).toBe("running");
  });

  it("lose to a trait that already holds a later stage", async () => {
    const { model, el } = mount({ tabs: tabsWith(toolTurn([call(0, { status: "running", result: null })], streaming)) });
    // A message older than the trait (the kernel read the tab after a change whose message was queued).
    model.emit({ type: "tool_call", tab: "t1", turn: 0, call: call(0, { status: "awaiting", result: null }) });
    await frame();
    expect(card(el, 0).dataset.status).toBe("running");
    model.emit({ type: "tool_call", tab: "t1", turn: 0, call: call(0, { status: "done" }) });
    await frame();
    expect(card(el, 0).dataset.status).toBe("done");
    expect(part(card(el, 0), "tool-result")?.textContent).toContain('"temp": 20');
    // A call the trait does not hold yet shows from its message alone.
    model.emit({ type: "tool_call", tab: "t1", turn: 0, call: call(1, { status: "awaiting", result: null }) });
    await frame();
    expect(card(el, 1).dataset.status).toBe("awaiting");
  });

  it("are forgotten once the trait has caught up, and with their tab", () => {
    const store = new ToolCallStore();
    store.apply({ type: "tool_call", tab: "t1", turn: 0, call: call(0, { status: "running", result: null }) });
    store.apply({ type: "tool_call", tab: "t1", turn: 0, call: call(1, { status: "requested", arguments: "{", result: null }) });
    store.apply({ type: "tool_call", tab: "t1", turn: 1, call: call(0, { status: "requested", arguments: "{", result: null }) });
    store.apply({ type: "tool_call", tab: "t2", turn: 3, call: call(0) });
    expect(store.size).toBe(4);
    const t = toolTurn([call(0, { status: "awaiting", result: null }), call(1, { status: "requested", arguments: "", result: null })]);
    store.prune([tab("t1", [t])]);
    // Kept: streamed arguments longer than the trait's, and a turn the trait does not hold yet.
    expect(store.size).toBe(2);
    expect(store.calls("t1", t).map((c) => [c.index, c.status, c.arguments])).toEqual([
      [0, "awaiting", '{"city":"Paris"}'],
      [1, "requested", "{"],
    ]);
  });

  it("are newer by arrival, by stage, and while requested by their arguments' length", () => {
    const at = (status: string, args = "") => call(0, { status, arguments: args });
    expect(liveIsNewer(at("awaiting"), at("requested", "{...}"), true)).toBe(true);
    expect(liveIsNewer(at("awaiting"), at("requested", "{...}"), false)).toBe(false); // approved since
    expect(liveIsNewer(at("requested", "{..."), at("requested", "{"), false)).toBe(true);
    expect(liveIsNewer(at("requested", "{"), at("requested", "{..."), true)).toBe(false);
    expect(liveIsNewer(at("running"), at("requested"), true)).toBe(true);
    expect(liveIsNewer(at("awaiting"), at("running"), true)).toBe(false);
    expect(liveIsNewer(at("done"), at("done"), true)).toBe(true);
    expect(liveIsNewer(at("done"), at("denied"), false)).toBe(false);
  });
});

describe("Run and Deny", () => {
  const awaiting = (index: number) => call(index, { status: "awaiting", result: null, elapsed_s: null });

  it("send approve with the call's index, and stay disabled until the call changes", async () => {
    const { model, el } = mount({ tabs: tabsWith(toolTurn([awaiting(0)], streaming)) });
    await frame();
    const run = part(card(el, 0), "tool-run") as HTMLButtonElement;
    const deny = part(card(el, 0), "tool-deny") as HTMLButtonElement;
    expect([run.disabled, deny.disabled]).toEqual([false, false]);
    run.click();
    expect(model.sentOfType("approve").map(({ id: _id, ...m }) => m)).toEqual([{ type: "approve", tab: "t1", index: 0, run: true }]);
    expect([run.disabled, deny.disabled]).toEqual([true, true]);
    deny.click(); // disabled: nothing more is sent
    run.click();
    expect(model.sentOfType("approve")).toHaveLength(1);
    // An unrelated redraw keeps them disabled.
    model.emit({ type: "deltas", items: [{ tab: "t1", turn: 0, channel: "text", offset: 0, text: "Checking." }] });
    await frame();
    expect(run.disabled).toBe(true);
    // The call ran; the second waits and gets a Deny.
    model.set("tabs", tabsWith(toolTurn([call(0, { status: "running", result: null }), awaiting(1)], streaming)));
    await frame();
    expect(part(card(el, 0), "tool-run")?.closest("[hidden]")).not.toBeNull();
    const deny1 = part(card(el, 1), "tool-deny") as HTMLButtonElement;
    deny1.click();
    expect(model.sentOfType("approve").map((m) => [m.index, m.run])).toEqual([[0, true], [1, false]]);
    expect(typeof model.sentOfType("approve")[1]!.id).toBe("string");
  });

  it("come back when the kernel refuses", async () => {
    const { model, el } = mount({ tabs: tabsWith(toolTurn([awaiting(0)], streaming)) });
    await frame();
    const run = part(card(el, 0), "tool-run") as HTMLButtonElement;
    run.click();
    expect(run.disabled).toBe(true);
    const sent = model.sentOfType("approve")[0]!;
    model.emit({ type: "error", message: "approve needs the call's index", tab: "t1", reply_to: sent.id });
    expect(run.disabled).toBe(false);
  });

  it("show only while the turn streams", async () => {
    const { el } = mount({ tabs: tabsWith(toolTurn([awaiting(0)], { status: "stopped" })) });
    await frame();
    expect(card(el, 0).dataset.status).toBe("awaiting");
    expect(part(card(el, 0), "tool-run")?.closest("[hidden]")).not.toBeNull();
  });

  it("work in the compact view of a %%llm cell", async () => {
    const { model, el } = mount({ compact: true, tab: "t1", turn: 0, tabs: tabsWith(toolTurn([awaiting(0)], streaming)) });
    await frame();
    (part(card(el, 0), "tool-deny") as HTMLButtonElement).click();
    expect(model.sentOfType("approve").map((m) => [m.tab, m.index, m.run])).toEqual([["t1", 0, false]]);
  });
});

// --- hostile text ------------------------------------------------------------

interface Case {
  id: string;
  text: string;
  shows: string[];
}
const corpus = cases as { origin_placeholder: string; cases: Case[] };
const fill = (text: string) => text.split(corpus.origin_placeholder).join("http://127.0.0.1:9");

/** What a card may contain: exactly the elements and attributes it builds itself. */
const CARD_TAGS = new Set(["div", "details", "summary", "span", "pre", "code", "button"]);
const CARD_ATTRS = new Set(["class", "data-testid", "data-index", "data-status", "type", "hidden", "open", "disabled"]);

function strangers(root: Element): string[] {
  const found: string[] = [];
  for (const el of [root, ...root.querySelectorAll("*")]) {
    const tag = el.tagName.toLowerCase();
    if (!CARD_TAGS.has(tag)) found.push(`<${tag}>`);
    for (const attr of el.attributes) if (!CARD_ATTRS.has(attr.name)) found.push(`${attr.name}= on <${tag}>`);
  }
  return found;
}

describe("hostile text in cards and structured answers", () => {
  it.each(corpus.cases.map((c) => [c.id, c] as const))("%s stays text", async (_id, c) => {
    const text = fill(c.text);
    const hostile = call(0, { name: text, arguments: text, result: text, status: "error", error: text });
    const { model, el } = mount({
      tabs: [tab("t1", [turn(0, { tool_calls: [hostile], text_length: [...text].length, structured: true })])],
    });
    model.emit({ type: "snapshot", tab: "t1", turn: 0, status: "done", text, reasoning: "" });
    await frame();
    await new Promise((r) => setTimeout(r, 10));
    const cardEl = card(el, 0);
    expect(strangers(cardEl)).toEqual([]);
    for (const id of ["tool-name", "tool-args", "tool-result", "tool-error"]) expect(part(cardEl, id)?.textContent).toBe(text);
    const json = el.querySelector<HTMLElement>("[data-testid=answer-json]")!;
    expect(json.querySelector("code")?.textContent).toBe(text); // not JSON: shown as it came
    expect(json.querySelectorAll("*").length).toBe(2); // <pre><code>, nothing inside
    expect((window as unknown as Record<string, unknown>).__ipyllm_pwned).toBeUndefined();
  });
});

// --- structured answers -------------------------------------------------------

describe("a structured turn", () => {
  it("streams its JSON raw and lays it out once settled, as text", async () => {
    const json = '{"city":"Paris","population":2102650,"tags":["<b>x</b>"]}';
    const t = turn(0, { ...streaming, structured: true });
    const { model, $ } = mount({ tabs: tabsWith(t) });
    model.emit({ type: "snapshot", tab: "t1", turn: 0, status: "streaming", text: json.slice(0, 20), reasoning: "" });
    await frame();
    const block = () => $("[data-testid=answer-json]")!;
    expect(block().hidden).toBe(false);
    expect(block().querySelector("pre > code")?.textContent).toBe(json.slice(0, 20));
    expect($("[data-testid=answer]")?.textContent).toBe(""); // not Markdown
    model.emit({ type: "deltas", items: [{ tab: "t1", turn: 0, channel: "text", offset: 20, text: json.slice(20) }] });
    model.emit({ type: "status", tab: "t1", turn: 0, status: "done" });
    model.set("tabs", tabsWith({ ...t, status: "done", text_length: json.length }));
    await frame();
    expect(block().querySelector("code")?.textContent).toBe(JSON.stringify(JSON.parse(json), null, 2));
    expect(block().querySelector("b")).toBeNull();
    expect($("[data-testid=answer]")?.getAttribute("data-length")).toBe(String(json.length));
  });

  it("keeps the text of earlier tool rounds as Markdown (answer_from counts code points)", async () => {
    const before = "**Checking** 🦅.\n\n";
    const json = '{"temp":20}';
    const from = [...before].length;
    const t = turn(0, { structured: true, answer_from: from, text_length: from + json.length, tool_calls: [call(0)] });
    const { model, $ } = mount({ tabs: tabsWith(t) });
    model.emit({ type: "snapshot", tab: "t1", turn: 0, status: "done", text: before + json, reasoning: "" });
    await frame();
    expect($("[data-testid=answer] strong")?.textContent).toBe("Checking");
    expect($("[data-testid=answer]")?.textContent).toBe("Checking 🦅.");
    expect($("[data-testid=answer-json] code")?.textContent).toBe('{\n  "temp": 20\n}');
  });

  it("is not used for a plain turn", async () => {
    const { model, $ } = mount({ tabs: tabsWith(turn(0, { text_length: 7 })) });
    model.emit({ type: "snapshot", tab: "t1", turn: 0, status: "done", text: '{"a":1}', reasoning: "" });
    await frame();
    expect($("[data-testid=answer-json]")?.hidden).toBe(true);
    expect($("[data-testid=answer]")?.textContent).toBe('{"a":1}');
  });
});

describe("formatJson", () => {
  it.each([
    ['{"a":1,"b":[1,2,{"c":null}],"d":{},"e":[],"f":"x"}'],
    ["[]"],
    ['  "just a string"  '],
    ["3.5"],
    ['{"nested": {"deep": [[], [{}], [true, false]]}, "s": "a,b:{c}[d]\\"e"}'],
    ['{ "spaced" : [ 1 , 2 ] }'],
  ])("lays %s out as JSON.stringify(…, null, 2) does", (text) => {
    expect(formatJson(text)).toBe(JSON.stringify(JSON.parse(text), null, 2));
  });

  it("keeps every literal as written", () => {
    expect(formatJson('{"id":12345678901234567890,"x":1.0,"e":"\\u00e9","2":0,"b":1,"b":2}')).toBe(
      '{\n  "id": 12345678901234567890,\n  "x": 1.0,\n  "e": "\\u00e9",\n  "2": 0,\n  "b": 1,\n  "b": 2\n}',
    );
  });

  it("refuses what is not JSON", () => {
    for (const text of ["", "{", '{"a":1', "{'a':1}", "NaN", "<b>x</b>"]) expect(formatJson(text)).toBeNull();
  });

  it("unwraps a fenced structured answer, as the kernel's schema check does", () => {
    expect(formatAnswerJson('```json\n{"a":1}\n```\n')).toBe('{\n  "a": 1\n}');
    expect(formatAnswerJson("not json")).toBe("not json");
  });
});
