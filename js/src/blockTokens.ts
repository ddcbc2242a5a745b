/**
 * Facts about marked's top-level tokens that the streaming renderer
 * (`streamingMarkdown.ts`) groups, keys and compares them by.
 */
import type { Token, Tokens } from "marked";
import type { LinkDefs } from "./markdown.js";

/** Tokens that render to nothing. */
const EMPTY = new Set(["space", "def"]);

/** [first, end) of each group of `tokens` from `first` on: raw HTML joins its neighbours. */
export function groupTokens(tokens: Token[], first: number): [number, number][] {
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

/** What a group's DOM is rendered from: the link definitions, then each token's type and source. */
export function groupKey(linksKey: string, tokens: Token[], first: number, end: number): string {
  let key = linksKey;
  for (let i = first; i < end; i++) key += `\u0000${tokens[i]!.type}\u0000${tokens[i]!.raw}`;
  return key;
}

export function sameBlocks(a: Token[], b: Token[]): boolean {
  return a.length === b.length && a.every((t, i) => t.type === b[i]!.type && t.raw === b[i]!.raw);
}

export function linksKeyOf(links: LinkDefs): string {
  return JSON.stringify(links);
}

/** Whether no text from token `w` on can join the tokens before it. */
export function closedBefore(tokens: Token[], w: number): boolean {
  const prev = tokens[w - 1]!;
  if (prev.type === "space") {
    // A blank line ends everything except a list, a quote or indented code.
    const open = tokens[w - 2];
    return !open || !(open.type === "list" || open.type === "blockquote" || isIndentedCode(open));
  }
  return prev.type === "heading" || prev.type === "hr" || (prev.type === "code" && !isIndentedCode(prev));
}

export function isIndentedCode(token: Token): boolean {
  return token.type === "code" && (token as Tokens.Code).codeBlockStyle === "indented";
}

/** Add the link definitions `token` makes (in lists and quotes too) to `links`, the first of a label winning. */
export function collectDefs(token: Token, links: LinkDefs): void {
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
