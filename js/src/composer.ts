/**
 * The input area: prompt textarea (Enter sends, Shift+Enter is a newline),
 * model picker grouped by provider, context picker, Send/Stop button, and the
 * files pasted or dropped in, as chips until they are sent.
 */
import { chip, filesOf, formatSize } from "./attachments.js";
import { h, setAttr, setText } from "./dom.js";
import { keyStatusLabel } from "./format.js";
import type { ProviderInfo, TabInfo } from "./protocol.js";

export interface ComposerActions {
  /** Returns whether the prompt was taken (the composer then clears it and its files). */
  send(prompt: string, context: string[], files: File[]): boolean;
  stop(): void;
  pickModel(model: string): void;
}

export interface ComposerState {
  providers: ProviderInfo[];
  /** The model shown in the picker (the shown tab's, or the default). */
  model: string;
  /** Every tab except the shown one. */
  others: TabInfo[];
  /** Tab ids checked as context for the shown tab. */
  context: Set<string>;
  streaming: boolean;
}

export class Composer {
  readonly el: HTMLElement;
  readonly prompt: HTMLTextAreaElement;
  private readonly picker: HTMLSelectElement;
  private readonly contextBox: HTMLElement;
  private readonly button: HTMLButtonElement;
  private readonly chips: HTMLElement;
  /** Files pasted or dropped in, to go with the next prompt. */
  private files: File[] = [];
  private pickerSig = "";
  private contextSig = "";
  private state: ComposerState | null = null;

  constructor(
    private readonly doc: Document,
    private readonly actions: ComposerActions,
  ) {
    this.prompt = h(doc, "textarea", {
      class: "ipyllm-prompt",
      "data-testid": "prompt",
      rows: 3,
      placeholder: "Ask something… (Enter to send, Shift+Enter for a new line)",
      "aria-label": "Prompt",
    });
    this.prompt.addEventListener("keydown", (e) => {
      if (e.key !== "Enter" || e.shiftKey || e.isComposing) return;
      e.preventDefault();
      if (!this.state?.streaming) this.submit();
    });
    this.prompt.addEventListener("paste", (e) => {
      const files = filesOf(e.clipboardData);
      if (!files.length) return; // plain text pastes as usual
      e.preventDefault();
      this.attach(files);
    });
    this.chips = h(doc, "div", { class: "ipyllm-attachments", "data-testid": "attachments" });
    this.picker = h(doc, "select", { class: "ipyllm-model-picker", "data-testid": "model-picker", "aria-label": "Model" });
    this.picker.addEventListener("change", () => {
      this.labelSelected();
      actions.pickModel(this.picker.value);
    });
    this.contextBox = h(doc, "div", { class: "ipyllm-context", "data-testid": "context-picker" });
    this.button = h(doc, "button", { type: "button", class: "ipyllm-send", "data-testid": "send", "data-state": "send" }, "Send");
    this.button.addEventListener("click", () => {
      if (this.state?.streaming) actions.stop();
      else this.submit();
    });
    this.el = h(
      doc,
      "div",
      { class: "ipyllm-composer" },
      this.prompt,
      this.chips,
      h(doc, "div", { class: "ipyllm-controls" }, this.picker, this.contextBox, h(doc, "span", { class: "ipyllm-spacer" }), this.button),
    );
    // While files are dragged over it, the composer shows it takes them (data-drop).
    const dragging = (on: boolean) => setAttr(this.el, "data-drop", on ? "true" : "false");
    this.el.addEventListener("dragover", (e) => {
      if (![...(e.dataTransfer?.types ?? [])].includes("Files")) return;
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
      dragging(true);
    });
    this.el.addEventListener("dragleave", (e) => {
      // Leaving for one of its own children is not leaving the composer.
      if (!(e.relatedTarget instanceof Node && this.el.contains(e.relatedTarget))) dragging(false);
    });
    this.el.addEventListener("drop", (e) => {
      dragging(false);
      const files = filesOf(e.dataTransfer);
      if (!files.length) return;
      e.preventDefault();
      this.attach(files);
    });
    this.renderChips();
  }

  /** Files waiting to go with the next prompt. */
  attached(): readonly File[] {
    return this.files;
  }

  attach(files: readonly File[]): void {
    this.files = [...this.files, ...files];
    this.renderChips();
  }

  private remove(file: File): void {
    this.files = this.files.filter((f) => f !== file);
    this.renderChips();
  }

  private renderChips(): void {
    const doc = this.doc;
    this.chips.hidden = this.files.length === 0;
    this.chips.replaceChildren(
      ...this.files.map((f) => chip(doc, f.name || "pasted file", formatSize(f.size), "attachment-chip", () => this.remove(f))),
    );
  }

  private submit(): void {
    const text = this.prompt.value;
    if (!text.trim()) return;
    const context = [...(this.state?.context ?? [])];
    if (this.actions.send(text, context, [...this.files])) {
      this.prompt.value = "";
      this.files = [];
      this.renderChips();
    }
  }

  update(s: ComposerState): void {
    this.state = s;
    setText(this.button, s.streaming ? "Stop" : "Send");
    setAttr(this.button, "data-state", s.streaming ? "stop" : "send");
    this.updatePicker(s);
    this.updateContext(s);
  }

  private updatePicker(s: ComposerState): void {
    const sig = JSON.stringify([
      s.model,
      s.providers.map((p) => [p.name, p.label, p.key, p.models, p.default_model, p.aliases ?? []]),
    ]);
    if (sig !== this.pickerSig) {
      this.pickerSig = sig;
      const doc = this.doc;
      const groups: HTMLElement[] = [];
      let found = false;
      for (const p of s.providers) {
        const label = p.label || p.name;
        const models = p.models.length ? p.models : p.default_model ? [p.default_model] : [];
        const options = models.map((m) => {
          const value = `${p.name}:${m}`;
          if (value === s.model) found = true;
          const option = h(doc, "option", { value, title: `${label} · ${m} (${keyStatusLabel(p.key)})` }, m);
          option.dataset.model = m;
          option.dataset.provider = label;
          return option;
        });
        if (options.length) groups.push(h(doc, "optgroup", { label }, ...options));
      }
      // The user's own aliases, by their names (the built-in ones would crowd the list).
      const aliases = s.providers.flatMap((p) => (p.aliases ?? []).filter((a) => !a.builtin));
      if (aliases.length) {
        const options = aliases.map((a) => {
          if (a.name === s.model) found = true;
          const option = h(doc, "option", { value: a.name, title: `${a.name}: ${a.model}` }, a.name);
          option.dataset.model = `${a.name} → ${a.model}`;
          return option;
        });
        groups.push(h(doc, "optgroup", { label: "Aliases" }, ...options));
      }
      if (!found && s.model) {
        const option = h(doc, "option", { value: s.model }, s.model);
        option.dataset.model = s.model;
        groups.unshift(option);
      }
      this.picker.replaceChildren(...groups);
    }
    if (this.picker.value !== s.model) this.picker.value = s.model;
    this.labelSelected();
  }

  /**
   * The closed select shows its chosen option's text: that option reads "Provider · model",
   * the others the model alone (their group names the provider).
   */
  private labelSelected(): void {
    const chosen = this.picker.selectedOptions[0] ?? null;
    for (const option of this.picker.options) {
      const model = option.dataset.model ?? option.value;
      const provider = option.dataset.provider;
      setText(option, option === chosen && provider ? `${provider} · ${model}` : model);
    }
    setAttr(this.picker, "title", chosen ? (chosen.title || chosen.value) : "Model");
  }

  private updateContext(s: ComposerState): void {
    const sig = JSON.stringify([s.others.map((t) => [t.id, t.title]), [...s.context]]);
    if (sig === this.contextSig) return;
    this.contextSig = sig;
    const doc = this.doc;
    // Nothing to choose from: the choice takes no room.
    this.contextBox.hidden = s.others.length === 0;
    if (s.others.length === 0) {
      this.contextBox.replaceChildren();
      return;
    }
    const boxes = s.others.map((t) => {
      const box = h(doc, "input", { type: "checkbox", "data-tab-id": t.id });
      box.checked = s.context.has(t.id);
      box.addEventListener("change", () => {
        if (box.checked) s.context.add(t.id);
        else s.context.delete(t.id);
      });
      return h(doc, "label", { class: "ipyllm-context-item", title: `Send "${t.title}" as context` }, box, t.title);
    });
    this.contextBox.replaceChildren(h(doc, "span", { class: "ipyllm-muted" }, "Context:"), ...boxes);
  }
}
