/**
 * Model answers → safe DOM: marked parses, DOMPurify sanitizes, highlight.js
 * colours code blocks (from their text, after sanitizing), and each block
 * gets a copy button. Nothing in an answer can run script.
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
import { Marked } from "marked";

const LANGUAGES = { bash, css, javascript, json, markdown: markdownLang, plaintext, python, sql, typescript, xml, yaml };
for (const [name, lang] of Object.entries(LANGUAGES)) hljs.registerLanguage(name, lang);
hljs.registerAliases(["shell", "console"], { languageName: "bash" });
hljs.registerAliases(["text", "txt"], { languageName: "plaintext" });

const parser = new Marked({ gfm: true, breaks: false });

const SANITIZE = {
  RETURN_DOM_FRAGMENT: true as const,
  FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "option"],
  FORBID_ATTR: ["style"],
};

export const COPY_CLASS = "ipyllm-copy";

/** Parse, sanitize and decorate `text`; the fragment belongs to the current document. */
export function renderMarkdown(text: string): DocumentFragment {
  const html = parser.parse(text, { async: false });
  const fragment = DOMPurify.sanitize(html, SANITIZE);
  for (const a of fragment.querySelectorAll("a[href]")) {
    a.setAttribute("target", "_blank");
    a.setAttribute("rel", "noopener noreferrer");
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
  const button = doc.createElement("button");
  button.type = "button";
  button.className = COPY_CLASS;
  // The label comes from CSS (data-state), so the answer's text stays the model's text.
  button.dataset.state = "idle";
  button.title = "Copy code";
  button.setAttribute("aria-label", "Copy code");
  pre.replaceWith(wrap);
  wrap.append(button, pre);
}

/** Click handler for a rendered answer: copies the code block whose button was clicked. */
export function handleCopyClick(event: Event): void {
  const target = event.target as Element | null;
  const button = target?.closest?.(`.${COPY_CLASS}`) as HTMLButtonElement | null;
  if (!button) return;
  const code = button.parentElement?.querySelector("pre > code");
  const text = code?.textContent ?? "";
  void copyText(text, button.ownerDocument).then((ok) => {
    button.dataset.state = ok ? "copied" : "failed";
    setTimeout(() => (button.dataset.state = "idle"), 1500);
  });
}

async function copyText(text: string, doc: Document): Promise<boolean> {
  try {
    if (navigator.clipboard?.writeText) {
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
