/**
 * "Insert below": the panel puts an answer's code block into the notebook it
 * lives in, as a new code cell under the cell that shows the panel.
 *
 * JupyterLab and Notebook 7 reach the notebook's shared model through the
 * ipywidgets manager anywidget hands a widget (`widget_manager.context`); the
 * cell holding the panel is the nearest notebook cell around the panel's DOM
 * (JupyterLab marks each with its index, `data-windowed-list-index`). Other
 * front ends (VS Code, classic Notebook, a plain page) have no such context:
 * there `notebookInserter` is null and the panel shows no button at all.
 */

/** Put `code` into a new code cell below the cell holding `from`; false when it could not. */
export type InsertCode = (code: string, from: Element) => boolean;

interface SharedNotebook {
  readonly cells: readonly unknown[];
  insertCell(index: number, cell: { cell_type: "code"; source: string; metadata: Record<string, unknown> }): unknown;
}

function sharedNotebook(model: unknown): SharedNotebook | null {
  // Duck-typed on purpose: these are JupyterLab objects we do not bundle types for.
  const manager = (model as { widget_manager?: { context?: { model?: { sharedModel?: unknown } } } } | null)
    ?.widget_manager;
  const shared = manager?.context?.model?.sharedModel as Partial<SharedNotebook> | undefined;
  if (!shared || typeof shared.insertCell !== "function" || !Array.isArray(shared.cells)) return null;
  return shared as SharedNotebook;
}

/** The inserter for the notebook this widget model belongs to, or null where none is reachable. */
export function notebookInserter(model: unknown): InsertCode | null {
  const notebook = sharedNotebook(model);
  if (!notebook) return null;
  return (code, from) => {
    const count = notebook.cells.length;
    const cell = from.closest<HTMLElement>(".jp-Cell[data-windowed-list-index]");
    const at = cell ? Number(cell.dataset.windowedListIndex) : NaN;
    // A panel shown outside the notebook's cells (a separate output view) adds at the end.
    const index = Number.isInteger(at) && at >= 0 && at < count ? at + 1 : count;
    try {
      notebook.insertCell(index, { cell_type: "code", source: code, metadata: {} });
      return true;
    } catch {
      return false;
    }
  };
}
