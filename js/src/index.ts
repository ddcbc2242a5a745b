/**
 * The anywidget entry of `ipyllm.ChatPanel`.
 *
 * anywidget calls the default export once per model: its closure holds that
 * model's `PanelState`, shared by every view of the model (second display,
 * page reload). `initialize` registers the one message listener; each
 * `render` builds its own DOM and asks for a `sync` of the tabs it shows.
 */
import "./styles.css";
import { notebookInserter } from "./notebookCells.js";
import { PanelState } from "./panelState.js";
import { TRAIT_NAMES, type KernelMessage, type WidgetModel } from "./protocol.js";
import { PanelView } from "./view.js";

export * from "./deltaStore.js";
export { PanelState } from "./panelState.js";
export { PanelView } from "./view.js";
export { renderMarkdown } from "./markdown.js";

export interface PanelWidget {
  initialize(props: { model: WidgetModel }): () => void;
  render(props: { model: WidgetModel; el: HTMLElement }): () => void;
}

/** A fresh widget definition with its own per-model state. */
export function createPanelWidget(): PanelWidget {
  let state: PanelState | null = null;
  let detach: (() => void) | null = null;

  const initialize = ({ model }: { model: WidgetModel }): (() => void) => {
    detach?.();
    state?.dispose();
    const s = new PanelState(model);
    state = s;
    const onMessage = (msg: KernelMessage) => s.handleMessage(msg);
    const onTrait = TRAIT_NAMES.map((name) => [`change:${name}`, () => s.handleTraitChange(name)] as const);
    model.on("msg:custom", onMessage);
    for (const [event, cb] of onTrait) model.on(event, cb);
    detach = () => {
      model.off("msg:custom", onMessage);
      for (const [event, cb] of onTrait) model.off(event, cb);
    };
    return () => {
      detach?.();
      detach = null;
      s.dispose();
      if (state === s) state = null;
    };
  };

  const render = ({ model, el }: { model: WidgetModel; el: HTMLElement }): (() => void) => {
    // A host that skips `initialize` still gets a working panel.
    if (!state) initialize({ model });
    const view = new PanelView(state!, el, notebookInserter(model));
    return () => view.destroy();
  };

  return { initialize, render };
}

export default createPanelWidget;
