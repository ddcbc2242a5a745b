// @vitest-environment jsdom
import type { AnyModel } from "@anywidget/types";
import { afterEach, describe, expect, it } from "vitest";
import { createPanelWidget } from "../src/index.js";
import { renderMarkdown } from "../src/markdown.js";
import type { TabInfo, WidgetModel } from "../src/protocol.js";
import { deltas, FakeModel, PROVIDERS, tab, turn } from "./fakeModel.js";
import { atUnmount, frame, mount, unmountAll } from "./mountPanel.js";

// Compile-time check: anywidget's model satisfies the subset the panel uses.
const _modelFits = (m: AnyModel): WidgetModel => m;
void _modelFits;

function key(target: Element, k: string, opts: KeyboardEventInit = {}) {
  target.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true, cancelable: true, ...opts }));
}

afterEach(unmountAll);

const streamingTabs = (): TabInfo[] => [
  tab("t1", [turn(0, { text_length: 2 })]),
  tab("t2", [turn(0, { text_length: 5 }), turn(1, { status: "streaming", tokens_out: null, cost: null, elapsed_s: null })], {
    status: "streaming",
  }),
];

describe("full panel", () => {
  it("renders the tab strip, selects the newest tab and syncs every tab", () => {
    const { $, $$, model } = mount({ tabs: streamingTabs() });
    expect($(".ipyllm-panel")?.getAttribute("data-compact")).toBe("false");
    const tabs = $$("[data-testid=tab]");
    expect(tabs.map((t) => t.textContent)).toEqual(["Chat t1", "Chat t2"]);
    expect($("[data-testid=tab][data-tab-id=t2]")?.getAttribute("aria-selected")).toBe("true");
    expect($("[data-testid=tab][data-tab-id=t1]")?.getAttribute("aria-selected")).toBe("false");
    expect(model.sentOfType("sync").map((m) => m.tab)).toEqual(["t1", "t2"]);
    expect($$("[data-testid=turn]").map((t) => t.dataset.turn)).toEqual(["0", "1"]);
    expect($("[data-testid=turn][data-turn='1'] [data-testid=query]")?.textContent).toBe("question 1");
  });

  it("applies snapshot and deltas to the answer, once per frame", async () => {
    const { $, model } = mount({ tabs: streamingTabs() });
    model.emit({ type: "snapshot", tab: "t2", turn: 1, status: "streaming", text: "Hi ", reasoning: "", past: [{ index: 0, text: "first", reasoning: "" }] });
    model.emit(deltas(["t2", 1, 3, "**there** 🦅"]));
    const answer = () => $("[data-testid=turn][data-turn='1'] [data-testid=answer]")!;
    expect(answer().getAttribute("data-length")).not.toBe("14"); // not drawn before the frame
    await frame();
    expect(answer().textContent).toBe("Hi there 🦅");
    expect(answer().getAttribute("data-length")).toBe("14"); // raw text "Hi **there** 🦅"
    expect(answer().querySelector("strong")?.textContent).toBe("there");
    expect(answer().querySelector(".ipyllm-cursor")).not.toBeNull();
    expect($("[data-testid=turn][data-turn='0'] [data-testid=answer]")?.textContent).toBe("first");
    model.emit({ type: "status", tab: "t2", turn: 1, status: "done" });
    await frame();
    expect(answer().querySelector(".ipyllm-cursor")).toBeNull();
    expect($("[data-testid=turn][data-turn='1']")?.getAttribute("data-status")).toBe("done");
  });

  it("shows reasoning in a collapsed details and a footer", async () => {
    const { $, model } = mount({ tabs: streamingTabs() });
    model.emit(deltas(["t2", 1, 0, "thinking…", "reasoning"]));
    await frame();
    const details = $<HTMLDetailsElement>("[data-testid=turn][data-turn='1'] [data-testid=reasoning]");
    expect(details?.tagName).toBe("DETAILS");
    expect(details?.open).toBe(false);
    expect(details?.textContent).toContain("thinking…");
    expect($("[data-testid=turn][data-turn='0'] [data-testid=reasoning]")).toBeNull();
    const footer = $("[data-testid=turn][data-turn='0'] [data-testid=footer]")?.textContent ?? "";
    expect(footer).toContain("openai:gpt-4o-mini");
    expect(footer).toContain("10 in / 20 out");
    expect(footer).toContain("$0.001235");
    expect(footer).toContain("0.42 s");
    // The streaming turn has no figures yet: it says so instead of showing dashes.
    expect($("[data-testid=turn][data-turn='1'] [data-testid=footer]")?.textContent).toBe(
      "openai:gpt-4o-mini · answering…",
    );
  });

  it("turns Send into Stop while the shown tab streams", async () => {
    const { $, model } = mount({ tabs: streamingTabs() });
    const button = $<HTMLButtonElement>("[data-testid=send]")!;
    expect(button.textContent).toBe("Stop");
    expect(button.dataset.state).toBe("stop");
    button.click();
    expect(model.sent.at(-1)).toMatchObject({ type: "stop", tab: "t2" });
    $<HTMLElement>("[data-testid=tab][data-tab-id=t1]")!.click();
    await frame();
    expect(button.textContent).toBe("Send");
    expect(button.dataset.state).toBe("send");
  });

  it("sends on Enter, not on Shift+Enter", async () => {
    const { $, model } = mount({ tabs: [tab("t1")] });
    const prompt = $<HTMLTextAreaElement>("[data-testid=prompt]")!;
    prompt.value = "line one";
    key(prompt, "Enter", { shiftKey: true });
    expect(model.sentOfType("send")).toHaveLength(0);
    expect(prompt.value).toBe("line one");
    prompt.value = "line one\nline two";
    key(prompt, "Enter");
    expect(model.sentOfType("send")).toEqual([expect.objectContaining({ type: "send", tab: "t1", prompt: "line one\nline two" })]);
    expect(model.sentOfType("send")[0]).not.toHaveProperty("context");
    expect(prompt.value).toBe("");
    key(prompt, "Enter"); // empty: nothing
    expect(model.sentOfType("send")).toHaveLength(1);
  });

  it("with no tab open, a prompt opens one and is sent to it", () => {
    const { $, model } = mount({ tabs: [] });
    const prompt = $<HTMLTextAreaElement>("[data-testid=prompt]")!;
    prompt.value = "hello";
    key(prompt, "Enter");
    const req = model.sent.at(-1)!;
    expect(req.type).toBe("new_tab");
    expect(model.sentOfType("send")).toHaveLength(0);
    model.emit({ type: "opened", tab: "t5", reply_to: req.id });
    expect(model.sentOfType("send")).toEqual([expect.objectContaining({ tab: "t5", prompt: "hello" })]);
  });

  it("sends the checked tabs as context", async () => {
    const { $, model } = mount({ tabs: [tab("t1"), tab("t2")] });
    const boxes = [...$("[data-testid=context-picker]")!.querySelectorAll<HTMLInputElement>("input[type=checkbox]")];
    expect(boxes.map((b) => b.dataset.tabId)).toEqual(["t1"]);
    boxes[0]!.click();
    const prompt = $<HTMLTextAreaElement>("[data-testid=prompt]")!;
    prompt.value = "compare";
    $<HTMLButtonElement>("[data-testid=send]")!.click();
    expect(model.sentOfType("send")).toEqual([expect.objectContaining({ tab: "t2", prompt: "compare", context: ["t1"] })]);
  });

  it("opens a tab with +, then shows it once it exists", async () => {
    const { $, model } = mount({ tabs: [tab("t1")] });
    $<HTMLButtonElement>("[data-testid=new-tab]")!.click();
    const req = model.sent.at(-1)!;
    expect(req.type).toBe("new_tab");
    // Listed first, so only the `opened` reply can make it the shown tab.
    model.set("tabs", [tab("t9"), tab("t1")]);
    await frame();
    expect($("[data-testid=tab][data-tab-id=t9]")?.getAttribute("aria-selected")).toBe("false");
    model.emit({ type: "opened", tab: "t9", reply_to: req.id });
    await frame();
    expect($("[data-testid=tab][data-tab-id=t9]")?.getAttribute("aria-selected")).toBe("true");
  });

  it("updates a tab's tooltip when its model changes", async () => {
    const { $, model } = mount({ tabs: [tab("t1")] });
    expect($("[data-testid=tab]")!.title).toContain("(openai:gpt-4o-mini)");
    model.set("tabs", [tab("t1", [], { model: "anthropic:claude-sonnet" })]);
    await frame();
    expect($("[data-testid=tab]")!.title).toContain("(anthropic:claude-sonnet)");
  });

  it("renames on double-click and closes with ×", async () => {
    const { $, model } = mount({ tabs: [tab("t1"), tab("t2")] });
    $("[data-testid=tab][data-tab-id=t1]")!.dispatchEvent(new MouseEvent("dblclick", { bubbles: true }));
    const input = $<HTMLInputElement>("input.ipyllm-rename")!;
    expect(input.value).toBe("Chat t1");
    input.value = "Research";
    key(input, "Enter");
    expect(model.sent.at(-1)).toMatchObject({ type: "rename", tab: "t1", title: "Research" });
    expect($("input.ipyllm-rename")).toBeNull();
    $<HTMLButtonElement>("[data-tab-id=t2] + .ipyllm-tab-close")!.click();
    expect(model.sent.at(-1)).toMatchObject({ type: "close", tab: "t2" });
  });

  it("shows a failed turn's error, a Failed badge and Retry", async () => {
    const tabs = [tab("t1", [turn(0, { status: "error", error: "openai: invalid key; set it in Settings" })])];
    const { $, model } = mount({ tabs });
    expect($("[data-testid=turn-error]")?.textContent).toBe("openai: invalid key; set it in Settings");
    const badge = $("[data-testid=turn-state]")!;
    expect(badge.hidden).toBe(false);
    expect(badge.textContent).toBe("Failed");
    $<HTMLButtonElement>("[data-testid=retry]")!.click();
    expect(model.sent.at(-1)).toMatchObject({ type: "retry", tab: "t1" });
  });

  it("marks a stopped turn on itself and shows only the figures it has", () => {
    const stopped = turn(0, { status: "stopped", tokens_in: null, tokens_out: null, cost: null, ttft_s: 0.3, elapsed_s: null });
    const { $ } = mount({ tabs: [tab("t1", [stopped])] });
    const badge = $("[data-testid=turn-state]")!;
    expect(badge.hidden).toBe(false);
    expect(badge.textContent).toBe("Stopped");
    const footer = $("[data-testid=footer]")!.textContent!;
    expect(footer).toBe("openai:gpt-4o-mini · first token 0.30 s");
    expect(footer).not.toContain("—");
    // A done turn has no badge.
    const done = mount({ tabs: [tab("t2", [turn(0)])] });
    expect(done.$("[data-testid=turn-state]")!.hidden).toBe(true);
  });

  it("offers Copy on every settled answer and Retry on the latest, whether done, stopped or failed", async () => {
    const tabs = [tab("t1", [turn(0, { text_length: 5 }), turn(1, { text_length: 9 })])];
    const { $, $$, model } = mount({ tabs });
    model.emit({ type: "snapshot", tab: "t1", turn: 1, status: "done", text: "**Second**", reasoning: "", past: [{ index: 0, text: "First", reasoning: "" }] });
    await frame();
    const copies = $$("[data-testid=copy-answer]");
    expect(copies.map((b) => b.hidden)).toEqual([false, false]);
    const retries = $$("[data-testid=retry]");
    expect(retries.map((b) => b.hidden)).toEqual([true, false]);
    let copied = "";
    Object.defineProperty(navigator, "clipboard", { value: { writeText: async (t: string) => void (copied = t) }, configurable: true });
    copies[1]!.click();
    await frame();
    expect(copied).toBe("**Second**"); // the Markdown source, not the rendered text
    expect(copies[1]!.textContent).toBe("Copied");
    retries[1]!.click();
    expect(model.sent.at(-1)).toMatchObject({ type: "retry", tab: "t1" });
    // While the tab answers, nothing is retried; the streaming turn has neither button.
    model.set("tabs", [tab("t1", [turn(0), turn(1), turn(2, { status: "streaming" })], { status: "streaming" })]);
    await frame();
    expect($$("[data-testid=retry]").filter((b) => !b.hidden)).toEqual([]);
    expect($("[data-testid=turn][data-turn='2'] [data-testid=copy-answer]")!.hidden).toBe(true);
    for (const status of ["stopped", "error"]) {
      model.set("tabs", [tab("t1", [turn(0), turn(1, { status })])]);
      await frame();
      expect($("[data-testid=turn][data-turn='1'] [data-testid=retry]")!.hidden).toBe(false);
    }
  });

  it("groups the model picker by provider, and shows the chosen one as provider · model", async () => {
    const { $, model } = mount({ tabs: [tab("t1")] });
    const picker = $<HTMLSelectElement>("[data-testid=model-picker]")!;
    const labels = [...picker.querySelectorAll("optgroup")].map((g) => g.label);
    expect(labels).toEqual(["OpenAI", "Anthropic", "Ollama"]);
    const options = [...picker.querySelectorAll("optgroup")].map((g) => [...g.querySelectorAll("option")].map((o) => o.textContent));
    expect(options).toEqual([["OpenAI · gpt-4o-mini", "gpt-4o"], ["claude-sonnet"], ["llama3"]]);
    expect(picker.value).toBe("openai:gpt-4o-mini");
    expect(picker.selectedOptions[0]!.textContent).toBe("OpenAI · gpt-4o-mini");
    picker.value = "anthropic:claude-sonnet";
    picker.dispatchEvent(new Event("change"));
    expect(model.sent.at(-1)).toMatchObject({ type: "set_model", tab: "t1", model: "anthropic:claude-sonnet" });
    expect(picker.selectedOptions[0]!.textContent).toBe("Anthropic · claude-sonnet");
    expect(picker.querySelector("option[value='openai:gpt-4o-mini']")!.textContent).toBe("gpt-4o-mini");
  });

  it("lists the user's aliases in the picker; picking one sets the tab's model to it", async () => {
    const withAliases = PROVIDERS.map((p) =>
      p.name === "openai"
        ? {
            ...p,
            aliases: [
              { name: "fast", model: "openai:gpt-4o-mini", label: "fast → openai:gpt-4o-mini", builtin: false },
              { name: "4o-mini", model: "openai:gpt-4o-mini", label: "4o-mini → openai:gpt-4o-mini", builtin: true },
            ],
          }
        : p,
    );
    const { $, model } = mount({ tabs: [tab("t1")], providers: withAliases });
    const picker = $<HTMLSelectElement>("[data-testid=model-picker]")!;
    const group = [...picker.querySelectorAll("optgroup")].at(-1)!;
    expect(group.label).toBe("Aliases");
    expect([...group.querySelectorAll("option")].map((o) => o.value)).toEqual(["fast"]);
    picker.value = "fast";
    picker.dispatchEvent(new Event("change"));
    expect(model.sent.at(-1)).toMatchObject({ type: "set_model", tab: "t1", model: "fast" });
    expect(picker.selectedOptions[0]!.textContent).toBe("fast → openai:gpt-4o-mini");
  });

  it("hides the context choice when there is no other chat", async () => {
    const { $, model } = mount({ tabs: [tab("t1")] });
    const box = $("[data-testid=context-picker]")!;
    expect(box.hidden).toBe(true);
    expect(box.textContent).toBe("");
    model.set("tabs", [tab("t1"), tab("t2")]);
    await frame();
    expect(box.hidden).toBe(false);
    expect(box.querySelectorAll("input[type=checkbox]")).toHaveLength(1);
  });

  it("names an untitled chat after its first prompt", async () => {
    const { $, model } = mount({ tabs: [tab("t1", [], { title: "Tab 1" })] });
    const box = $<HTMLTextAreaElement>("[data-testid=prompt]")!;
    box.value = "  How do I   read a parquet file with pandas and keep the index?\nmore";
    key(box, "Enter");
    const [rename] = model.sentOfType("rename");
    expect(rename).toMatchObject({ tab: "t1", title: "How do I read a parquet file with pandas…" });
    expect(model.sent.indexOf(rename!)).toBeLessThan(model.sent.indexOf(model.sentOfType("send")[0]!));
    // A chat with a title of its own, or one already started, keeps its title.
    const other = mount({ tabs: [tab("t2", [], { title: "Research" }), tab("t3", [turn(0)], { title: "Tab 3" })] });
    other.$<HTMLElement>("[data-testid=tab][data-tab-id=t2]")!.click();
    await frame();
    const box2 = other.$<HTMLTextAreaElement>("[data-testid=prompt]")!;
    box2.value = "hello";
    key(box2, "Enter");
    other.$<HTMLElement>("[data-testid=tab][data-tab-id=t3]")!.click();
    await frame();
    box2.value = "again";
    key(box2, "Enter");
    expect(other.model.sentOfType("rename")).toEqual([]);
    expect(other.model.sentOfType("send")).toHaveLength(2);
  });

  it("opens a chat titled by the prompt when none is open", () => {
    const { $, model } = mount({ tabs: [] });
    const box = $<HTMLTextAreaElement>("[data-testid=prompt]")!;
    box.value = "Plot a sine wave";
    key(box, "Enter");
    expect(model.sentOfType("new_tab")[0]).toMatchObject({ type: "new_tab", title: "Plot a sine wave" });
  });
});

describe("streaming into the answer", () => {
  it("keeps a selection in a finished block while more text streams in and after it settles", async () => {
    const { $, model } = mount({ tabs: streamingTabs() });
    const answer = () => $("[data-testid=turn][data-turn='1'] [data-testid=answer]")!;
    const first = "First **paragraph** to select from.\n\n```python\nx = 1\n```\n\nSecond";
    model.emit(deltas(["t2", 1, 0, first]));
    await frame();
    const paragraph = answer().querySelector("p")!;
    const text = paragraph.firstChild!; // "First "
    const range = document.createRange();
    range.setStart(text, 0);
    range.setEnd(paragraph.querySelector("strong")!.firstChild!, 5);
    const selection = document.getSelection()!;
    selection.removeAllRanges();
    selection.addRange(range);
    expect(selection.toString()).toBe("First parag");
    let offset = first.length;
    const more = [" paragraph.\n\n", "```js\n", "const a = 1;\n", "const b = 2;\n".repeat(10), "```\n\n- item\n", "- item two\n"];
    for (const piece of more) {
      model.emit(deltas(["t2", 1, offset, piece]));
      offset += piece.length;
      await frame();
      expect(answer().querySelector("p")).toBe(paragraph);
      expect(selection.rangeCount).toBe(1);
      expect(selection.getRangeAt(0).toString()).toBe("First parag");
    }
    model.emit({ type: "status", tab: "t2", turn: 1, status: "done" });
    await frame();
    expect(answer().querySelector(".ipyllm-cursor")).toBeNull();
    expect(paragraph.isConnected).toBe(true);
    expect(selection.getRangeAt(0).startContainer).toBe(text);
    expect(selection.toString()).toBe("First parag");
    // And the settled answer is exactly a full render of the text.
    const full = document.createElement("div");
    full.append(renderMarkdown(first + more.join("")));
    expect(answer().innerHTML).toBe(full.innerHTML);
  });
});

describe("settings", () => {
  it("saves a key in one message and clears the field once the kernel took it", async () => {
    const { $, model, el } = mount({ tabs: [tab("t1")] });
    const pane = $("[data-testid=settings]")!;
    expect(pane.hidden).toBe(true);
    $<HTMLButtonElement>("[data-testid=settings-toggle]")!.click();
    expect(pane.hidden).toBe(false);
    expect($("[data-testid=key-status][data-provider=openai]")?.textContent).toBe("missing");
    expect($("[data-testid=key-status][data-provider=anthropic]")?.textContent).toBe("keyring");
    expect($("[data-testid=key-status][data-provider=ollama]")?.textContent).toBe("not needed");
    const input = $<HTMLInputElement>("[data-testid=key-input][data-provider=openai]")!;
    expect(input.type).toBe("password");
    input.value = "sk-secret-123";
    $<HTMLButtonElement>("[data-testid=key-save][data-provider=openai]")!.click();
    expect(model.sentOfType("set_key")).toEqual([expect.objectContaining({ type: "set_key", provider: "openai", key: "sk-secret-123" })]);
    expect(el.outerHTML).not.toContain("sk-secret-123");
    expect(JSON.stringify({ ...localStorage })).not.toContain("sk-secret");
    const del = $<HTMLButtonElement>("[data-testid=key-delete][data-provider=openai]")!;
    expect(del.disabled).toBe(true); // no key in the keyring yet
    const id = model.sentOfType("set_key")[0]!.id as string;
    model.emit({ type: "key_result", provider: "openai", ok: true, message: "openai key saved to the keyring", key: "keyring", reply_to: id });
    await frame();
    expect(input.value).toBe("");
    expect($("[data-testid=notice]")?.textContent).toBe("openai key saved to the keyring");
    expect($("[data-testid=notice]")?.hidden).toBe(false);
    expect($("[data-testid=key-status][data-provider=openai]")?.textContent).toBe("keyring");
    $<HTMLButtonElement>("[data-testid=key-delete][data-provider=openai]")!.click();
    expect(model.sent.at(-1)).toMatchObject({ type: "delete_key", provider: "openai" });
    expect(model.sent.at(-1)).not.toHaveProperty("key");
  });

  it("keeps a refused key in the field, to correct it", async () => {
    const { $, model, el } = mount({ tabs: [tab("t1")] });
    const input = $<HTMLInputElement>("[data-testid=key-input][data-provider=openai]")!;
    input.value = "sk-typo";
    key(input, "Enter");
    const id = model.sentOfType("set_key")[0]!.id as string;
    model.emit({ type: "key_result", provider: "openai", ok: false, message: "openai refused the key", key: "missing", reply_to: id });
    await frame();
    expect(input.value).toBe("sk-typo");
    expect($("[data-testid=notice]")?.textContent).toBe("openai refused the key");
    expect(el.outerHTML).not.toContain("sk-typo");
  });

  it("offers Delete only for a key in the keyring, and lines the rows up in one grid", () => {
    const { $ } = mount({ tabs: [tab("t1")] });
    expect($<HTMLButtonElement>("[data-testid=key-delete][data-provider=openai]")!.disabled).toBe(true);
    expect($<HTMLButtonElement>("[data-testid=key-delete][data-provider=anthropic]")!.disabled).toBe(false);
    const name = $("[data-provider=openai] .ipyllm-provider-name")!;
    expect(name.title).toBe("OpenAI");
  });

  it("does not send an empty key", () => {
    const { $, model } = mount();
    $<HTMLButtonElement>("[data-testid=key-save][data-provider=openai]")!.click();
    expect(model.sentOfType("set_key")).toHaveLength(0);
  });
});

describe("compact mode", () => {
  it("shows one tab's chosen turn, no strip, settings or input, and Stop while streaming", async () => {
    const { $, $$, model } = mount({ tabs: streamingTabs(), compact: true, tab: "t2", turn: 1 });
    expect($(".ipyllm-panel")?.getAttribute("data-compact")).toBe("true");
    expect($("[data-testid=tab]")).toBeNull();
    expect($("[data-testid=prompt]")).toBeNull();
    expect($("[data-testid=settings]")).toBeNull();
    expect($("[data-testid=settings-toggle]")).toBeNull();
    expect($$("[data-testid=turn]").map((t) => t.dataset.turn)).toEqual(["1"]);
    expect(model.sentOfType("sync").map((m) => m.tab)).toEqual(["t2"]);
    const stop = $<HTMLButtonElement>("[data-testid=send]")!;
    expect(stop.hidden).toBe(false);
    expect(stop.textContent).toBe("Stop");
    stop.click();
    expect(model.sent.at(-1)).toMatchObject({ type: "stop", tab: "t2" });
    model.emit({ type: "status", tab: "t2", turn: 1, status: "done" });
    await frame();
    expect(stop.hidden).toBe(true);
  });

  it("offers Copy but not Retry in a cell's view (the new turn would not show there)", async () => {
    const { $, model } = mount({ tabs: [tab("t1", [turn(0, { status: "stopped" })])], compact: true, tab: "t1", turn: 0 });
    model.emit({ type: "snapshot", tab: "t1", turn: 0, status: "stopped", text: "partial", reasoning: "" });
    await frame();
    expect($("[data-testid=copy-answer]")!.hidden).toBe(false);
    expect($("[data-testid=retry]")!.hidden).toBe(true);
    expect($("[data-testid=turn-state]")!.textContent).toBe("Stopped");
  });

  it("lets the output area around a streaming cell view show its overflow (sticky Stop), then restores it", async () => {
    const model = new FakeModel({ providers: PROVIDERS, tabs: streamingTabs(), compact: true, tab: "t2", turn: 1 });
    const widget = createPanelWidget();
    atUnmount(widget.initialize({ model }));
    const clip = document.createElement("div");
    clip.style.overflowX = "hidden";
    clip.style.overflowY = "auto";
    const el = document.createElement("div");
    clip.append(el);
    document.body.append(clip);
    atUnmount(widget.render({ model, el }));
    expect([clip.style.overflowX, clip.style.overflowY]).toEqual(["visible", "visible"]);
    model.emit({ type: "status", tab: "t2", turn: 1, status: "done" });
    await frame();
    expect([clip.style.overflowX, clip.style.overflowY]).toEqual(["hidden", "auto"]);
  });

  it("shows every turn of the tab when turn is -1", () => {
    const { $$ } = mount({ tabs: streamingTabs(), compact: true, tab: "t2", turn: -1 });
    expect($$("[data-testid=turn]").map((t) => t.dataset.turn)).toEqual(["0", "1"]);
  });
});

describe("lifecycle", () => {
  it("shares one listener and one store between views; cleanup removes the view", async () => {
    const model = new FakeModel({ providers: PROVIDERS, tabs: streamingTabs() });
    const widget = createPanelWidget();
    atUnmount(widget.initialize({ model }));
    const a = document.createElement("div");
    const b = document.createElement("div");
    const stopA = widget.render({ model, el: a });
    const stopB = widget.render({ model, el: b });
    atUnmount(stopB);
    expect(model.listenerCount("msg:custom")).toBe(1);
    model.emit(deltas(["t2", 1, 0, "shared"]));
    await frame();
    for (const el of [a, b]) {
      expect(el.querySelector("[data-testid=turn][data-turn='1'] [data-testid=answer]")?.textContent).toBe("shared");
    }
    stopA();
    expect(a.childElementCount).toBe(0);
    model.emit(deltas(["t2", 1, 6, "!"]));
    await frame();
    expect(b.querySelector("[data-testid=turn][data-turn='1'] [data-testid=answer]")?.textContent).toBe("shared!");
    expect(a.childElementCount).toBe(0);
  });

  it("a second widget definition keeps its own state", async () => {
    const one = mount({ tabs: streamingTabs() });
    const two = mount({ tabs: streamingTabs() });
    one.model.emit(deltas(["t2", 1, 0, "only one"]));
    await frame();
    expect(one.$("[data-testid=turn][data-turn='1'] [data-testid=answer]")?.textContent).toBe("only one");
    expect(two.$("[data-testid=turn][data-turn='1'] [data-testid=answer]")?.textContent).toBe("");
  });
});
