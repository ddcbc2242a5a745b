// @vitest-environment jsdom
import { afterEach, describe, expect, it, vi } from "vitest";
import createLoader, { fetchBundle } from "../src/loader.js";
import { FakeModel } from "./fakeModel.js";

afterEach(() => {
  delete (globalThis as { __ipyllmChat?: unknown }).__ipyllmChat;
  document.head.replaceChildren();
});

describe("loader", () => {
  it("initialize returns at once (ipywidgets holds messages until it settles)", () => {
    const model = new FakeModel();
    const cleanup = createLoader().initialize({ model });
    expect(typeof cleanup).toBe("function");
    expect(model.sent).toEqual([{ type: "esm" }]);
  });

  it("asks the kernel once per page, however many panels there are", () => {
    const first = new FakeModel();
    const second = new FakeModel();
    createLoader().initialize({ model: first });
    createLoader().initialize({ model: second });
    expect(first.sent).toEqual([{ type: "esm" }]);
    expect(second.sent).toEqual([]);
  });

  it("adds the bundle's CSS to the page once and ignores other messages", async () => {
    const model = new FakeModel();
    const loading = fetchBundle(model, document).catch(() => null); // node cannot import blob URLs
    model.emit({ type: "deltas", items: [] });
    model.emit({ type: "esm", code: "export const createPanelWidget = () => ({});", css: ".x{}" });
    await loading;
    const model2 = new FakeModel();
    const again = fetchBundle(model2, document).catch(() => null);
    model2.emit({ type: "esm", code: "", css: ".x{}" });
    await again;
    expect(document.head.querySelectorAll("style")).toHaveLength(1);
    expect(document.head.querySelector("style")?.textContent).toBe(".x{}");
  });
});

describe("loader retries", () => {
  it("asks again until the kernel answers, then stops", async () => {
    vi.useFakeTimers();
    const model = new FakeModel();
    const loading = fetchBundle(model, document).catch(() => null);
    expect(model.sent).toHaveLength(1);
    vi.advanceTimersByTime(401);
    expect(model.sent).toHaveLength(2);
    vi.advanceTimersByTime(1501);
    expect(model.sent).toHaveLength(3);
    model.emit({ type: "esm", code: "", css: "" });
    vi.advanceTimersByTime(60_000);
    expect(model.sent).toHaveLength(3);
    vi.useRealTimers();
    await loading;
  });
});
