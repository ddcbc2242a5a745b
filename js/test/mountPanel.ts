/** The panel mounted in jsdom as anywidget mounts it, for the view tests. */
import { createPanelWidget } from "../src/index.js";
import { FakeModel, PROVIDERS } from "./fakeModel.js";

const cleanups: (() => void)[] = [];

/** A panel on a fake model with these traits (the providers by default), in the page. */
export function mount(traits: Record<string, unknown> = {}) {
  const model = new FakeModel({ providers: PROVIDERS, ...traits });
  const widget = createPanelWidget();
  cleanups.push(widget.initialize({ model }));
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = widget.render({ model, el });
  cleanups.push(cleanup);
  const $ = <T extends Element = HTMLElement>(sel: string) => el.querySelector<T>(sel);
  const $$ = (sel: string) => [...el.querySelectorAll<HTMLElement>(sel)];
  return { model, widget, el, cleanup, $, $$ };
}

/** Run `fn` with the unmounting after this test (restore a global, close a widget). */
export function atUnmount(fn: () => void): void {
  cleanups.push(fn);
}

/** Unmount every panel `mount` made and empty the page (call it in `afterEach`). */
export function unmountAll(): void {
  while (cleanups.length) cleanups.pop()!();
  document.body.replaceChildren();
}

/** Let the scheduled animation frame run. */
export function frame(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 40));
}
