// @vitest-environment jsdom
import { describe, expect, it } from "vitest";
import { notebookInserter } from "../src/notebookCells.js";

type Cell = { cell_type: string; source: string; metadata: Record<string, unknown> };

/** The part of JupyterLab's shared notebook model the inserter uses, over a plain array. */
function fakeNotebook(n: number) {
  const cells: Cell[] = Array.from({ length: n }, (_, i) => ({ cell_type: "code", source: `cell ${i}`, metadata: {} }));
  const sharedModel = { cells, insertCell: (index: number, cell: Cell) => void cells.splice(index, 0, cell) };
  return { cells, model: { widget_manager: { context: { model: { sharedModel } } } } };
}

/** A notebook page's DOM: cells marked as JupyterLab marks them, the panel inside cell `at`. */
function panelInCell(at: number): HTMLElement {
  document.body.replaceChildren();
  let panel!: HTMLElement;
  for (let i = 0; i < 4; i++) {
    const cell = document.createElement("div");
    cell.className = "jp-Cell jp-CodeCell";
    cell.dataset.windowedListIndex = String(i);
    const output = document.createElement("div");
    cell.append(output);
    if (i === at) panel = output;
    document.body.append(cell);
  }
  return panel;
}

describe("notebookInserter", () => {
  it("is null where the front end offers no notebook (VS Code, classic, a page)", () => {
    expect(notebookInserter(null)).toBeNull();
    expect(notebookInserter({})).toBeNull();
    expect(notebookInserter({ widget_manager: {} })).toBeNull();
    expect(notebookInserter({ widget_manager: { context: { model: { sharedModel: { cells: [] } } } } })).toBeNull();
  });

  it("puts the code in a new code cell right below the cell showing the panel", () => {
    const { cells, model } = fakeNotebook(4);
    const insert = notebookInserter(model)!;
    expect(insert("import os\n", panelInCell(1))).toBe(true);
    expect(cells.map((c) => c.source)).toEqual(["cell 0", "cell 1", "import os\n", "cell 2", "cell 3"]);
    expect(cells[2]).toEqual({ cell_type: "code", source: "import os\n", metadata: {} });
  });

  it("adds at the end when the panel is not inside a notebook cell", () => {
    const { cells, model } = fakeNotebook(2);
    const outside = document.createElement("div");
    document.body.replaceChildren(outside);
    expect(notebookInserter(model)!("x = 1", outside)).toBe(true);
    expect(cells.map((c) => c.source)).toEqual(["cell 0", "cell 1", "x = 1"]);
  });

  it("reports a refused insert instead of throwing", () => {
    const model = {
      widget_manager: {
        context: { model: { sharedModel: { cells: [], insertCell: () => { throw new Error("read-only"); } } } },
      },
    };
    expect(notebookInserter(model)!("x", document.body)).toBe(false);
  });
});
