// @vitest-environment jsdom
/**
 * What a streaming answer costs the page besides its Markdown: the cursor
 * stays put while text is added before it, and keeping the conversation's end
 * in view reads no layout while the panel draws.
 */
import { afterEach, describe, expect, it } from "vitest";
import { renderMarkdown } from "../src/markdown.js";
import type { TabInfo } from "../src/protocol.js";
import { deltas, tab, turn } from "./fakeModel.js";
import { frame, mount, unmountAll } from "./mountPanel.js";

const realResizeObserver = globalThis.ResizeObserver;
afterEach(() => {
  unmountAll();
  globalThis.ResizeObserver = realResizeObserver;
});

const streaming = (): TabInfo[] => [
  tab("t1", [turn(0, { status: "streaming", tokens_out: null, cost: null, elapsed_s: null })], { status: "streaming" }),
];

/** Give a scrolled element the geometry jsdom lacks; returns what reading it cost. */
function geometry(el: HTMLElement, height: number, client: number) {
  const reads = { count: 0 };
  let top = 0;
  Object.defineProperty(el, "scrollHeight", { configurable: true, get: () => (reads.count++, height) });
  Object.defineProperty(el, "clientHeight", { configurable: true, get: () => (reads.count++, client) });
  Object.defineProperty(el, "scrollTop", {
    configurable: true,
    get: () => (reads.count++, top),
    set: (v: number) => (top = Math.max(0, Math.min(v, height - client))),
  });
  return { reads, top: () => top, scrollTo: (v: number) => ((top = v), el.dispatchEvent(new Event("scroll"))) };
}

describe("the streaming cursor", () => {
  it("stays where it is while text is added before it, and moves with the last block", async () => {
    const { $, model } = mount({ tabs: streaming() });
    const answer = () => $("[data-testid=answer]")!;
    let text = "Intro.\n\n```python\nx = 1\n";
    model.emit(deltas(["t1", 0, 0, text]));
    await frame();
    const cursor = answer().querySelector(".ipyllm-cursor")!;
    const code = answer().querySelector("pre > code")!;
    expect(code.lastChild).toBe(cursor);
    for (const line of ["y = 2\n", "z = [1, 2]\n", "w = 'a'\n", "v = 3\n", "u = 4\n"]) {
      model.emit(deltas(["t1", 0, text.length, line]));
      text += line;
      await frame();
      expect(answer().querySelector(".ipyllm-cursor")).toBe(cursor);
      expect(code.lastChild).toBe(cursor);
      expect(code.isConnected).toBe(true);
    }
    for (const piece of ["```\n\nSome words", " and more words", ", then `code` and an end"]) {
      model.emit(deltas(["t1", 0, text.length, piece]));
      text += piece;
      await frame();
      const p = answer().querySelector("p:last-of-type")!;
      expect(p.lastChild).toBe(cursor);
      expect(answer().querySelectorAll(".ipyllm-cursor")).toHaveLength(1);
    }
    model.emit({ type: "status", tab: "t1", turn: 0, status: "done" });
    await frame();
    expect(answer().querySelector(".ipyllm-cursor")).toBeNull();
    const full = document.createElement("div");
    full.append(renderMarkdown(text));
    expect(answer().innerHTML).toBe(full.innerHTML);
  });
});

describe("keeping the end of the conversation in view", () => {
  it("follows the end after each frame unless the reader scrolled up (no ResizeObserver)", async () => {
    globalThis.ResizeObserver = undefined as unknown as typeof ResizeObserver;
    const { $, model } = mount({ tabs: streaming() });
    const view = geometry($(".ipyllm-conversation")!, 1000, 300);
    model.emit(deltas(["t1", 0, 0, "one"]));
    await frame();
    expect(view.top()).toBe(700);
    view.scrollTo(100); // the reader scrolls up
    model.emit(deltas(["t1", 0, 3, " two"]));
    await frame();
    expect(view.top()).toBe(100);
    view.scrollTo(690); // back near the end
    model.emit(deltas(["t1", 0, 7, " three"]));
    await frame();
    expect(view.top()).toBe(700);
  });

  it("with a ResizeObserver, reads no layout while drawing and scrolls when a turn grew", async () => {
    const observers: { callback: () => void; targets: Set<Element> }[] = [];
    globalThis.ResizeObserver = class {
      targets = new Set<Element>();
      constructor(readonly callback: () => void) {
        observers.push(this);
      }
      observe(el: Element) {
        this.targets.add(el);
      }
      unobserve(el: Element) {
        this.targets.delete(el);
      }
      disconnect() {
        this.targets.clear();
      }
    } as unknown as typeof ResizeObserver;
    const { $, model } = mount({ tabs: streaming() });
    const view = geometry($(".ipyllm-conversation")!, 1000, 300);
    model.emit(deltas(["t1", 0, 0, "one two three"]));
    await frame();
    expect(view.reads.count).toBe(0);
    expect(observers[0]!.targets.has($("[data-testid=turn]")!)).toBe(true);
    observers[0]!.callback(); // after layout: the turn grew
    expect(view.top()).toBe(700);
    view.scrollTo(0);
    observers[0]!.callback();
    expect(view.top()).toBe(0);
  });

  it("does nothing in compact mode, where the page scrolls, not the panel", async () => {
    globalThis.ResizeObserver = undefined as unknown as typeof ResizeObserver;
    const { $, model } = mount({ tabs: streaming(), compact: true, tab: "t1", turn: 0 });
    const view = geometry($(".ipyllm-conversation")!, 1000, 1000);
    model.emit(deltas(["t1", 0, 0, "one two"]));
    await frame();
    expect(view.reads.count).toBe(0);
  });
});
