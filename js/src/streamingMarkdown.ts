/**
 * The DOM of a Markdown text that grows at its end (a streaming answer), equal
 * to `renderMarkdown(text)` once the text settles, while each update renders
 * only the blocks that changed.
 *
 * The text is lexed into top-level tokens (marked's blocks, each with the
 * `raw` source it came from) and rendered in groups of tokens through the
 * same policy as a whole text (`renderBlocks`: marked, DOMPurify, the
 * image/link rules, highlight.js). A group keeps its DOM nodes while the
 * tokens it came from stay the same, so the blocks an answer has finished are
 * never rebuilt and a selection in them survives.
 *
 * Why the pieces equal the whole: marked renders each top-level token on its
 * own and concatenates the HTML, each piece balanced; parsing the pieces
 * apart gives the same nodes as parsing them together, except that adjacent
 * top-level text merges. Only a raw-HTML block (shown as text) makes top-level
 * text, so it is glued into one group with its neighbours.
 *
 * When the text grows, only its tail is lexed again: from the start of the
 * last `REOPEN` blocks, moved back to a point no open construct can cross (a
 * blank line after a block that cannot continue past one, or the end of a
 * heading, a rule or a closed fence), with the link definitions made before
 * that point. Two things can still change what is already shown, and both are
 * caught: a link definition may come after its use (any change to the
 * definitions re-lexes the whole text and re-renders every group), and marked
 * sometimes gives a line back to an earlier block when later text arrives
 * (`settle()` lexes the whole text once and re-renders the groups whose tokens
 * differ; `counts.settleRerenders` counts how often that happened).
 *
 * Two kinds of last block grow without a lex at all, when the characters
 * appended provably leave the blocks as they are: a fenced code block still
 * open (`openFence.ts`: shown as highlighted chunks of lines plus a plain open
 * tail, so it is never rendered whole while it grows) and a paragraph gaining
 * plain words (`openParagraph.ts`). What they add is a text node, never HTML;
 * the group is then rendered again by the next lex (its key no longer matches)
 * and by `settle()`.
 *
 * A table that ends the text while its last line has not ended would show that
 * line as a row of empty or cut cells: its row is hidden (class `PARTIAL_ROW` on
 * the rendered `<tr>`) until the line ends, and `settle()` shows it again.
 */
import type { Token } from "marked";
import { closedBefore, collectDefs, groupKey, groupTokens, isIndentedCode, linksKeyOf, sameBlocks } from "./blockTokens.js";
import { lexBlocks, renderBlocks, type LinkDefs } from "./markdown.js";
import { OpenFence } from "./openFence.js";
import { extendsPlainly, OpenParagraph } from "./openParagraph.js";

/** The class of a table row still arriving (the stylesheet hides it). */
export const PARTIAL_ROW = "ipyllm-partial-row";

/** Blocks lexed again on every update, counted from the end (blank lines not counted). */
const REOPEN = 1;

interface Group {
  /** Index of its first token, and one past its last. */
  first: number;
  end: number;
  /** What its DOM was rendered from (`groupKey`); "" once text was appended to it without a lex. */
  key: string;
  nodes: Node[];
  /** Set while the group is a fenced code block that is still open. */
  fence?: OpenFence;
  /** Set while the group is one paragraph. */
  paragraph?: OpenParagraph;
}

/** How much work the updates took (tests and the benchmark read these). */
export interface RenderCounts {
  fullLexes: number;
  tailLexes: number;
  groupsRendered: number;
  /** Updates shown by appending text to the last block, without a lex. */
  plainAppends: number;
  /** `settle()` found tokens that differed from a full lex and rendered them again. */
  settleRerenders: number;
}

export class StreamingMarkdown {
  readonly counts: RenderCounts = { fullLexes: 0, tailLexes: 0, groupsRendered: 0, plainAppends: 0, settleRerenders: 0 };
  /** The text last shown, as given. */
  private given = "";
  /** The same, with line endings normalised as marked does: what tokens' offsets count in. */
  private src = "";
  private tokens: Token[] = [];
  /** Offset in `src` of each token. */
  private starts: number[] = [];
  /** Tokens before this index were checked to be the source at their offset. */
  private trusted = 0;
  private linksKey = "";
  /** Link definitions made by the tokens before `upTo`. */
  private defs: { upTo: number; links: LinkDefs } = { upTo: 0, links: Object.create(null) as LinkDefs };
  private groups: Group[] = [];
  /** Whether `tokens` are what a lex of the whole of `src` gives. */
  private exact = true;
  /** Whether text was appended to the last block since the last lex (the last token is then short). */
  private unlexed = false;
  /** The row of a table ending the text whose line has not ended yet, hidden. */
  private partialRow: Element | null = null;

  constructor(private readonly el: HTMLElement) {}

  /** The text shown. */
  get text(): string {
    return this.given;
  }

  /** Show `text`. While it only grows, finished blocks keep their DOM. */
  update(text: string): void {
    if (text === this.given) return;
    this.given = text;
    const src = text.includes("\r") ? text.replace(/\r\n?/g, "\n") : text;
    if (src === this.src) return;
    const before = this.src;
    const grows = this.tokens.length > 0 && src.startsWith(before);
    this.src = src;
    if (grows && this.appendPlain(before, src.slice(before.length))) {
      this.hidePartialRow(false);
      return;
    }
    if (grows) this.relexTail();
    else this.relexAll();
    this.hidePartialRow(true);
  }

  /**
   * Hide the last row of a table that ends the text on a line not ended yet (a row
   * still arriving), and show a row hidden before that is now complete.
   */
  private hidePartialRow(check: boolean): void {
    let row: Element | null = null;
    if (check && !this.src.endsWith("\n")) {
      const group = this.groups.at(-1);
      const last = this.tokens.at(-1);
      if (group && last?.type === "table" && group.end === this.tokens.length) {
        let table: Element | null = null;
        for (let i = group.nodes.length - 1; i >= 0 && !table; i--) {
          const node = group.nodes[i]!;
          if (node.nodeType === 1 && (node as Element).tagName === "TABLE") table = node as Element;
        }
        const rows = table?.querySelectorAll(":scope > tbody > tr");
        row = rows?.length ? rows[rows.length - 1]! : null;
      }
    }
    if (row === this.partialRow) return;
    const was = this.partialRow;
    if (was) {
      was.classList.remove(PARTIAL_ROW);
      if (!was.getAttribute("class")) was.removeAttribute("class"); // as rendered: no class at all
    }
    row?.classList.add(PARTIAL_ROW);
    this.partialRow = row;
  }

  /**
   * The text is final: make the DOM equal to `renderMarkdown(text)`. One lex of
   * the whole text checks the tokens shown; groups whose tokens differ, and an
   * open fence shown in pieces, are rendered again. Returns false when the
   * tokens differed (a later block had changed an earlier one).
   */
  settle(): boolean {
    if (this.unlexed) this.relexTail();
    this.hidePartialRow(false);
    let same = true;
    if (!this.exact) {
      const full = lexBlocks(this.src);
      this.counts.fullLexes++;
      this.exact = true;
      if (linksKeyOf(full.links) !== this.linksKey || !sameBlocks(full, this.tokens)) {
        this.counts.settleRerenders++;
        this.showAll(full);
        same = false;
      }
    }
    this.wholeFence();
    return same;
  }

  /**
   * Show `delta`, appended to the text `before`, by adding it to the last
   * block's text, if that provably shows the new text. Returns whether it did.
   */
  private appendPlain(before: string, delta: string): boolean {
    const group = this.groups.at(-1);
    if (!group || group.end !== this.tokens.length) return false;
    if (group.fence) {
      if (!group.fence.append(delta)) return false;
    } else if (group.paragraph && extendsPlainly(before, delta)) {
      group.paragraph.append(delta);
    } else {
      return false;
    }
    group.key = "";
    this.exact = false;
    this.unlexed = true;
    this.counts.plainAppends++;
    return true;
  }

  /** Render an open fence shown in pieces (the last group, if any) whole. */
  private wholeFence(): void {
    const group = this.groups.at(-1);
    if (!group?.fence?.pieced) return;
    const fragment = renderBlocks(this.tokens.slice(group.first, group.end));
    this.counts.groupsRendered++;
    const nodes = [...fragment.childNodes];
    group.nodes[0]?.parentNode?.insertBefore(fragment, group.nodes[0]);
    for (const node of group.nodes) node.parentNode?.removeChild(node);
    group.nodes = nodes;
    delete group.fence;
  }

  private relexAll(): void {
    const tokens = lexBlocks(this.src);
    this.counts.fullLexes++;
    this.exact = true;
    this.unlexed = false;
    this.showAll(tokens);
  }

  private showAll(tokens: Token[] & { links: LinkDefs }): void {
    this.linksKey = linksKeyOf(tokens.links);
    this.defs = { upTo: 0, links: Object.create(null) as LinkDefs };
    this.replaceFrom(0, tokens, 0);
    this.regroup(0);
  }

  private relexTail(): void {
    const w = this.windowStart();
    if (w === 0) return this.relexAll();
    const from = this.starts[w]!;
    const tail = lexBlocks(this.src.slice(from), this.linksBefore(w));
    this.counts.tailLexes++;
    // A definition that changed may be used anywhere, before it too.
    if (linksKeyOf(tail.links) !== this.linksKey) return this.relexAll();
    this.exact = false;
    this.unlexed = false;
    this.replaceFrom(w, tail, from);
    this.regroup(w);
  }

  /** Index of the first token to lex again: tokens before it are final. */
  private windowStart(): number {
    let w = this.tokens.length;
    let blocks = 0;
    while (w > 0 && blocks < REOPEN) {
      w--;
      if (this.tokens[w]!.type !== "space") blocks++;
    }
    w = Math.min(w, this.trusted);
    // Never start on a blank line: marked adds a lone newline to the token before it.
    while (w > 0 && (this.tokens[w]!.type === "space" || !closedBefore(this.tokens, w))) w--;
    return w;
  }

  /** Keep tokens before `w`, then `fresh`, lexed from offset `from` of `src`. */
  private replaceFrom(w: number, fresh: Token[], from: number): void {
    this.tokens.length = w;
    this.starts.length = w;
    this.trusted = Math.min(this.trusted, w);
    let at = from;
    let trusting = this.trusted === w;
    fresh.forEach((token, i) => {
      this.tokens.push(token);
      this.starts.push(at);
      // marked trims the end of the last token's source; every other token must be the text at its offset.
      if (trusting && i < fresh.length - 1 && this.src.startsWith(token.raw, at)) this.trusted = w + i + 1;
      else trusting = false;
      at += token.raw.length;
    });
  }

  /** Link definitions made by the tokens before `w`. */
  private linksBefore(w: number): LinkDefs {
    if (this.defs.upTo > w) this.defs = { upTo: 0, links: Object.create(null) as LinkDefs };
    for (let i = this.defs.upTo; i < w; i++) collectDefs(this.tokens[i]!, this.defs.links);
    this.defs.upTo = w;
    return this.defs.links;
  }

  /** Group the tokens from the group before the one holding token `w`, reusing groups that did not change. */
  private regroup(w: number): void {
    let g = this.groups.length;
    while (g > 0 && this.groups[g - 1]!.end > w) g--;
    // A raw-HTML token at `w` belongs with the group before it.
    g = Math.max(0, g - 1);
    const old = this.groups.splice(g);
    const first = old[0]?.first ?? (g > 0 ? this.groups[g - 1]!.end : 0);
    let prev: Node | null = null;
    for (let i = g - 1; i >= 0 && !prev; i--) prev = this.groups[i]!.nodes.at(-1) ?? null;

    const fresh = groupTokens(this.tokens, first);
    const reused = new Set<Group>();
    const next: Group[] = [];
    fresh.forEach(([start, end], k) => {
      const key = groupKey(this.linksKey, this.tokens, start, end);
      const before = old[k];
      if (before && (before.key === key || (k === fresh.length - 1 && this.growFence(before, start, end)))) {
        before.key = key;
        before.first = start;
        before.end = end;
        reused.add(before);
        next.push(before);
      } else {
        next.push({ first: start, end, key, nodes: [] });
      }
    });
    for (const group of old) {
      if (!reused.has(group)) for (const node of group.nodes) node.parentNode?.removeChild(node);
    }
    for (const group of next) {
      if (!reused.has(group)) this.render(group, prev);
      prev = group.nodes.at(-1) ?? prev;
    }
    this.groups.push(...next);
  }

  /** Render `group` and insert its nodes after `prev` (at the start when null). */
  private render(group: Group, prev: Node | null): void {
    const tokens = this.tokens.slice(group.first, group.end);
    const fragment = renderBlocks(tokens);
    this.counts.groupsRendered++;
    group.nodes = [...fragment.childNodes];
    const token = tokens[0]!;
    const fence = tokens.length === 1 && token.type === "code" && !isIndentedCode(token) && OpenFence.of(token.raw, group.nodes);
    const paragraph = tokens.length === 1 && token.type === "paragraph" && OpenParagraph.of(group.nodes);
    if (fence) group.fence = fence;
    else if (paragraph) group.paragraph = paragraph;
    this.el.insertBefore(fragment, prev ? prev.nextSibling : this.el.firstChild);
  }

  /**
   * If `group` shows an open fence that tokens [first, end) continue (one fenced
   * code token, same opening line, not closed yet, its lines extending the old
   * ones), update its DOM in place and return true.
   */
  private growFence(group: Group, first: number, end: number): boolean {
    const token = this.tokens[first]!;
    if (!group.fence || end !== first + 1 || token.type !== "code" || isIndentedCode(token)) return false;
    if (!group.fence.grow(token.raw)) return false;
    this.counts.groupsRendered++;
    return true;
  }
}
