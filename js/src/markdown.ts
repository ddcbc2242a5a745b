/**
 * Model answers → safe DOM: the panel's side of the one rendering policy for
 * untrusted text (the kernel's side is `ipyllm/_untrusted.py`; both are tested
 * on `tests/fixtures/hostile/`). marked parses with three rules of ours: raw
 * HTML shows as the text that was typed, images become a placeholder naming
 * their URL (nothing is fetched), and only http(s)/mailto/# links keep their
 * target. DOMPurify then allow-lists what is left, highlight.js colours code
 * blocks (from their text, after sanitizing), and each block gets a bar with
 * Copy (and Insert below, where the notebook is reachable). Nothing in an
 * answer can run script or make the page fetch.
 *
 * `renderBlocks` is the same policy applied to some of a text's top-level
 * tokens (`lexBlocks`), for the streaming renderer (`streamingMarkdown.ts`):
 * both paths end in `finish`, the one place HTML becomes DOM.
 */
import DOMPurify from "dompurify";
import hljs from "highlight.js/lib/core";
import bash from "highlight.js/lib/languages/bash";
import css from "highlight.js/lib/languages/css";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import markdownLang from "highlight.js/lib/languages/markdown";
import plaintext from "highlight.js/lib/languages/plaintext";
import python from "highlight.js/lib/languages/python";
import sql from "highlight.js/lib/languages/sql";
import typescript from "highlight.js/lib/languages/typescript";
import xml from "highlight.js/lib/languages/xml";
import yaml from "highlight.js/lib/languages/yaml";
import { Lexer, Marked, type Token, type TokensList } from "marked";
import type { InsertCode } from "./notebookCells.js";

const LANGUAGES = { bash, css, javascript, json, markdown: markdownLang, plaintext, python, sql, typescript, xml, yaml };
for (const [name, lang] of Object.entries(LANGUAGES)) hljs.registerLanguage(name, lang);
hljs.registerAliases(["shell", "console"], { languageName: "bash" });
hljs.registerAliases(["text", "txt"], { languageName: "plaintext" });

export const IMAGE_PLACEHOLDER = "image not loaded";
/** A placeholder shows this much of an image URL (a data: URI can be megabytes). */
const URL_SHOWN = 200;
const LINK_REL = "noopener noreferrer nofollow";

function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** `url` if a link may point there (http, https, mailto or #fragment), else null. */
export function safeHref(url: string): string | null {
  // Browsers ignore ASCII whitespace and control characters inside a scheme ("java\tscript:").
  // eslint-disable-next-line no-control-regex
  const bare = url.replace(/[\x00-\x20\x7f]+/g, "").toLowerCase();
  return /^(https?:|mailto:|#)/.test(bare) ? url.trim() : null;
}

function shownUrl(url: string): string {
  return url.length <= URL_SHOWN ? url : `${url.slice(0, URL_SHOWN)}…`;
}

const parser = new Marked({
  gfm: true,
  breaks: false,
  async: false,
  renderer: {
    html({ text }) {
      return escapeHtml(text);
    },
    image({ href, text }) {
      const label = text.trim() ? `[${IMAGE_PLACEHOLDER}: ${text.trim()}]` : `[${IMAGE_PLACEHOLDER}]`;
      return (
        `<span class="ipyllm-image" data-testid="image-placeholder">${escapeHtml(label)} ` +
        `<code>${escapeHtml(shownUrl(href))}</code></span>`
      );
    },
    link({ href, tokens }) {
      const label = this.parser.parseInline(tokens);
      const target = safeHref(href);
      if (target === null) return label; // the words stay, the target goes
      return `<a href="${escapeHtml(target)}">${label}</a>`;
    },
  },
});

const SANITIZE = {
  RETURN_DOM_FRAGMENT: true as const,
  // HTML only: no SVG or MathML, whose elements can load and run things of their own.
  USE_PROFILES: { html: true },
  FORBID_TAGS: [
    "style", "form", "input", "button", "textarea", "select", "option", "img", "picture",
    "source", "video", "audio", "track", "iframe", "frame", "object", "embed", "base",
    "meta", "link", "template",
  ],
  FORBID_ATTR: ["style", "src", "srcset", "srcdoc", "action", "formaction", "poster", "background"],
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#)/i,
};

export const COPY_CLASS = "ipyllm-copy";
/** Shown only where the panel can reach its notebook (`notebookCells.ts`); CSS hides it elsewhere. */
export const INSERT_CLASS = "ipyllm-insert";

/** Link reference definitions (`[label]: url`) by normalised label, as the lexer keeps them. */
export type LinkDefs = TokensList["links"];

/** Parse, sanitize and decorate `text`; the fragment belongs to the current document. */
export function renderMarkdown(text: string): DocumentFragment {
  return finish(parser.parse(text, { async: false }));
}

/**
 * The top-level tokens of `src`, lexed as `renderMarkdown` lexes a whole text;
 * `links` are definitions made before `src` starts (a reference in `src` may use them).
 */
export function lexBlocks(src: string, links?: LinkDefs): TokensList {
  const lexer = new Lexer({ ...parser.defaults });
  if (links) Object.assign(lexer.tokens.links, links);
  return lexer.lex(src);
}

/** `renderMarkdown` of the text these top-level tokens were lexed from, for those tokens only. */
export function renderBlocks(tokens: Token[]): DocumentFragment {
  return finish(parser.parser(tokens));
}

let configured = false;

/** Sanitize and decorate marked's HTML: the policy's last steps, shared by both paths. */
function finish(html: string): DocumentFragment {
  if (!configured) {
    // Parsed once: `sanitize` otherwise rebuilds its allow-lists from SANITIZE on every
    // call, which costs more than sanitizing one streamed block. (Passing SANITIZE below
    // keeps the return type; DOMPurify ignores it once a config is set.)
    DOMPurify.setConfig(SANITIZE);
    configured = true;
  }
  const fragment = DOMPurify.sanitize(html, SANITIZE);
  for (const a of fragment.querySelectorAll("a[href]")) {
    a.setAttribute("target", "_blank");
    a.setAttribute("rel", LINK_REL);
  }
  for (const code of fragment.querySelectorAll("pre > code")) decorateCodeBlock(code as HTMLElement);
  // marked puts a newline after every block; between blocks it is noise.
  for (const node of [...fragment.childNodes]) {
    if (node.nodeType === 3 && !node.textContent?.trim()) node.remove();
  }
  return fragment;
}

function languageOf(code: HTMLElement): string | null {
  for (const cls of code.classList) {
    if (cls.startsWith("language-")) return cls.slice("language-".length).toLowerCase();
  }
  return null;
}

function decorateCodeBlock(code: HTMLElement): void {
  const pre = code.parentElement;
  if (!pre) return;
  const lang = languageOf(code);
  const source = code.textContent ?? "";
  if (lang && hljs.getLanguage(lang)) {
    // highlight.js escapes its input, so its output holds only its own spans.
    code.innerHTML = hljs.highlight(source, { language: lang, ignoreIllegals: true }).value;
  }
  code.classList.add("hljs");
  const doc = pre.ownerDocument;
  const wrap = doc.createElement("div");
  wrap.className = "ipyllm-code";
  if (lang) wrap.dataset.lang = lang;
  // The labels come from CSS (data-state), so the answer's text stays the model's text.
  const copy = codeButton(doc, COPY_CLASS, "Copy code");
  const insert = codeButton(doc, INSERT_CLASS, "Insert the code in a new cell below");
  const bar = doc.createElement("div");
  bar.className = "ipyllm-code-bar";
  bar.append(insert, copy);
  pre.replaceWith(wrap);
  wrap.append(bar, pre);
}

function codeButton(doc: Document, className: string, title: string): HTMLButtonElement {
  const button = doc.createElement("button");
  button.type = "button";
  button.className = className;
  button.dataset.state = "idle";
  button.title = title;
  button.setAttribute("aria-label", title);
  return button;
}

function codeOf(button: Element): string {
  return button.closest(".ipyllm-code")?.querySelector("pre > code")?.textContent ?? "";
}

function flash(button: HTMLElement, ok: boolean, done: string): void {
  button.dataset.state = ok ? done : "failed";
  setTimeout(() => (button.dataset.state = "idle"), 1500);
}

/**
 * Click handler for a rendered answer: Copy copies its code block; Insert below
 * (when `insert` is given) puts the block into a new notebook cell.
 */
export function handleCodeBarClick(event: Event, insert: InsertCode | null = null): void {
  const target = event.target as Element | null;
  const copy = target?.closest?.(`.${COPY_CLASS}`) as HTMLButtonElement | null;
  if (copy) {
    void copyText(codeOf(copy), copy.ownerDocument).then((ok) => flash(copy, ok, "copied"));
    return;
  }
  const put = target?.closest?.(`.${INSERT_CLASS}`) as HTMLButtonElement | null;
  if (put && insert) flash(put, insert(codeOf(put), put), "inserted");
}

/** Put `text` on the clipboard (the async API, else a hidden textarea's copy command). */
export async function copyText(text: string, doc: Document): Promise<boolean> {
  try {
    if (typeof navigator !== "undefined" && navigator.clipboard?.writeText) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through to the textarea trick (insecure contexts)
  }
  const area = doc.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  doc.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = doc.execCommand("copy");
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}
