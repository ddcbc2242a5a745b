/**
 * One conversation turn: query, reasoning, streamed markdown answer, error line, and a bar
 * with the turn's state (a badge when it stopped or failed), its figures, Copy and Retry.
 */
import { turnAttachments } from "./attachments.js";
import { h, setAttr, setText } from "./dom.js";
import { DASH, formatCost, formatCount, formatSeconds } from "./format.js";
import { copyText, handleCodeBarClick } from "./markdown.js";
import type { InsertCode } from "./notebookCells.js";
import { isSettled, type ToolCallInfo, type TurnInfo } from "./protocol.js";
import { StreamingMarkdown } from "./streamingMarkdown.js";
import { StructuredAnswer } from "./structuredAnswer.js";
import { ToolCards, type ApproveCall } from "./toolCards.js";

export interface TurnData {
  info: TurnInfo;
  /** Effective status: the live one while this turn is held, else the trait's. */
  status: string;
  text: string;
  reasoning: string;
  /** Code points of `text`. */
  length: number;
  /** Show the Retry button (the tab's latest turn, settled: done, stopped or failed). */
  canRetry: boolean;
  /** The turn's tool calls, each in its latest known state. */
  toolCalls?: ToolCallInfo[];
  /** The files this view sent with the turn (their thumbnails are built from these only). */
  localFiles?: File[];
}

export class TurnView {
  readonly el: HTMLElement;
  private readonly query: HTMLElement;
  private readonly attachments: HTMLElement;
  private attachmentsSig = "";
  private readonly answer: HTMLElement;
  private readonly footer: HTMLElement;
  private readonly bar: HTMLElement;
  private readonly badge: HTMLElement;
  private readonly copyButton: HTMLButtonElement;
  private readonly retryButton: HTMLButtonElement;
  /** The answer's Markdown source, as Copy copies it. */
  private source = "";
  private reasoning: HTMLDetailsElement | null = null;
  private reasoningBody: HTMLElement | null = null;
  private errorLine: HTMLElement | null = null;
  /** The answer's DOM: finished blocks keep theirs while the answer streams. */
  private readonly markdown: StreamingMarkdown;
  private cursor: HTMLElement | null = null;
  private streaming: boolean | null = null;
  private readonly tools: ToolCards;
  private readonly json: StructuredAnswer;

  constructor(
    private readonly doc: Document,
    index: number,
    private readonly onRetry: () => void,
    onApprove: ApproveCall | null = null,
    insert: InsertCode | null = null,
  ) {
    this.query = h(doc, "div", { class: "ipyllm-query", "data-testid": "query" });
    this.attachments = h(doc, "div", { class: "ipyllm-attachments", "data-testid": "turn-attachments", hidden: true });
    this.answer = h(doc, "div", { class: "ipyllm-answer ipyllm-markdown", "data-testid": "answer" });
    this.answer.addEventListener("click", (event) => handleCodeBarClick(event, insert));
    this.markdown = new StreamingMarkdown(this.answer);
    this.footer = h(doc, "div", { class: "ipyllm-footer", "data-testid": "footer" });
    this.badge = h(doc, "span", { class: "ipyllm-turn-badge", "data-testid": "turn-state", hidden: true });
    this.copyButton = h(
      doc,
      "button",
      { type: "button", class: "ipyllm-turn-action", "data-testid": "copy-answer", title: "Copy the answer's Markdown", hidden: true },
      "Copy",
    );
    this.copyButton.addEventListener("click", () => {
      const button = this.copyButton;
      void copyText(this.source, doc).then((ok) => {
        setText(button, ok ? "Copied" : "Copy failed");
        setTimeout(() => setText(button, "Copy"), 1500);
      });
    });
    this.retryButton = h(
      doc,
      "button",
      { type: "button", class: "ipyllm-turn-action", "data-testid": "retry", title: "Send this prompt again", hidden: true },
      "Retry",
    );
    this.retryButton.addEventListener("click", () => this.onRetry());
    this.bar = h(
      doc,
      "div",
      { class: "ipyllm-turn-bar", "data-testid": "turn-bar" },
      this.badge,
      this.footer,
      h(doc, "span", { class: "ipyllm-spacer" }),
      this.copyButton,
      this.retryButton,
    );
    this.tools = new ToolCards(doc, onApprove);
    this.json = new StructuredAnswer(doc);
    this.el = h(
      doc,
      "div",
      { class: "ipyllm-turn", "data-testid": "turn", "data-turn": index },
      this.query,
      this.attachments,
      this.answer,
      this.tools.el,
      this.json.el,
      this.bar,
    );
  }

  update(d: TurnData): void {
    setAttr(this.el, "data-status", d.status);
    setText(this.query, d.info.query);
    this.updateAttachments(d);
    this.updateReasoning(d.reasoning);
    this.updateAnswer(this.json.split(d));
    this.tools.update(d.toolCalls ?? [], d.status);
    this.updateError(d);
    this.updateFooter(footerParts(d.info, d.status));
    this.updateBar(d);
  }

  /** The figures, each kept on one line (a narrow panel wraps between them, not inside). */
  private updateFooter(parts: string[]): void {
    if (this.footer.textContent === parts.join(" · ")) return;
    const nodes: (Node | string)[] = [];
    parts.forEach((part, i) => {
      if (i) nodes.push(" · ");
      nodes.push(h(this.doc, "span", { class: "ipyllm-figure" }, part));
    });
    this.footer.replaceChildren(...nodes);
  }

  private updateBar(d: TurnData): void {
    const badge = BADGES[d.status];
    this.badge.hidden = !badge;
    setText(this.badge, badge ?? "");
    setAttr(this.badge, "data-status", d.status);
    this.source = d.text;
    const settled = isSettled(d.status);
    this.copyButton.hidden = !settled || d.text === "";
    this.retryButton.hidden = !(settled && d.canRetry);
  }

  private updateAttachments(d: TurnData): void {
    const infos = d.info.attachments ?? [];
    const local = d.localFiles ?? [];
    const sig = JSON.stringify([infos, local.length]);
    if (sig === this.attachmentsSig) return;
    this.attachmentsSig = sig;
    const chips = turnAttachments(this.doc, infos, local);
    this.attachments.hidden = chips.length === 0;
    this.attachments.replaceChildren(...chips);
  }

  private updateReasoning(reasoning: string): void {
    if (!reasoning) {
      this.reasoning?.remove();
      this.reasoning = null;
      this.reasoningBody = null;
      return;
    }
    if (!this.reasoning || !this.reasoningBody) {
      this.reasoningBody = h(this.doc, "div", { class: "ipyllm-reasoning-body" });
      this.reasoning = h(
        this.doc,
        "details",
        { class: "ipyllm-reasoning", "data-testid": "reasoning" },
        h(this.doc, "summary", {}, "Reasoning"),
        this.reasoningBody,
      );
      this.answer.before(this.reasoning);
    }
    setText(this.reasoningBody, reasoning);
  }

  private updateAnswer(d: TurnData): void {
    const streaming = d.status === "streaming";
    setAttr(this.answer, "data-length", String(d.length));
    if (this.markdown.text === d.text && this.streaming === streaming) return;
    this.streaming = streaming;
    this.markdown.update(d.text);
    if (!streaming) this.markdown.settle();
    this.answer.classList.toggle("ipyllm-streaming", streaming);
    if (streaming) {
      this.cursor ??= h(this.doc, "span", { class: "ipyllm-cursor", "aria-hidden": "true" });
      placeCursor(this.answer, this.cursor);
    } else {
      this.cursor?.remove();
      this.cursor = null;
    }
  }

  private updateError(d: TurnData): void {
    const message = d.info.error ?? (d.status === "error" ? "The request failed." : null);
    if (!message || d.status === "streaming") {
      this.errorLine?.remove();
      this.errorLine = null;
      return;
    }
    if (!this.errorLine) {
      this.errorLine = h(this.doc, "div", { class: "ipyllm-turn-error-line" });
      this.bar.before(this.errorLine);
    }
    if (this.errorLine.dataset.sig !== message) {
      this.errorLine.dataset.sig = message;
      this.errorLine.replaceChildren(h(this.doc, "span", { class: "ipyllm-turn-error", "data-testid": "turn-error" }, message));
    }
  }
}

/**
 * Keep the blinking cursor at the end of the answer's last text block. It is
 * moved only when that block changed: the renderer adds text before it (its
 * own nodes come first), and a cursor left in place keeps blinking without a
 * style recalc.
 */
function placeCursor(answer: HTMLElement, cursor: HTMLElement): void {
  let target: Element = answer;
  for (;;) {
    let last = target.lastChild;
    while (last && (last === cursor || (last.nodeType === 3 && !last.nodeValue?.trim()))) last = last.previousSibling;
    if (last?.nodeType !== 1 || !CURSOR_HOSTS.test((last as Element).tagName)) break;
    const el = last as Element;
    target = el.tagName === "DIV" && el.classList.contains("ipyllm-code") ? (el.querySelector("pre > code") ?? el) : el;
  }
  if (cursor.parentNode !== target || cursor.nextSibling) target.append(cursor);
}

/** Elements the cursor goes into when they end the answer (or end the block they are in). */
const CURSOR_HOSTS = /^(P|LI|UL|OL|BLOCKQUOTE|H[1-6]|DIV|PRE|CODE)$/;

/** The state a settled turn shows on itself, beyond its figures. */
const BADGES: Record<string, string> = { stopped: "Stopped", error: "Failed" };

/** The turn's model and figures: only those that are known (a stopped turn may have none). */
function footerParts(t: TurnInfo, status: string): string[] {
  // Figures arrive when the turn settles; while it streams they would all be dashes.
  if (status === "streaming") return [t.model || DASH, "answering…"];
  const parts: string[] = [];
  if (t.model) parts.push(t.model);
  const known = (n: number | null | undefined): n is number => n !== null && n !== undefined && Number.isFinite(n);
  if (known(t.tokens_in) && known(t.tokens_out)) parts.push(`${formatCount(t.tokens_in)} in / ${formatCount(t.tokens_out)} out tokens`);
  else if (known(t.tokens_in)) parts.push(`${formatCount(t.tokens_in)} in tokens`);
  else if (known(t.tokens_out)) parts.push(`${formatCount(t.tokens_out)} out tokens`);
  if (known(t.cost)) parts.push(formatCost(t.cost));
  if (known(t.ttft_s)) parts.push(`first token ${formatSeconds(t.ttft_s)}`);
  if (known(t.elapsed_s)) parts.push(`total ${formatSeconds(t.elapsed_s)}`);
  return parts;
}
