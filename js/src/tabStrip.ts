/** The tab strip: select, new (+), rename (double-click the title), close (×). */
import { h } from "./dom.js";
import type { TabInfo } from "./protocol.js";

export interface TabStripActions {
  select(id: string): void;
  newTab(): void;
  rename(id: string, title: string): void;
  close(id: string): void;
}

export class TabStrip {
  readonly el: HTMLElement;
  private readonly list: HTMLElement;
  private editing: string | null = null;
  private signature = "";
  private last: { tabs: TabInfo[]; selected: string | null } = { tabs: [], selected: null };

  constructor(
    private readonly doc: Document,
    private readonly actions: TabStripActions,
  ) {
    this.list = h(doc, "div", { class: "ipyllm-tablist", role: "tablist" });
    const add = h(
      doc,
      "button",
      { type: "button", class: "ipyllm-new-tab", "data-testid": "new-tab", title: "New chat", "aria-label": "New chat" },
      "+",
    );
    add.addEventListener("click", () => actions.newTab());
    this.el = h(doc, "div", { class: "ipyllm-tabstrip" }, this.list, add);
  }

  update(tabs: TabInfo[], selected: string | null): void {
    this.last = { tabs, selected };
    if (this.editing) return; // keep the rename input; redrawn when it closes
    const sig = JSON.stringify([selected, tabs.map((t) => [t.id, t.title, t.status, t.model])]);
    if (sig === this.signature) return;
    this.signature = sig;
    this.list.replaceChildren(...tabs.map((t) => this.tabElement(t, t.id === selected)));
  }

  private tabElement(tab: TabInfo, selected: boolean): HTMLElement {
    const doc = this.doc;
    const button = h(
      doc,
      "button",
      {
        type: "button",
        class: "ipyllm-tab",
        role: "tab",
        "data-testid": "tab",
        "data-tab-id": tab.id,
        "data-status": tab.status,
        "aria-selected": selected ? "true" : "false",
        title: `${tab.title} (${tab.model}) — double-click to rename`,
      },
      tab.title,
    );
    button.addEventListener("click", () => this.actions.select(tab.id));
    button.addEventListener("dblclick", (e) => {
      e.preventDefault();
      this.startRename(tab, wrap);
    });
    const close = h(
      doc,
      "button",
      { type: "button", class: "ipyllm-tab-close", title: "Close chat", "aria-label": `Close ${tab.title}` },
      "×",
    );
    close.addEventListener("click", (e) => {
      e.stopPropagation();
      this.actions.close(tab.id);
    });
    const wrap = h(doc, "div", { class: `ipyllm-tab-wrap${selected ? " ipyllm-selected" : ""}` }, button, close);
    return wrap;
  }

  private startRename(tab: TabInfo, wrap: HTMLElement): void {
    this.editing = tab.id;
    const input = h(this.doc, "input", {
      type: "text",
      class: "ipyllm-rename",
      "data-testid": "rename-input",
      "data-tab-id": tab.id,
      "aria-label": "Chat title",
    });
    input.value = tab.title;
    let done = false;
    const finish = (commit: boolean) => {
      if (done) return;
      done = true;
      const title = input.value.trim();
      this.editing = null;
      this.signature = "";
      if (commit && title && title !== tab.title) this.actions.rename(tab.id, title);
      this.update(this.last.tabs, this.last.selected);
    };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        finish(true);
      } else if (e.key === "Escape") {
        e.preventDefault();
        finish(false);
      }
    });
    input.addEventListener("blur", () => finish(true));
    wrap.replaceChildren(input);
    input.focus();
    input.select();
  }
}
