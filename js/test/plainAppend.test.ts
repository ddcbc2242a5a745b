// @vitest-environment jsdom
/**
 * The streaming renderer's lex-free updates (an open fence's code and a
 * paragraph's plain words shown by appending text): at every update the DOM
 * reads as a full render of the text so far (inside an open fence, but for
 * its colours), whatever the pieces, and it settles to exactly a full render.
 */
import { describe, expect, it } from "vitest";
import { renderMarkdown } from "../src/markdown.js";
import { shownCode } from "../src/openFence.js";
import { extendsPlainly } from "../src/openParagraph.js";
import { StreamingMarkdown } from "../src/streamingMarkdown.js";

function fullHtml(text: string): string {
  const div = document.createElement("div");
  div.append(renderMarkdown(text));
  return div.innerHTML;
}

/** HTML without highlight.js's spans: what an open fence's DOM must match. */
function uncoloured(html: string): string {
  return html.replace(/<span class="(?:hljs-|language-)[^"]*">/g, "").replace(/<\/span>/g, "");
}

function rng(seed: number): () => number {
  let state = seed;
  return () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

/** Stream `text` in pieces of 1..max characters, checking every update; returns the renderer's counts. */
function stream(text: string, seed: number, max: number, exact: (shown: string) => boolean) {
  const next = rng(seed);
  const el = document.createElement("div");
  const md = new StreamingMarkdown(el);
  let shown = "";
  while (shown.length < text.length) {
    shown = text.slice(0, shown.length + 1 + Math.floor(next() * max));
    md.update(shown);
    const want = fullHtml(shown);
    if (exact(shown)) expect(el.innerHTML, JSON.stringify(shown)).toBe(want);
    else expect(uncoloured(el.innerHTML), JSON.stringify(shown)).toBe(uncoloured(want));
  }
  md.settle();
  expect(el.innerHTML).toBe(fullHtml(text));
  return md.counts;
}

describe("an open fence grows without a lex", () => {
  it("shows each update as a full render would, but for its colours", () => {
    const lines = Array.from({ length: 30 }, (_, k) => `    total_${k} = f("a${k}", b=[${k}, 2])  # step ${k}`);
    const text = `Intro.\n\n\`\`\`python\n${lines.join("\n")}\n\`\`\`\n\nAfter.`;
    const counts = stream(text, 7, 24, () => false);
    // Most updates only appended text: no lex, no render but a chunk now and then.
    expect(counts.plainAppends).toBeGreaterThan(counts.tailLexes * 3);
  });

  it("lexes a line that could close it, and renders it whole once closed", () => {
    const el = document.createElement("div");
    const md = new StreamingMarkdown(el);
    let text = "```js\nconst a = 1;\n";
    md.update(text);
    for (const piece of ["const b = '```';\n", "~~~\n", "  ``", "`", "\nafter"]) {
      text += piece;
      md.update(text);
      expect(uncoloured(el.innerHTML), JSON.stringify(text)).toBe(uncoloured(fullHtml(text)));
    }
    // Closed by "  ```": the block was rendered whole, colours included.
    expect(el.innerHTML).toBe(fullHtml(text));
  });

  it("random fence lines, indented openings, tildes, blank lines, NUL", { timeout: 60_000 }, () => {
    const LINES = [
      "x = 1", "", "  indented", "\tx", "```", "````", "~~~", " ```", "    ```", "``", "`", "a ``` b",
      "```py", "~~~~", "   ~~~ ", "\u0000", "# not a heading", "- not a list", "<b>x</b>", "&amp;",
    ]; // prettier-ignore
    const OPENINGS = ["```", "```python", "~~~", "~~~js", "  ```", " ```ts", "   ~~~", "````"];
    const next = rng(99);
    for (let doc = 0; doc < 60; doc++) {
      const opening = OPENINGS[Math.floor(next() * OPENINGS.length)]!;
      const body = Array.from({ length: 2 + Math.floor(next() * 14) }, () => LINES[Math.floor(next() * LINES.length)]!);
      stream(`Text.\n\n${opening}\n${body.join("\n")}\n`, doc + 1, 12, () => false);
    }
  });

  it("shows the code marked would show for the open lines", () => {
    expect(shownCode("```", "")).toBe("");
    expect(shownCode("```", "a")).toBe("a\n");
    expect(shownCode("```", "a\n\n")).toBe("a\n\n");
    expect(shownCode("  ```py", "    a\n b\nc")).toBe("  a\nb\nc\n");
    expect(shownCode("  ~~~", "    a")).toBe("    a\n"); // marked compensates backtick fences only
    expect(shownCode(" ```", "a\n\t")).toBe("a\n\n"); // a line emptied by the compensation stays a line
  });
});

describe("a paragraph grows by plain words without a lex", () => {
  const WORDS = [
    "the", "model", "wrote", "this", "and", "that,", "42", "e.g.", "i.e.:", "note:", "#3", "a|b", "x=1;", "'quoted'",
    '"q"', "50%", "$5", "a/b", "semi;", "why?", "wow!", "{x}", "2^3", "well-known", "naïve", "日本語", "www", "www.x.org",
    "http://x.org", "https", "mailto:a", "ftp", "a@b.co", "*em*", "_u_", "**b**", "`code`", "~~s~~", "[l](u)", "[r]",
    "<b>", "&amp;", "\\*", "1.", "10)", "-", "+", "#", ">", "|", "---", "===", "  ", "  \n", "\n", "\n\n", "\n- ",
    "\n1. ", "\n# ", "\n```\n", "\n> ", ":", ".", "www.", "http:", "//", "a_b", "*", "_", "`",
  ]; // prettier-ignore

  it("shows at every update exactly what a full render shows", { timeout: 60_000 }, () => {
    const next = rng(2024);
    let plain = 0;
    let updates = 0;
    for (let doc = 0; doc < 30; doc++) {
      const words = Array.from({ length: 10 + Math.floor(next() * 40) }, () => WORDS[Math.floor(next() * WORDS.length)]!);
      const text = words.join(next() < 0.5 ? " " : "");
      const counts = stream(text, doc + 5, 8, (shown) => !/^ {0,3}(```|~~~)/m.test(shown));
      plain += counts.plainAppends;
      updates += counts.plainAppends + counts.tailLexes + counts.fullLexes;
    }
    // The fast path is exercised, not just allowed.
    expect(plain / updates).toBeGreaterThan(0.15);
  });

  it("takes inert words, and refuses what could change a construct", () => {
    expect(extendsPlainly("Some text", " and more, 50% of it: yes.")).toBe(true);
    expect(extendsPlainly("Some text", "s")).toBe(true);
    expect(extendsPlainly("Some *text*", "s")).toBe(false); // next to an emphasis run
    expect(extendsPlainly("Some *text*", " more")).toBe(true);
    expect(extendsPlainly("visit www", ".example.org")).toBe(false);
    expect(extendsPlainly("see http", "://x")).toBe(false);
    expect(extendsPlainly("a `code", "` b")).toBe(false);
    expect(extendsPlainly("text", "\nmore")).toBe(false);
    expect(extendsPlainly("para\n1", " item")).toBe(false); // "1" may still become "1. item"
    expect(extendsPlainly("para\n+", " item")).toBe(false);
    expect(extendsPlainly("para\n", "item")).toBe(false);
  });

  it("a text replaced after a plain append is rendered afresh", () => {
    const el = document.createElement("div");
    const md = new StreamingMarkdown(el);
    md.update("Hello");
    md.update("Hello world");
    expect(md.counts.plainAppends).toBe(1);
    md.update("Hello");
    expect(el.innerHTML).toBe(fullHtml("Hello"));
    md.update("Hello there");
    md.settle();
    expect(el.innerHTML).toBe(fullHtml("Hello there"));
  });

  it("adds its text before nodes another owner put after the paragraph's (a cursor)", () => {
    const el = document.createElement("div");
    const md = new StreamingMarkdown(el);
    md.update("Hello");
    const cursor = document.createElement("span");
    el.querySelector("p")!.append(cursor);
    md.update("Hello world");
    md.update("Hello world again");
    expect(el.querySelector("p")!.lastChild).toBe(cursor);
    expect(el.textContent).toBe("Hello world again");
  });
});
