/**
 * A turn's tool calls as cards: name, status and time on one line; opened,
 * the arguments and the result or error. A call waiting for approval shows
 * Run and Deny.
 *
 * Everything in a card came from the model or a tool, so it is set as text
 * (`textContent`), never parsed as HTML or Markdown; JSON is laid out as text
 * (`formatJson`) inside `<pre><code>`.
 */
import { h, setAttr, setText } from "./dom.js";
import { formatSeconds } from "./format.js";
import { formatJson } from "./jsonText.js";
import type { ToolCallInfo } from "./protocol.js";

/** Answer call `index` (run it or decline it); `failed` is called if the kernel refuses. */
export type ApproveCall = (index: number, run: boolean, failed: () => void) => void;

const STATUS_LABELS: Record<string, string> = {
  requested: "preparing…",
  awaiting: "waiting for approval",
  running: "running…",
  done: "done",
  error: "failed",
  denied: "denied",
  skipped: "skipped",
};

/** The words for `status`; `answered`: the card saw the call wait for approval (an approved
 * call reads "requested" again until it runs). */
const SETTLED = new Set(["done", "error", "denied", "skipped"]);

export function statusLabel(status: string, answered = false): string {
  if (status === "requested" && answered) return "queued";
  return STATUS_LABELS[status] ?? status;
}

/** The cards of one turn, in call order; hidden while the turn has none. */
export class ToolCards {
  readonly el: HTMLElement;
  private readonly cards = new Map<number, ToolCard>();

  constructor(
    private readonly doc: Document,
    private readonly approve: ApproveCall | null,
  ) {
    this.el = h(doc, "div", { class: "ipyllm-tools", "data-testid": "tool-calls", hidden: true });
  }

  /** Show `calls`; Run / Deny only while the turn streams (`turnStatus`). */
  update(calls: readonly ToolCallInfo[], turnStatus: string): void {
    this.el.hidden = calls.length === 0;
    const keep = new Set<number>();
    let previous: Element | null = null;
    for (const call of calls) {
      keep.add(call.index);
      let card = this.cards.get(call.index);
      if (!card) {
        card = new ToolCard(this.doc, call.index, this.approve);
        this.cards.set(call.index, card);
      }
      card.update(call, turnStatus === "streaming");
      const expected: Element | null = previous ? previous.nextElementSibling : this.el.firstElementChild;
      if (expected !== card.el) {
        if (previous) previous.after(card.el);
        else this.el.prepend(card.el);
      }
      previous = card.el;
    }
    for (const [index, card] of this.cards) {
      if (keep.has(index)) continue;
      card.el.remove();
      this.cards.delete(index);
    }
  }
}

/** One call's card. */
class ToolCard {
  readonly el: HTMLElement;
  private readonly details: HTMLDetailsElement;
  private readonly name: HTMLElement;
  private readonly status: HTMLElement;
  private readonly time: HTMLElement;
  private readonly body: HTMLElement;
  private readonly args: HTMLElement;
  private readonly argsBlock: HTMLElement[];
  private readonly result: HTMLElement;
  private readonly resultBlock: HTMLElement[];
  private readonly error: HTMLElement;
  private readonly actions: HTMLElement;
  private readonly run: HTMLButtonElement;
  private readonly deny: HTMLButtonElement;
  /** Raw text → shown text, so JSON is laid out once per change, not per frame. */
  private shownArgs: [string, string] | null = null;
  private shownResult: [string, string] | null = null;
  /** The call's state when Run or Deny was clicked: the buttons stay disabled until it changes. */
  private decidedAt: string | null = null;
  private lastSig = "";
  /** Whether the call was seen waiting for approval. */
  private sawAwaiting = false;
  /** Opened by the card itself (to decide on), not by the user: closed again once settled. */
  private openedForDecision = false;

  constructor(
    doc: Document,
    index: number,
    private readonly approve: ApproveCall | null,
  ) {
    this.name = h(doc, "span", { class: "ipyllm-tool-name", "data-testid": "tool-name" });
    this.status = h(doc, "span", { class: "ipyllm-tool-status", "data-testid": "tool-status" });
    this.time = h(doc, "span", { class: "ipyllm-tool-time", "data-testid": "tool-time" });
    this.args = h(doc, "code", { "data-testid": "tool-args" });
    this.result = h(doc, "code", { "data-testid": "tool-result" });
    this.error = h(doc, "div", { class: "ipyllm-tool-error", "data-testid": "tool-error" });
    this.argsBlock = [label(doc, "Arguments"), h(doc, "pre", { class: "ipyllm-text-block" }, this.args)];
    this.resultBlock = [label(doc, "Result"), h(doc, "pre", { class: "ipyllm-text-block" }, this.result)];
    this.body = h(doc, "div", { class: "ipyllm-tool-body" }, ...this.argsBlock);
    const summary = h(doc, "summary", { class: "ipyllm-tool-summary" }, this.name, this.status, this.time);
    summary.addEventListener("click", () => (this.openedForDecision = false));
    this.details = h(doc, "details", { class: "ipyllm-tool-details" }, summary, this.body);
    this.run = h(doc, "button", { type: "button", class: "ipyllm-tool-run", "data-testid": "tool-run" }, "Run");
    this.deny = h(doc, "button", { type: "button", class: "ipyllm-tool-deny", "data-testid": "tool-deny" }, "Deny");
    this.run.addEventListener("click", () => this.decide(index, true));
    this.deny.addEventListener("click", () => this.decide(index, false));
    this.actions = h(doc, "div", { class: "ipyllm-tool-actions", hidden: true }, this.run, this.deny);
    this.el = h(doc, "div", { class: "ipyllm-tool", "data-testid": "tool-call", "data-index": index }, this.details, this.actions);
  }

  update(call: ToolCallInfo, turnStreaming: boolean): void {
    const sig = signature(call);
    if (sig !== this.lastSig) {
      this.lastSig = sig;
      this.decidedAt = null;
    }
    setAttr(this.el, "data-status", call.status);
    setText(this.name, call.name || "tool");
    setText(this.status, statusLabel(call.status, this.sawAwaiting));
    setText(this.time, call.elapsed_s === null || call.elapsed_s === undefined ? "" : formatSeconds(call.elapsed_s));
    if (this.shownArgs?.[0] !== call.arguments) this.shownArgs = [call.arguments, formatJson(call.arguments) ?? call.arguments];
    setText(this.args, this.shownArgs[1]);
    const result = call.result ?? null;
    if (result !== null && this.shownResult?.[0] !== result) this.shownResult = [result, formatJson(result) ?? result];
    setText(this.result, result === null ? "" : this.shownResult![1]);
    setText(this.error, call.error ?? "");
    this.layoutBody(result !== null, !!call.error);

    const waiting = call.status === "awaiting" && turnStreaming && this.approve !== null;
    this.actions.hidden = !waiting;
    const disabled = this.decidedAt !== null;
    this.run.disabled = disabled;
    this.deny.disabled = disabled;
    if (call.status === "awaiting" && !this.sawAwaiting) {
      // The arguments are what the user decides on: show them (once), and fold them
      // again when the call has its outcome, unless the user opened or closed the card.
      this.sawAwaiting = true;
      if (waiting && !this.details.open) this.details.open = this.openedForDecision = true;
    } else if (this.openedForDecision && SETTLED.has(call.status)) {
      this.details.open = this.openedForDecision = false;
    }
  }

  private layoutBody(hasResult: boolean, hasError: boolean): void {
    const want: HTMLElement[] = [...this.argsBlock];
    if (hasResult) want.push(...this.resultBlock);
    if (hasError) want.push(this.error);
    const have = this.body.children;
    if (have.length === want.length && want.every((el, i) => have[i] === el)) return;
    this.body.replaceChildren(...want);
  }

  private decide(index: number, run: boolean): void {
    if (!this.approve || this.decidedAt !== null) return;
    const at = this.lastSig;
    this.decidedAt = at;
    this.run.disabled = true;
    this.deny.disabled = true;
    this.approve(index, run, () => {
      // Refused: let the user try again, unless the call moved on meanwhile.
      if (this.decidedAt !== at) return;
      this.decidedAt = null;
      this.run.disabled = false;
      this.deny.disabled = false;
    });
  }
}

function label(doc: Document, text: string): HTMLElement {
  return h(doc, "div", { class: "ipyllm-tool-label" }, text);
}

function signature(call: ToolCallInfo): string {
  return JSON.stringify([call.status, call.name, call.arguments, call.result, call.error, call.elapsed_s]);
}
