// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import createLoader, { bundleRequest, type ImportCode } from "../src/loader.js";
import type { PanelWidget } from "../src/index.js";
import { FakeModel } from "./fakeModel.js";

const ESM = { type: "esm", code: "the bundle", css: ".x{}" };

/** An import of the bundle's code (node cannot import blob: URLs): a panel that notes its models. */
function fakeImport() {
  const initialized: FakeModel[] = [];
  const codes: string[] = [];
  const panel: PanelWidget = {
    initialize: ({ model }) => (initialized.push(model as FakeModel), () => {}),
    render: () => () => {},
  };
  const load: ImportCode = async (code) => (codes.push(code), { createPanelWidget: () => panel });
  return { load, initialized, codes };
}

/** Let promise callbacks (the bundle's import, the panel's initialize) run. */
const settle = () => vi.advanceTimersByTimeAsync(0);

beforeEach(() => vi.useFakeTimers());
afterEach(() => {
  vi.useRealTimers();
  delete (globalThis as { __ipyllmChat?: unknown }).__ipyllmChat;
  document.head.replaceChildren();
});

describe("loader", () => {
  it("initialize returns at once, then asks the kernel once", () => {
    const model = new FakeModel();
    const cleanup = createLoader(fakeImport().load).initialize({ model });
    expect(typeof cleanup).toBe("function");
    expect(model.sent).toEqual([]);
    vi.advanceTimersByTime(60);
    expect(model.sent).toEqual([{ type: "esm" }]);
  });

  it("a bundle the kernel pushed with the first panel needs no request", async () => {
    const { load, initialized } = fakeImport();
    const model = new FakeModel();
    createLoader(load).initialize({ model });
    model.emit(ESM);
    await settle();
    vi.advanceTimersByTime(70_000);
    expect(model.sent).toEqual([]);
    expect(initialized).toEqual([model]);
  });

  it("asks once per page, however many panels open", async () => {
    const { load, initialized, codes } = fakeImport();
    const models = [new FakeModel(), new FakeModel(), new FakeModel()];
    for (const model of models) createLoader(load).initialize({ model });
    vi.advanceTimersByTime(60);
    expect(models.flatMap((m) => m.sent)).toEqual([{ type: "esm" }]);
    models.find((m) => m.sent.length)!.emit(ESM);
    await settle();
    expect(initialized).toEqual(models);
    expect(codes).toEqual(["the bundle"]);
  });

  it("a request whose panel closed before the reply goes on through another open panel", async () => {
    const { load, initialized } = fakeImport();
    const live = new FakeModel(); // a %%llm cell's live view, closed when its answer settles
    const chat = new FakeModel(); // ipyllm.chat() right after
    const closeLive = createLoader(load).initialize({ model: live });
    vi.advanceTimersByTime(60);
    expect(live.sent).toEqual([{ type: "esm" }]);
    createLoader(load).initialize({ model: chat });
    expect(chat.sent).toEqual([]); // the live view's request is still out
    closeLive();
    expect(chat.sent).toEqual([{ type: "esm" }]); // at once, not after a timeout
    chat.emit(ESM);
    await settle();
    expect(initialized).toEqual([chat]);
  });

  it("with every panel closed the request waits; the next panel asks", async () => {
    const { load, initialized } = fakeImport();
    const first = new FakeModel();
    const close = createLoader(load).initialize({ model: first });
    vi.advanceTimersByTime(60);
    close();
    vi.advanceTimersByTime(120_000); // no panel: no ask, no failure
    expect(first.sent).toHaveLength(1);
    const next = new FakeModel();
    createLoader(load).initialize({ model: next });
    vi.advanceTimersByTime(60);
    expect(next.sent).toEqual([{ type: "esm" }]);
    next.emit(ESM);
    await settle();
    expect(initialized).toEqual([next]);
  });

  it("asks again on a schedule until the kernel answers, then stops", async () => {
    const model = new FakeModel();
    createLoader(fakeImport().load).initialize({ model });
    vi.advanceTimersByTime(60);
    expect(model.sent).toHaveLength(1);
    vi.advanceTimersByTime(401);
    expect(model.sent).toHaveLength(2);
    vi.advanceTimersByTime(1501);
    expect(model.sent).toHaveLength(3);
    model.emit(ESM);
    await settle();
    vi.advanceTimersByTime(60_000);
    expect(model.sent).toHaveLength(3);
  });

  it("fails after a minute without a reply, and the next panel asks afresh", async () => {
    const model = new FakeModel();
    const loader = createLoader(fakeImport().load);
    loader.initialize({ model });
    const shown = Promise.resolve(loader.render({ model, el: document.createElement("div") }));
    const outcome = shown.then(
      () => "rendered",
      (e: Error) => e.message,
    );
    await vi.advanceTimersByTimeAsync(60_100);
    expect(await outcome).toMatch(/did not send the chat panel's code/);
    const next = new FakeModel();
    createLoader(fakeImport().load).initialize({ model: next });
    vi.advanceTimersByTime(60);
    expect(next.sent).toEqual([{ type: "esm" }]);
  });

  it("adds the bundle's CSS to the page once and ignores other messages", async () => {
    const request = bundleRequest(document, fakeImport().load);
    const model = new FakeModel();
    request.carry(model);
    model.emit({ type: "deltas", items: [] });
    model.emit(ESM);
    await settle();
    await request.bundle;
    delete (globalThis as { __ipyllmChat?: unknown }).__ipyllmChat;
    const again = bundleRequest(document, fakeImport().load);
    const model2 = new FakeModel();
    again.carry(model2);
    model2.emit(ESM);
    await settle();
    await again.bundle;
    expect(document.head.querySelectorAll("style")).toHaveLength(1);
    expect(document.head.querySelector("style")?.textContent).toBe(".x{}");
  });
});
