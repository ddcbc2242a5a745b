/**
 * The chat panel's loader: the small module each `ChatPanel` widget carries.
 *
 * anywidget sends a widget's ESM with every widget it opens. The full panel
 * (markdown, sanitizer, highlighter) is ~180 kB, and every `%%llm` cell
 * opens a panel, so each widget carries only this loader. The first panel of
 * a page asks its kernel for the bundle (one `{type: "esm"}` message),
 * imports it, and caches it on the page under the bundle's hash; every later
 * panel reuses it. The kernel fills in the hash when it sends this file.
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
const RETRY_MS = [400, 1500, 4000, 10_000];

type Cache = Record<string, Promise<Bundle> | undefined>;

function cache(): Cache {
  const g = globalThis as unknown as { __ipyllmChat?: Cache };
  g.__ipyllmChat ??= {};
  return g.__ipyllmChat;
}

/** Ask the kernel for the bundle through `model`; import it; add its CSS once. */
export function fetchBundle(model: WidgetModel, doc: Document = document): Promise<Bundle> {
  return new Promise<BundleMessage>((resolve, reject) => {
    let attempt = 0;
    let retry: ReturnType<typeof setTimeout> | undefined;
    const stop = (): void => {
      clearTimeout(retry);
      clearTimeout(deadline);
      model.off("msg:custom", onMessage);
    };
    const deadline = setTimeout(() => {
      stop();
      reject(new Error("ipyllm: the kernel did not send the chat panel's code; is it busy?"));
    }, TIMEOUT_MS);
    function onMessage(msg: unknown): void {
      const m = msg as Partial<BundleMessage> | null;
      if (!m || m.type !== "esm" || typeof m.code !== "string") return;
      stop();
      resolve(m as BundleMessage);
    }
    // Asked again on a schedule: a request sent before the comm's kernel subshell is
    // ready goes to the main shell and waits there behind a busy cell (a %%llm cell).
    function ask(): void {
      model.send({ type: "esm" });
      retry = setTimeout(ask, RETRY_MS[Math.min(attempt++, RETRY_MS.length - 1)]);
    }
    model.on("msg:custom", onMessage);
    ask();
  }).then(async (msg) => {
    if (msg.css && !doc.getElementById(`ipyllm-css-${BUNDLE_ID}`)) {
      const style = doc.createElement("style");
      style.id = `ipyllm-css-${BUNDLE_ID}`;
      style.textContent = msg.css;
      doc.head.append(style);
    }
    const url = URL.createObjectURL(new Blob([msg.code], { type: "text/javascript" }));
    try {
      return (await import(/* @vite-ignore */ url)) as Bundle;
    } finally {
      URL.revokeObjectURL(url);
    }
  });
}

export default function createLoader(): PanelWidget {
  let panel: PanelWidget | null = null;

  async function load(model: WidgetModel): Promise<PanelWidget> {
    if (panel) return panel;
    const store = cache();
    let bundle = store[BUNDLE_ID];
    if (!bundle) {
      bundle = fetchBundle(model);
      store[BUNDLE_ID] = bundle;
      bundle.catch(() => {
        if (store[BUNDLE_ID] === bundle) delete store[BUNDLE_ID]; // let the next panel retry
      });
    }
    panel = (await bundle).createPanelWidget();
    return panel;
  }

  let disposeState: (() => void) | null = null;
  let closed = false;

  return {
    // Not awaited by design: ipywidgets holds a model's incoming messages until its
    // initialize settles, so waiting here for the bundle's reply would never end.
    initialize: ({ model }: { model: WidgetModel }) => {
      void load(model).then((p) => {
        if (!closed) disposeState = p.initialize({ model });
      });
      return () => {
        closed = true;
        disposeState?.();
      };
    },
    render: (async ({ model, el }: { model: WidgetModel; el: HTMLElement }) => {
      const p = await load(model);
      return p.render({ model, el });
    }) as unknown as PanelWidget["render"],
  };
}
