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
 * A fenced code block that is still open grows by lines, and re-rendering it
 * whole on every update costs O(block) each time. So while it grows its code is
 * shown as chunks of whole lines, each one rendered as a fence of its own
 * through the same policy, plus the open tail, the only part rendered again.
 * Only the colours can differ from a whole render (each chunk is highlighted
 * from a fresh start): once the fence closes, or the text settles, the block
 * is rendered whole.
 */
import type { Token, Tokens } from "marked";
import { lexBlocks, renderBlocks, type LinkDefs } from "./markdown.js";

/** Blocks lexed again on every update, counted from the end (blank lines not counted). */
const REOPEN = 1;
/** An open fence's tail is frozen into a chunk once it has this many whole lines. */
const CHUNK_LINES = 4;

/** Tokens that render to nothing. */
const EMPTY = new Set(["space", "def"]);

interface Group {
  /** Index of its first token, and one past its last. */
  first: number;
  end: number;
  /** What its DOM was rendered from: the link definitions, then each token's type and source. */
  key: string;
  nodes: Node[];
  /** Set while the group is a fenced code block that is still open. */
  fence?: OpenFence;
}

interface OpenFence {
  /** The fence's first line: indentation, marker, info string. */
  opening: string;
  code: Element;
  /** Source lines (after the opening line) shown as chunks. */
  chunked: string;
  /** The nodes that show the rest. */
  tail: Node[];
}

/** How much work the updates took (tests and the benchmark read these). */
export interface RenderCounts {
  fullLexes: number;
  tailLexes: number;
  groupsRendered: number;
  /** `settle()` found tokens that differed from a full lex and rendered them again. */
  settleRerenders: number;
}

export class StreamingMarkdown {
  readonly counts: RenderCounts = { fullLexes: 0, tailLexes: 0, groupsRendered: 0, settleRerenders: 0 };
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
    const grows = this.tokens.length > 0 && src.startsWith(this.src);
    this.src = src;
    if (grows) this.relexTail();
    else this.relexAll();
  }

  /**
   * The text is final: make the DOM equal to `renderMarkdown(text)`. One lex of
   * the whole text checks the tokens shown; groups whose tokens differ, and an
   * open fence shown in chunks, are rendered again. Returns false when the
   * tokens differed (a later block had changed an earlier one).
   */
  settle(): boolean {
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

  /** Render a chunked open fence (the last group, if any) whole. */
  private wholeFence(): void {
    const group = this.groups.at(-1);
    if (!group?.fence?.chunked) return;
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
    while (w > 0 && (this.tokens[w]!.type === "space" || !this.closedBefore(w))) w--;
    return w;
  }

  /** Whether no text from token `w` on can join the tokens before it. */
  private closedBefore(w: number): boolean {
    const prev = this.tokens[w - 1]!;
    if (prev.type === "space") {
      // A blank line ends everything except a list, a quote or indented code.
      const open = this.tokens[w - 2];
      return !open || !(open.type === "list" || open.type === "blockquote" || isIndentedCode(open));
    }
    return prev.type === "heading" || prev.type === "hr" || (prev.type === "code" && !isIndentedCode(prev));
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
      if (!reused.has(group)) {
        const fragment = renderBlocks(this.tokens.slice(group.first, group.end));
        this.counts.groupsRendered++;
        group.nodes = [...fragment.childNodes];
        const fence = openFence(this.tokens, group);
        if (fence) group.fence = fence;
        this.el.insertBefore(fragment, prev ? prev.nextSibling : this.el.firstChild);
      }
      prev = group.nodes.at(-1) ?? prev;
    }
    this.groups.push(...next);
  }

  /**
   * If `group` shows an open fence that tokens [first, end) continue (one fenced
   * code token, same opening line, not closed yet, its lines extending the old
   * ones), update its DOM in place and return true.
   */
  private growFence(group: Group, first: number, end: number): boolean {
    const fence = group.fence;
    const token = this.tokens[first]!;
    if (!fence || end !== first + 1 || token.type !== "code" || isIndentedCode(token)) return false;
    const parts = fenceParts(token.raw);
    if (!parts || parts.closed || parts.opening !== fence.opening || !parts.body.startsWith(fence.chunked)) {
      return false;
    }
    let tail = parts.body.slice(fence.chunked.length);
    const cut = chunkEnd(tail);
    let chunk: Node[] = [];
    if (cut > 0) {
      const nodes = renderFenceLines(fence.opening, tail.slice(0, cut), true);
      if (!nodes) return false;
      chunk = nodes;
      fence.chunked += tail.slice(0, cut);
      tail = tail.slice(cut);
    }
    const tailNodes = tail ? renderFenceLines(fence.opening, tail, false) : [];
    if (!tailNodes) return false;
    this.counts.groupsRendered++;
    for (const node of fence.tail) node.parentNode?.removeChild(node);
    fence.code.append(...chunk, ...tailNodes);
    fence.tail = tailNodes;
    return true;
  }
}

/** The chunking state of a freshly rendered group, if it is one fenced code block still open. */
function openFence(tokens: Token[], group: Group): OpenFence | undefined {
  const token = tokens[group.first]!;
  if (group.end !== group.first + 1 || token.type !== "code" || isIndentedCode(token)) return undefined;
  const parts = fenceParts(token.raw);
  const code = (group.nodes[0] as Element | undefined)?.querySelector?.("pre > code");
  if (!parts || parts.closed || !code) return undefined;
  return { opening: parts.opening, code, chunked: "", tail: [...code.childNodes] };
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
 * Where the next chunk of an open fence's `tail` ends: after its last whole
 * line once it has `CHUNK_LINES` of them, else 0. A chunk never ends on a blank
 * line (marked drops a fence's last blank line).
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

/** The children of `<code>` for these lines of a fence, rendered as a fence of their own. */
function renderFenceLines(opening: string, lines: string, closed: boolean): Node[] | null {
  const marker = /^( {0,3})(`{3,}|~{3,})/.exec(opening)!;
  const src = `${opening}\n${lines}${closed ? `${lines.endsWith("\n") ? "" : "\n"}${marker[1]}${marker[2]}` : ""}`;
  const tokens = lexBlocks(src);
  if (tokens.length !== 1 || tokens[0]!.type !== "code") return null;
  const code = renderBlocks(tokens).querySelector("pre > code");
  return code ? [...code.childNodes] : null;
}

/** [first, end) of each group of `tokens` from `first` on: raw HTML joins its neighbours. */
function groupTokens(tokens: Token[], first: number): [number, number][] {
  const groups: [number, number][] = [];
  let endsWithText = false;
  for (let i = first; i < tokens.length; i++) {
    const type = tokens[i]!.type;
    const current = groups.at(-1);
    if (current && (EMPTY.has(type) || type === "html" || endsWithText)) current[1] = i + 1;
    else groups.push([i, i + 1]);
    if (type === "html") endsWithText = true;
    else if (!EMPTY.has(type)) endsWithText = false;
  }
  return groups;
}

function groupKey(linksKey: string, tokens: Token[], first: number, end: number): string {
  let key = linksKey;
  for (let i = first; i < end; i++) key += `\u0000${tokens[i]!.type}\u0000${tokens[i]!.raw}`;
  return key;
}

function sameBlocks(a: Token[], b: Token[]): boolean {
  return a.length === b.length && a.every((t, i) => t.type === b[i]!.type && t.raw === b[i]!.raw);
}

function linksKeyOf(links: LinkDefs): string {
  return JSON.stringify(links);
}

function isIndentedCode(token: Token): boolean {
  return token.type === "code" && (token as Tokens.Code).codeBlockStyle === "indented";
}

/** Add the link definitions `token` makes (in lists and quotes too) to `links`, the first of a label winning. */
function collectDefs(token: Token, links: LinkDefs): void {
  if (token.type === "def") {
    const def = token as Tokens.Def;
    if (!links[def.tag]) links[def.tag] = { href: def.href, title: def.title };
    return;
  }
  if (token.type === "list") {
    for (const item of (token as Tokens.List).items) for (const t of item.tokens) collectDefs(t, links);
  } else if (token.type === "blockquote") {
    for (const t of (token as Tokens.Blockquote).tokens) collectDefs(t, links);
  }
}
