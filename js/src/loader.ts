/**
 * The chat panel's loader: the small module each `ChatPanel` widget carries.
 *
 * anywidget sends a widget's ESM with every widget it opens. The full panel
 * (markdown, sanitizer, highlighter) is ~190 kB, and every `%%llm` cell
 * opens a panel, so each widget carries only this loader, and the page gets
 * the bundle once, cached on the page under the bundle's hash (the kernel
 * fills the hash in when it sends this file):
 *
 * - the kernel pushes the bundle with the first panel it opens (kernel-to-page
 *   messages flow while a cell runs; page-to-kernel ones can wait behind it);
 * - otherwise (a reloaded page, a second page on the kernel) the page asks for
 *   it with one `{type: "esm"}` message, again on a schedule until answered.
 *
 * The request belongs to the page, not to the widget that made it: every open
 * panel carries it, and when the one it was sent through closes before the
 * reply (a `%%llm` cell's live view does when its answer settles), it is sent
 * again through the next.
 */
import type { PanelWidget } from "./index.js";
import type { WidgetModel } from "./protocol.js";

interface Bundle {
  createPanelWidget: () => PanelWidget;
}

interface BundleMessage {
  type: "esm";
  code: string;
  css: string;
}

const BUNDLE_ID = "__IPYLLM_BUNDLE_ID__";
const TIMEOUT_MS = 60_000;
/** The first ask waits a moment: the kernel's push for a first panel comes right after it opens. */
const FIRST_ASK_MS = 50;
const RETRY_MS = [400, 1500, 4000, 10_000];

/** Turns the bundle's code into its module (a blob: URL import in a browser). */
export type ImportCode = (code: string) => Promise<Bundle>;

async function importCode(code: string): Promise<Bundle> {
  const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
  try {
    return (await import(/* @vite-ignore */ url)) as Bundle;
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** The page's one request for the bundle, carried by whichever panels are open. */
export class BundleRequest {
  readonly bundle: Promise<Bundle>;
  private readonly carriers: WidgetModel[] = [];
  private settle!: (msg: BundleMessage | Error) => void;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private deadline: ReturnType<typeof setTimeout> | undefined;
  private attempt = 0;
  /** The carrier the last ask went through (null: none yet, or it closed with no other open). */
  private askedThrough: WidgetModel | null = null;
  private done = false;

  constructor(doc: Document = document, load: ImportCode = importCode) {
    const reply = new Promise<BundleMessage>((resolve, reject) => {
      this.settle = (msg) => (msg instanceof Error ? reject(msg) : resolve(msg));
    });
    this.bundle = reply.then((msg) => {
      if (msg.css && !doc.getElementById(`ipyllm-css-${BUNDLE_ID}`)) {
        const style = doc.createElement("style");
        style.id = `ipyllm-css-${BUNDLE_ID}`;
        style.textContent = msg.css;
        doc.head.append(style);
      }
      return load(msg.code);
    });
  }

  /**
   * Let `model` carry the request and hear the reply; call the returned function when
   * the model closes. The newest open carrier asks; with none open, the request waits.
   */
  carry(model: WidgetModel): () => void {
    if (this.done) return () => {};
    model.on("msg:custom", this.onMessage);
    this.carriers.push(model);
    if (this.askedThrough === null && this.retry === undefined) {
      this.retry = setTimeout(() => this.ask(), FIRST_ASK_MS);
    }
    // The wait is counted from the newest panel: an older one's wait may be nearly over.
    clearTimeout(this.deadline);
    this.deadline = setTimeout(
      () => this.finish(new Error("ipyllm: the kernel did not send the chat panel's code; is it busy?")),
      TIMEOUT_MS,
    );
    return () => this.drop(model);
  }

  /** Ask through the newest open carrier, then again on the schedule until answered. */
  private ask(): void {
    clearTimeout(this.retry);
    this.retry = undefined;
    const model = this.carriers[this.carriers.length - 1];
    this.askedThrough = model ?? null;
    if (!model || this.done) return;
    model.send({ type: "esm" });
    this.retry = setTimeout(() => this.ask(), RETRY_MS[Math.min(this.attempt++, RETRY_MS.length - 1)]);
  }

  private drop(model: WidgetModel): void {
    model.off("msg:custom", this.onMessage);
    const at = this.carriers.indexOf(model);
    if (at >= 0) this.carriers.splice(at, 1);
    if (this.done || model !== this.askedThrough) return;
    // The reply would have come through the closed one: ask again through another.
    this.ask();
    if (!this.carriers.length) clearTimeout(this.deadline); // none can answer until the next opens
  }

  private readonly onMessage = (msg: unknown): void => {
    const m = msg as Partial<BundleMessage> | null;
    if (m && m.type === "esm" && typeof m.code === "string") this.finish(m as BundleMessage);
  };

  private finish(result: BundleMessage | Error): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.retry);
    clearTimeout(this.deadline);
    for (const model of this.carriers.splice(0)) model.off("msg:custom", this.onMessage);
    this.settle(result);
  }
}

type Cache = Record<string, BundleRequest | undefined>;

function cache(): Cache {
  const g = globalThis as unknown as { __ipyllmChat?: Cache };
  g.__ipyllmChat ??= {};
  return g.__ipyllmChat;
}

/** The page's request for this bundle: the pending or finished one, else a new one. */
export function bundleRequest(doc: Document = document, load: ImportCode = importCode): BundleRequest {
  const store = cache();
  let request = store[BUNDLE_ID];
  if (!request) {
    const made = new BundleRequest(doc, load);
    store[BUNDLE_ID] = made;
    made.bundle.catch(() => {
      if (store[BUNDLE_ID] === made) delete store[BUNDLE_ID]; // let the next panel ask again
    });
    request = made;
  }
  return request;
}

export default function createLoader(load: ImportCode = importCode): PanelWidget {
  let panel: Promise<PanelWidget> | null = null;
  let release: (() => void) | null = null;
  let disposeState: (() => void) | null = null;
  let closed = false;

  function loadPanel(model: WidgetModel): Promise<PanelWidget> {
    if (!panel) {
      const request = bundleRequest(document, load);
      release = request.carry(model);
      panel = request.bundle.then((b) => b.createPanelWidget());
      panel.catch(() => (panel = null)); // a later render asks again
    }
    return panel;
  }

  return {
    // Not awaited by design: ipywidgets holds a model's incoming messages until its
    // initialize settles, so waiting here for the bundle's reply would never end.
    initialize: ({ model }: { model: WidgetModel }) => {
      void loadPanel(model).then(
        (p) => {
          if (!closed) disposeState = p.initialize({ model });
        },
        () => {},
      );
      return () => {
        closed = true;
        release?.();
        disposeState?.();
      };
    },
    render: (async ({ model, el }: { model: WidgetModel; el: HTMLElement }) => {
      const p = await loadPanel(model);
      return p.render({ model, el });
    }) as unknown as PanelWidget["render"],
  };
}
