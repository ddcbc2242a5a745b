/**
 * The settings pane: one row per provider with its key status, a password
 * field, Save and Delete, in aligned columns (a CSS grid). The key goes out in
 * one `set_key` message; the field is cleared when the kernel took it and
 * keeps it when the kernel refused it (to correct it). It is never stored,
 * logged or written to an attribute. Delete is offered only for a key stored
 * in the keyring.
 */
import { h, setText } from "./dom.js";
import { keyStatusText } from "./format.js";
import type { ProviderInfo } from "./protocol.js";

export interface SettingsActions {
  /** `done(ok)` gets whether the kernel stored the key. */
  saveKey(provider: string, key: string, done: (ok: boolean) => void): void;
  deleteKey(provider: string): void;
  notify(text: string): void;
}

interface Row {
  el: HTMLElement;
  status: HTMLElement;
  del: HTMLButtonElement | null;
}

export class SettingsPane {
  readonly el: HTMLElement;
  private readonly rows = new Map<string, Row>();
  private readonly list: HTMLElement;

  constructor(
    private readonly doc: Document,
    private readonly actions: SettingsActions,
  ) {
    this.list = h(doc, "div", { class: "ipyllm-provider-list" });
    this.el = h(
      doc,
      "div",
      { class: "ipyllm-settings", "data-testid": "settings", hidden: true },
      h(doc, "div", { class: "ipyllm-settings-title" }, "API keys"),
      h(
        doc,
        "div",
        { class: "ipyllm-settings-hint" },
        "Keys are stored in your system keyring by the kernel, never in the notebook.",
      ),
      this.list,
    );
  }

  get open(): boolean {
    return !this.el.hidden;
  }

  set open(value: boolean) {
    this.el.hidden = !value;
  }

  update(providers: ProviderInfo[]): void {
    const names = new Set(providers.map((p) => p.name));
    for (const [name, row] of this.rows) {
      if (!names.has(name)) {
        row.el.remove();
        this.rows.delete(name);
      }
    }
    let previous: Element | null = null;
    for (const p of providers) {
      let row = this.rows.get(p.name);
      if (!row || row.el.dataset.needsKey !== String(p.key !== "none")) {
        row?.el.remove();
        row = this.row(p);
        this.rows.set(p.name, row);
      }
      // Keep provider order without touching rows that are already in place.
      const expected: Element | null = previous ? previous.nextElementSibling : this.list.firstElementChild;
      if (expected !== row.el) {
        if (previous) previous.after(row.el);
        else this.list.prepend(row.el);
      }
      previous = row.el;
      setText(row.status, keyStatusText(p.key));
      row.status.dataset.key = p.key;
      if (row.del) {
        // Only a key in the keyring can be deleted from here (an environment variable cannot).
        row.del.disabled = p.key !== "keyring";
        row.del.title = row.del.disabled ? "No key stored in the keyring" : `Delete the ${p.label || p.name} key from the keyring`;
      }
    }
  }

  private row(p: ProviderInfo): Row {
    const doc = this.doc;
    const status = h(doc, "span", { class: "ipyllm-key-status", "data-testid": "key-status", "data-provider": p.name });
    const el = h(
      doc,
      "div",
      { class: "ipyllm-provider", "data-provider": p.name, "data-needs-key": String(p.key !== "none") },
      h(doc, "span", { class: "ipyllm-provider-name", title: p.label || p.name }, p.label || p.name),
      status,
    );
    if (p.key === "none") {
      status.classList.add("ipyllm-key-status-wide");
      return { el, status, del: null };
    }
    const input = h(doc, "input", {
      type: "password",
      class: "ipyllm-key-input",
      "data-testid": "key-input",
      "data-provider": p.name,
      autocomplete: "off",
      spellcheck: "false",
      placeholder: `${p.label || p.name} API key`,
      "aria-label": `${p.label || p.name} API key`,
    });
    const save = h(
      doc,
      "button",
      { type: "button", class: "ipyllm-button", "data-testid": "key-save", "data-provider": p.name },
      "Save",
    );
    const del = h(
      doc,
      "button",
      { type: "button", class: "ipyllm-button", "data-testid": "key-delete", "data-provider": p.name },
      "Delete",
    );
    const submit = () => {
      const key = input.value.trim();
      if (!key) {
        input.value = "";
        this.actions.notify(`Enter a key for ${p.label || p.name} first.`);
        return;
      }
      // Kept until the kernel answers: cleared once stored, left to correct when refused.
      this.actions.saveKey(p.name, key, (ok) => {
        if (ok && input.value.trim() === key) input.value = "";
      });
    };
    save.addEventListener("click", submit);
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        submit();
      }
    });
    del.addEventListener("click", () => this.actions.deleteKey(p.name));
    el.append(input, save, del);
    return { el, status, del };
  }
}
