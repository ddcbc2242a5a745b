/**
 * A fenced code block that is still open at the end of a streaming answer,
 * shown while it grows without rendering it whole on every update (which costs
 * O(block) each time).
 *
 * Its code is shown as chunks of whole lines, each rendered as a fence of its
 * own through the one policy (`renderBlocks`: marked, DOMPurify, highlight.js),
 * then the open tail: the lines not chunked yet, shown as one plain text node
 * (not highlighted: it changes on every update). A text node is never parsed,
 * so it can hold nothing but text; its text is what marked puts in the block's
 * `<code>` for those lines (`shownCode`). Only the colours differ from a whole
 * render (each chunk is highlighted from a fresh start, the tail not at all):
 * once the fence closes, or the text settles, the block is rendered whole.
 *
 * The fence grows two ways: from a lex of the text (`grow`, given the block's
 * new source), or, without lexing, by characters appended to the text while it
 * ends inside the fence (`append`), when no line they touch could be a closing
 * fence: the block then provably stays one open fence holding them.
 */
import { lexBlocks, renderBlocks } from "./markdown.js";

/** The open tail is frozen into a chunk once it has this many whole lines. */
export const CHUNK_LINES = 4;

/** A line that could close a fence (of any marker: more lines are slow-pathed than need be, never fewer). */
const MAY_CLOSE = /^ {0,3}(?:`{3,}|~{3,})[ \t]*$/;

export class OpenFence {
  /** Source lines (after the opening line) shown as chunks. */
  private chunked = "";
  /** Nodes of the block's whole render that show its code, until it first grows. */
  private rendered: Node[];
  /** Once it grew: the text node that shows the lines not chunked. */
  private tail: Text | null = null;

  private constructor(
    /** The fence's first line: indentation, marker, info string. */
    private readonly opening: string,
    private readonly code: Element,
    /** The fence's source after its opening line, as shown. */
    private body: string,
  ) {
    this.rendered = [...code.childNodes];
  }

  /** The open fence a block whose source is `raw` shows in `nodes` (its whole render), if it is one. */
  static of(raw: string, nodes: Node[]): OpenFence | undefined {
    const parts = fenceParts(raw);
    const code = nodes.length === 1 ? (nodes[0] as Element).querySelector?.("pre > code") : null;
    if (!parts || parts.closed || !code) return undefined;
    return new OpenFence(parts.opening, code, parts.body);
  }

  /** Whether the DOM is no longer the block's whole render (then `settle` renders it whole). */
  get pieced(): boolean {
    return this.tail !== null;
  }

  /**
   * The block's source is now `raw` (from a lex): if it is this fence, still
   * open, its old chunks kept, show it and return true.
   */
  grow(raw: string): boolean {
    const parts = fenceParts(raw);
    if (!parts || parts.closed || parts.opening !== this.opening || !parts.body.startsWith(this.chunked)) return false;
    return this.show(parts.body);
  }

  /**
   * `delta` was appended to a text that ended inside this fence: show it and
   * return true, unless a line it touches could close the fence (then the
   * text must be lexed).
   */
  append(delta: string): boolean {
    const touched = this.body.slice(this.body.lastIndexOf("\n") + 1) + delta;
    for (const line of touched.split("\n")) if (MAY_CLOSE.test(line)) return false;
    return this.show(this.body + delta);
  }

  private show(body: string): boolean {
    let tail = body.slice(this.chunked.length);
    // The HTML parser drops NUL from a render's text; a text node would keep it.
    if (tail.includes("\0")) return false;
    const cut = chunkEnd(tail);
    const chunk = cut > 0 ? renderFenceLines(this.opening, tail.slice(0, cut)) : [];
    if (!chunk) return false;
    const text = this.tailNode();
    text.before(...chunk);
    this.chunked += tail.slice(0, cut);
    tail = tail.slice(cut);
    const shown = shownCode(this.opening, tail);
    if (text.data !== shown) text.data = shown;
    this.body = body;
    return true;
  }

  /** The tail's text node, in place of the whole render's code on first use. */
  private tailNode(): Text {
    if (this.tail) return this.tail;
    const text = this.code.ownerDocument.createTextNode("");
    // Before the nodes it replaces: anything another owner put after them (a cursor) stays after.
    const first = this.rendered[0];
    if (first?.parentNode) first.parentNode.insertBefore(text, first);
    else this.code.insertBefore(text, this.code.firstChild);
    for (const node of this.rendered) node.parentNode?.removeChild(node);
    this.rendered = [];
    this.tail = text;
    return text;
  }
}

/** A fenced code block's source split into its opening line and the lines after it. */
function fenceParts(raw: string): { opening: string; body: string; closed: boolean } | null {
  const nl = raw.indexOf("\n");
  if (nl < 0) return null;
  const opening = raw.slice(0, nl);
  const marker = /^ {0,3}(`{3,}|~{3,})/.exec(opening)?.[1];
  if (!marker) return null;
  const body = raw.slice(nl + 1);
  const end = body.endsWith("\n") ? body.length - 1 : body.length;
  const last = body.slice(body.lastIndexOf("\n", end - 1) + 1, end);
  const close = /^ {0,3}(`{3,}|~{3,})[ \t]*$/.exec(last)?.[1];
  const closed = !!close && close[0] === marker[0] && close.length >= marker.length;
  return { opening, body, closed };
}

/**
 * The text marked puts in `<code>` for `lines` of an open fence that starts
 * with `opening`: the lines but a last newline, each losing as much leading
 * whitespace as the opening has before a backtick marker (marked's indent
 * compensation), then one newline.
 */
export function shownCode(opening: string, lines: string): string {
  if (!lines) return "";
  const code = lines.endsWith("\n") ? lines.slice(0, -1) : lines;
  const indent = /^(\s+)```/.exec(opening)?.[1]!.length ?? 0;
  if (!indent) return `${code}\n`;
  const trim = (line: string) => line.slice(Math.min(/^\s+/.exec(line)?.[0].length ?? 0, indent));
  return `${code.split("\n").map(trim).join("\n")}\n`;
}

/**
 * Where the next chunk of an open fence's `tail` ends: after its last whole
 * line once it has `CHUNK_LINES` of them, else 0. A chunk never ends on a blank
 * line (a fence's last blank line is shown differently once it is closed).
 */
function chunkEnd(tail: string): number {
  let lines = 0;
  for (let i = tail.indexOf("\n"); i >= 0; i = tail.indexOf("\n", i + 1)) lines++;
  if (lines < CHUNK_LINES) return 0;
  let end = tail.lastIndexOf("\n") + 1;
  while (end > 0) {
    const start = tail.lastIndexOf("\n", end - 2) + 1;
    if (tail.slice(start, end).trim()) return end;
    end = start;
  }
  return 0;
}

/** The children of `<code>` for these whole lines of a fence, rendered as a closed fence of their own. */
function renderFenceLines(opening: string, lines: string): Node[] | null {
  const marker = /^( {0,3})(`{3,}|~{3,})/.exec(opening)!;
  const tokens = lexBlocks(`${opening}\n${lines}${marker[1]}${marker[2]}`);
  if (tokens.length !== 1 || tokens[0]!.type !== "code") return null;
  const code = renderBlocks(tokens).querySelector("pre > code");
  return code ? [...code.childNodes] : null;
}
