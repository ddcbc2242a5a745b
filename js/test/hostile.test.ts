// @vitest-environment jsdom
/**
 * The panel's renderer on the hostile corpus the kernel's renderer is tested on
 * (tests/fixtures/hostile/cases.json): nothing runs, nothing is fetched, and the
 * text a case must show stays visible.
 */
import { Marked } from "marked";
import { afterEach, describe, expect, it } from "vitest";
import cases from "../../tests/fixtures/hostile/cases.json";
import { renderMarkdown } from "../src/markdown.js";
import { StreamingMarkdown } from "../src/streamingMarkdown.js";

interface Case {
  id: string;
  text: string;
  shows: string[];
}

const corpus = cases as { canary: string; origin_placeholder: string; cases: Case[] };
const ORIGIN = "http://127.0.0.1:9";
const fill = (text: string) => text.split(corpus.origin_placeholder).join(ORIGIN);

const ALLOWED_TAGS = new Set(
  ("a b blockquote br code del div em h1 h2 h3 h4 h5 h6 hr i li ol p pre s span strong " +
    "table tbody td th thead tr ul button").split(" "),
);
const ALLOWED_ATTRIBUTES = new Set(["href", "class", "align", "title", "start", "rel", "target",
  "type", "data-state", "data-lang", "data-testid", "aria-label"]);

function problems(root: Element | DocumentFragment): string[] {
  const found: string[] = [];
  for (const el of root.querySelectorAll("*")) {
    const tag = el.tagName.toLowerCase();
    if (!ALLOWED_TAGS.has(tag)) found.push(`tag <${tag}>`);
    for (const attr of el.attributes) {
      if (!ALLOWED_ATTRIBUTES.has(attr.name)) found.push(`${attr.name}= on <${tag}>`);
      // eslint-disable-next-line no-control-regex
      const bare = attr.value.replace(/[\x00-\x20\x7f]+/g, "").toLowerCase();
      if (attr.name === "href" && !/^(https?:|mailto:|#)/.test(bare)) found.push(`href ${attr.value}`);
    }
  }
  return found;
}

const flags = window as unknown as Record<string, unknown>;
afterEach(() => {
  document.body.replaceChildren();
  delete flags.__ipyllm_pwned;
});

describe("the hostile corpus", () => {
  it.each(corpus.cases.map((c) => [c.id, c] as const))("%s stays inert", async (_id, c) => {
    const div = document.createElement("div");
    div.append(renderMarkdown(fill(c.text)));
    document.body.append(div);
    await new Promise((r) => setTimeout(r, 10));
    expect(problems(div)).toEqual([]);
    expect(flags.__ipyllm_pwned).toBeUndefined();
    const visible = div.textContent!.replace(/\s+/g, " ");
    for (const shown of c.shows) expect(visible).toContain(fill(shown).replace(/\s+/g, " "));
  });

  it("is hostile without the policy: rendered raw, nearly every case would act", () => {
    // Proof that the check above can fail. (A template's content is inert: nothing loads.)
    const plain = new Marked({ gfm: true });
    const active = corpus.cases.filter((c) => {
      const template = document.createElement("template");
      template.innerHTML = plain.parse(fill(c.text), { async: false });
      return problems(template.content).length > 0;
    });
    expect(active.length).toBeGreaterThanOrEqual(corpus.cases.length - 6);
  });
});

describe("the hostile corpus streamed in random pieces", () => {
  it.each(corpus.cases.map((c) => [c.id, c] as const))("%s ends as its one-shot render, inert all along", async (_id, c) => {
    const text = fill(c.text);
    const once = document.createElement("div");
    once.append(renderMarkdown(text));
    for (const seed of [1, 2, 3]) {
      let state = seed * 7919 + text.length;
      const next = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      const div = document.createElement("div");
      document.body.append(div);
      const md = new StreamingMarkdown(div);
      let shown = "";
      while (shown.length < text.length) {
        shown = text.slice(0, shown.length + 1 + Math.floor(next() * 9));
        md.update(shown);
        expect(problems(div), shown).toEqual([]);
      }
      md.settle();
      expect(div.innerHTML).toBe(once.innerHTML);
      expect(problems(div)).toEqual([]);
    }
    await new Promise((r) => setTimeout(r, 10));
    expect(flags.__ipyllm_pwned).toBeUndefined();
  });
});

describe("random mixtures of the corpus and Markdown syntax", () => {
  const pieces = [
    ...corpus.cases.map((c) => fill(c.text)),
    "\n", "\n\n", "- ", "1. ", "> ", "    ", "```", "~~~", "`", "[", "]", "(", ")", "![", "<", ">",
    "|", "---", "\\", "&", "&#", "*", "_", "$", ":", '"', "javascript:", "http://", "www.x.org/",
    "  ", "\n  ```\n", "- ```\n", "<<", "\\<", "[r]: ", "<b>", "<!--",
  ]; // prettier-ignore
  it("stay inert", () => {
    let seed = 20261130;
    const next = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 500; i++) {
      const n = 2 + Math.floor(next() * 13);
      const text = Array.from({ length: n }, () => pieces[Math.floor(next() * pieces.length)]).join("");
      const div = document.createElement("div");
      div.append(renderMarkdown(text));
      expect(problems(div), text).toEqual([]);
    }
  });
});
