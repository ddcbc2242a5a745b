// @vitest-environment jsdom
import { afterEach, describe, expect, it } from "vitest";
import { createPanelWidget } from "../src/index.js";
import type { TabInfo } from "../src/protocol.js";
import { FakeModel, PROVIDERS, tab, turn } from "./fakeModel.js";
import { atUnmount, frame, mount, unmountAll } from "./mountPanel.js";

/** A paste of `files`, as a browser fires it (jsdom has no ClipboardEvent data). */
function paste(target: Element, files: File[]): Event {
  const event = new Event("paste", { bubbles: true, cancelable: true });
  Object.defineProperty(event, "clipboardData", { value: { files, items: [], types: ["Files"] } });
  target.dispatchEvent(event);
  return event;
}

const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);

afterEach(unmountAll);

describe("pasted files", () => {
  it("show as chips, can be removed, and go with the prompt as base64", async () => {
    const tabs: TabInfo[] = [tab("t1", [turn(0)])];
    const { model, $, $$ } = mount({ tabs });
    await frame();
    const prompt = $<HTMLTextAreaElement>("[data-testid=prompt]")!;
    const shot = new File([PNG], "shot.png", { type: "image/png" });
    const notes = new File(["hello"], "notes.txt", { type: "text/plain" });
    expect(paste(prompt, [shot, notes]).defaultPrevented).toBe(true);
    const chips = $$("[data-testid=attachment-chip]");
    expect(chips.map((c) => c.textContent)).toEqual(["shot.png11 B×", "notes.txt5 B×"]);
    chips[1]!.querySelector<HTMLButtonElement>("[data-testid=attachment-remove]")!.click();
    expect($$("[data-testid=attachment-chip]")).toHaveLength(1);

    prompt.value = "what is this?";
    $<HTMLButtonElement>("[data-testid=send]")!.click();
    expect($$("[data-testid=attachment-chip]")).toHaveLength(0);
    expect(prompt.value).toBe("");
    await frame();
    const [sent] = model.sentOfType("send");
    expect(sent).toMatchObject({ tab: "t1", prompt: "what is this?" });
    expect(sent!.attachments).toEqual([{ name: "shot.png", mime: "image/png", data: btoa(String.fromCharCode(...PNG)) }]);
  });

  it("a plain-text paste is left to the textarea", () => {
    const { $, $$ } = mount({ tabs: [tab("t1")] });
    const event = new Event("paste", { bubbles: true, cancelable: true });
    Object.defineProperty(event, "clipboardData", { value: { files: [], items: [], types: ["text/plain"] } });
    $("[data-testid=prompt]")!.dispatchEvent(event);
    expect(event.defaultPrevented).toBe(false);
    expect($$("[data-testid=attachment-chip]")).toHaveLength(0);
  });

  it("a turn shows its attachments as chips from the trait, without the bytes", async () => {
    const info = { kind: "image", mime: "image/png", name: "shot.png", size: 2048, width: 8, height: 6 };
    const { $$ } = mount({ tabs: [tab("t1", [turn(0, { attachments: [info] })])] });
    await frame();
    const [chip] = $$("[data-testid=turn] [data-testid=turn-attachment]");
    expect(chip!.textContent).toBe("shot.png8×6 · 2 kB");
    expect(chip!.dataset.kind).toBe("image");
    // No local file in this view: no thumbnail, and nothing ever loads.
    expect($$("[data-testid=turn] img")).toHaveLength(0);
  });

  it("over the size cap: nothing is sent and the notice says why", async () => {
    const { model, $, $$ } = mount({ tabs: [tab("t1")] });
    const prompt = $<HTMLTextAreaElement>("[data-testid=prompt]")!;
    const big = new File([PNG], "big.png", { type: "image/png" });
    Object.defineProperty(big, "size", { value: 25_000_000 });
    paste(prompt, [big]);
    prompt.value = "look";
    $<HTMLButtonElement>("[data-testid=send]")!.click();
    await frame();
    expect(model.sentOfType("send")).toHaveLength(0);
    expect(prompt.value).toBe("look");
    expect($$("[data-testid=attachment-chip]")).toHaveLength(1);
    expect($("[data-testid=notice]")!.textContent).toContain("over 20.0 MB");
  });

  it("the view that sent an image shows its thumbnail from the local blob only", async () => {
    const created: Blob[] = [];
    const original = URL.createObjectURL;
    URL.createObjectURL = (b: Blob | MediaSource) => (created.push(b as Blob), "blob:local-1");
    atUnmount(() => void (URL.createObjectURL = original));
    const { model, $, $$ } = mount({ tabs: [tab("t1")] });
    const prompt = $<HTMLTextAreaElement>("[data-testid=prompt]")!;
    const shot = new File([PNG], "shot.png", { type: "image/png" });
    paste(prompt, [shot]);
    prompt.value = "see";
    $<HTMLButtonElement>("[data-testid=send]")!.click();
    await frame();
    expect(model.sentOfType("send")).toHaveLength(1);
    const info = { kind: "image", mime: "image/png", name: "shot.png", size: 11, width: 1, height: 1 };
    model.set("tabs", [tab("t1", [turn(0, { query: "see", attachments: [info] })])]);
    await frame();
    const img = $<HTMLImageElement>("[data-testid=turn] [data-testid=attachment-thumb]")!;
    expect(img.getAttribute("src")).toBe("blob:local-1");
    expect(created).toEqual([shot]);
  });

  it("a closed view lets the browser free its thumbnails", async () => {
    const revoked: string[] = [];
    const [create, revoke] = [URL.createObjectURL, URL.revokeObjectURL];
    URL.createObjectURL = () => "blob:local-2";
    URL.revokeObjectURL = (url: string) => void revoked.push(url);
    atUnmount(() => void ((URL.createObjectURL = create), (URL.revokeObjectURL = revoke)));
    const widget = createPanelWidget();
    const model = new FakeModel({ providers: PROVIDERS, tabs: [tab("t1")] });
    const stopModel = widget.initialize({ model });
    const el = document.body.appendChild(document.createElement("div"));
    const close = widget.render({ model, el });
    const prompt = el.querySelector<HTMLTextAreaElement>("[data-testid=prompt]")!;
    paste(prompt, [new File([PNG], "a.png", { type: "image/png" })]);
    prompt.value = "see";
    el.querySelector<HTMLButtonElement>("[data-testid=send]")!.click();
    await frame();
    const info = { kind: "image", mime: "image/png", name: "a.png", size: 11, width: 1, height: 1 };
    model.set("tabs", [tab("t1", [turn(0, { query: "see", attachments: [info] })])]);
    await frame();
    expect(el.querySelector("[data-testid=attachment-thumb]")).not.toBeNull();
    expect(revoked).toEqual([]);
    close();
    stopModel();
    expect(revoked).toEqual(["blob:local-2"]);
  });

  it("the composer shows it takes files while they are dragged over it", () => {
    const { $ } = mount({ tabs: [tab("t1")] });
    const composer = $(".ipyllm-composer")!;
    const drag = (type: string, types: string[]) => {
      const event = new Event(type, { bubbles: true, cancelable: true });
      Object.defineProperty(event, "dataTransfer", { value: { types, files: [], items: [] } });
      composer.dispatchEvent(event);
    };
    drag("dragover", ["text/plain"]);
    expect(composer.getAttribute("data-drop")).not.toBe("true");
    drag("dragover", ["Files"]);
    expect(composer.getAttribute("data-drop")).toBe("true");
    drag("dragleave", ["Files"]);
    expect(composer.getAttribute("data-drop")).toBe("false");
    drag("dragover", ["Files"]);
    drag("drop", ["Files"]);
    expect(composer.getAttribute("data-drop")).toBe("false");
  });
});
