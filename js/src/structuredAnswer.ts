/**
 * The final answer of a structured turn (`TurnInfo.structured`: JSON for a
 * schema) as a JSON block: the raw text while it streams, laid out once the
 * turn settles. Like a tool card it is text in `<pre><code>`, never Markdown.
 * The text of earlier tool rounds (before `answer_from`) stays Markdown, in
 * the turn's answer.
 */
import { codeUnitIndex } from "./deltaStore.js";
import { h, setAttr, setText } from "./dom.js";
import { formatAnswerJson } from "./jsonText.js";
import { isSettled, type TurnInfo } from "./protocol.js";

interface AnswerData {
  info: TurnInfo;
  status: string;
  text: string;
}

export class StructuredAnswer {
  readonly el: HTMLElement;
  private readonly code: HTMLElement;
  /** The raw JSON text and whether it was laid out, for the text shown. */
  private shown: { raw: string; settled: boolean } | null = null;

  constructor(doc: Document) {
    this.code = h(doc, "code", {});
    this.el = h(
      doc,
      "div",
      { class: "ipyllm-json", "data-testid": "answer-json", hidden: true },
      h(doc, "pre", { class: "ipyllm-text-block" }, this.code),
    );
  }

  /**
   * Show the JSON part of `d`'s text here; returns `d` with only the text to
   * render as Markdown (all of it for a turn that is not structured).
   */
  split<T extends AnswerData>(d: T): T {
    if (!d.info.structured) {
      this.el.hidden = true;
      return d;
    }
    const cut = codeUnitIndex(d.text, Math.max(0, d.info.answer_from ?? 0));
    const raw = d.text.slice(cut);
    const settled = isSettled(d.status);
    if (this.shown?.raw !== raw || this.shown.settled !== settled) {
      this.shown = { raw, settled };
      setText(this.code, settled ? formatAnswerJson(raw) : raw);
    }
    setAttr(this.el, "data-status", settled ? "settled" : "streaming");
    this.el.hidden = raw === "";
    return { ...d, text: d.text.slice(0, cut) };
  }
}
