// @vitest-environment jsdom
/**
 * The streaming renderer: while a text grows, finished blocks keep their DOM,
 * what is shown reads as a full render of the text so far, and once the text
 * settles the DOM is exactly `renderMarkdown(text)`.
 */
import { afterEach, describe, expect, it } from "vitest";
import { renderMarkdown } from "../src/markdown.js";
import { StreamingMarkdown } from "../src/streamingMarkdown.js";

afterEach(() => document.body.replaceChildren());

function fullHtml(text: string): string {
  const div = document.createElement("div");
  div.append(renderMarkdown(text));
  return div.innerHTML;
}

function fullDom(text: string): HTMLElement {
  const div = document.createElement("div");
  div.append(renderMarkdown(text));
  return div;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `text` cut into pieces of 1..max characters. */
function pieces(text: string, rnd: () => number, max: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; ) {
    const n = 1 + Math.floor(rnd() * max);
    out.push(text.slice(i, i + n));
    i += n;
  }
  return out;
}

/** A code-dense answer like a model's: headings, prose, fences, a list, a table. */
function answer(sections: number): string {
  const out: string[] = [];
  for (let i = 0; i < sections; i++) {
    out.push(
      `## ${i + 1}. Step \`s${i}\``,
      "",
      `Call **s${i}** with \`limit=${i}\`; see [the docs](https://example.com/s${i}) and *note* the \`None\` case.`,
      "```python",
      `def s${i}(rows, limit=${i}):`,
      `    """Sum rows ("quoted")."""`,
      "    total = 0",
      "    for row in rows[:limit]:",
      "        total += row  # running",
      "",
      "    return total",
      ...Array.from({ length: 6 }, (_, k) => `x${k} = s${i}([1, 2, 3], limit=${k})`),
      "```",
      "",
      "- first point",
      "- second `point`",
      "",
      "| a | b |",
      "| --- | ---: |",
      `| ${i} | \`x\` |`,
      "",
    );
  }
  return out.join("\n");
}

describe("streaming a code-dense answer", () => {
  it("keeps each finished block's nodes, and ends equal to a full render", () => {
    const text = answer(4);
    const el = document.createElement("div");
    document.body.append(el);
    const md = new StreamingMarkdown(el);
    const rnd = mulberry32(1);
    let firstHeading: Element | null = null;
    let updates = 0;
    for (const piece of pieces(text, rnd, 12)) {
      md.update(md.text + piece);
      updates++;
      if (!firstHeading && el.children.length > 2) firstHeading = el.children[0]!;
      if (firstHeading) expect(el.children[0]).toBe(firstHeading);
    }
    expect(md.settle()).toBe(true);
    expect(el.innerHTML).toBe(fullHtml(text));
    expect(firstHeading?.isConnected).toBe(true);
    // Every update lexed only the tail, and rendered about one group, not the whole answer.
    expect(md.counts.fullLexes).toBeLessThan(10);
    expect(md.counts.groupsRendered).toBeLessThan(updates * 1.2);
  });

  it("shows at every update what a full render of the text so far shows", () => {
    const text = answer(2);
    const el = document.createElement("div");
    const md = new StreamingMarkdown(el);
    const rnd = mulberry32(2);
    let shown = "";
    for (const piece of pieces(text, rnd, 9)) {
      shown += piece;
      md.update(shown);
      const full = fullDom(shown);
      // The same text, and the same blocks: all but the last one node for node.
      expect(el.textContent).toBe(full.textContent);
      expect(el.children.length).toBe(full.children.length);
      for (let i = 0; i < el.children.length - 1; i++) expect(el.children[i]!.outerHTML).toBe(full.children[i]!.outerHTML);
    }
    md.settle();
    expect(el.innerHTML).toBe(fullHtml(text));
  });

  it("renders a growing fence in chunks of lines, then whole once it closes", () => {
    const lines = Array.from({ length: 40 }, (_, k) => `value_${k} = compute("s${k}", ${k})  # step ${k}`);
    const el = document.createElement("div");
    const md = new StreamingMarkdown(el);
    let text = "Intro.\n\n```python\n";
    md.update(text);
    const wrapper = el.querySelector(".ipyllm-code");
    for (const line of lines) {
      text += `${line}\n`;
      md.update(text);
      const code = el.querySelector("pre > code")!;
      expect(code.textContent).toBe(fullDom(text).querySelector("pre > code")!.textContent);
      // The block is updated in place, not rebuilt.
      expect(el.querySelector(".ipyllm-code")).toBe(wrapper);
    }
    // Closing the fence renders the block whole: the same DOM as a full render.
    text += "```\n\nAfter.";
    md.update(text);
    expect(el.innerHTML).toBe(fullHtml(text));
    expect(md.settle()).toBe(true);
  });

  it("renders a fence left open whole when the text settles", () => {
    const text = `\`\`\`js\n${Array.from({ length: 20 }, (_, k) => `const a${k} = \`t${k}\`;`).join("\n")}\n`;
    const el = document.createElement("div");
    const md = new StreamingMarkdown(el);
    for (let i = 1; i <= text.length; i += 7) md.update(text.slice(0, i));
    md.update(text);
    md.settle();
    expect(el.innerHTML).toBe(fullHtml(text));
  });

  it("renders a chunked fence whole on settle even after the text was replaced", () => {
    // A string across chunks: highlighted chunk by chunk, its colours differ from a whole render.
    const lines = ['doc = """', ...Array.from({ length: 10 }, (_, k) => `line ${k} if x else y`), '"""', "v = 1"];
    const fence = `\`\`\`python\n${lines.join("\n")}\n`;
    const el = document.createElement("div");
    const md = new StreamingMarkdown(el);
    for (let i = 1; i <= fence.length; i += 5) md.update(`A\n\n${fence.slice(0, i)}`);
    md.update(`A\n\n${fence}`);
    md.update(`B\n\n${fence}`); // not an extension: lexed whole, the fence's group reused
    expect(el.innerHTML).not.toBe(fullHtml(`B\n\n${fence}`));
    md.settle();
    expect(el.innerHTML).toBe(fullHtml(`B\n\n${fence}`));
  });
});

describe("what a later block changes", () => {
  it("a link definition after its use turns the earlier reference into a link at once", () => {
    const el = document.createElement("div");
    const md = new StreamingMarkdown(el);
    md.update("See [the guide] first.\n\nSome more text.\n\nAnd more.\n\n");
    expect(el.querySelector("a")).toBeNull();
    md.update("See [the guide] first.\n\nSome more text.\n\nAnd more.\n\n[the guide]: https://example.com/g\n");
    expect(el.querySelector("a")?.getAttribute("href")).toBe("https://example.com/g");
    expect(el.innerHTML).toBe(fullHtml("See [the guide] first.\n\nSome more text.\n\nAnd more.\n\n[the guide]: https://example.com/g\n"));
  });

  it("a list that continues after a paragraph line is lexed back into one block", () => {
    const steps = ["para\n10", "para\n10. ten\n", "para\n10. ten\n-", "para\n10. ten\n- it", "para\n10. ten\n- item\n\n1. a\n\n2", "para\n10. ten\n- item\n\n1. a\n\n2. b"];
    const el = document.createElement("div");
    const md = new StreamingMarkdown(el);
    for (const text of steps) {
      md.update(text);
      expect(el.innerHTML, text).toBe(fullHtml(text));
    }
  });

  it("raw HTML between blocks merges with its neighbours as in a full render", () => {
    const text = "One.\n\n<div>\nraw\n\n<!-- c -->\n\nTwo <b>x</b>.\n\n<p>\n\n```\ncode\n```\n<span>";
    const el = document.createElement("div");
    const md = new StreamingMarkdown(el);
    for (let i = 1; i <= text.length; i++) {
      md.update(text.slice(0, i));
      expect(el.innerHTML, JSON.stringify(text.slice(0, i))).toBe(fullHtml(text.slice(0, i)));
    }
  });

  it("a text that is replaced, not extended, is rendered afresh", () => {
    const el = document.createElement("div");
    const md = new StreamingMarkdown(el);
    md.update("# Old\n\nold text");
    md.update("# New\n\r\nnew text\r\n");
    expect(el.innerHTML).toBe(fullHtml("# New\n\r\nnew text\r\n"));
  });
});

describe("a table that streams", () => {
  it("hides the row whose line has not ended, and settles equal to a full render", () => {
    const text = "Prices:\n\n| item | price |\n|---|---|\n| apple | 1.20 |\n| pear | 0.95 |\n| plum | 2.10 |";
    const el = document.createElement("div");
    const md = new StreamingMarkdown(el);
    const visibleRows = () => [...el.querySelectorAll("tbody > tr")].filter((r) => !r.classList.contains("ipyllm-partial-row"));
    let shown = "";
    for (const ch of text) {
      shown += ch;
      md.update(shown);
      // Body lines so far: the last one is cut, or "" when the line just ended.
      const whole = shown.split("\n").slice(4).length - 1;
      if (el.querySelector("table")) {
        // Every row shown is a whole line; a cut one is never shown as empty cells.
        expect(visibleRows().length, JSON.stringify(shown)).toBe(Math.max(0, whole));
        for (const row of visibleRows()) expect(row.textContent!.trim()).not.toBe("");
      }
      expect(el.querySelectorAll(".ipyllm-partial-row").length).toBeLessThanOrEqual(1);
    }
    expect(el.querySelector(".ipyllm-partial-row")?.textContent).toContain("plum");
    md.settle();
    expect(el.querySelector(".ipyllm-partial-row")).toBeNull();
    expect(el.innerHTML).toBe(fullHtml(text));
    expect(el.querySelectorAll("tbody > tr")).toHaveLength(3);
  });

  it("shows the row again once its line ends, even with no new token", () => {
    const el = document.createElement("div");
    const md = new StreamingMarkdown(el);
    md.update("| a | b |\n|---|---|\n| 1 | 2 |");
    expect(el.querySelector("tbody > tr")?.classList.contains("ipyllm-partial-row")).toBe(true);
    md.update("| a | b |\n|---|---|\n| 1 | 2 |\n");
    expect(el.querySelector(".ipyllm-partial-row")).toBeNull();
    md.update("| a | b |\n|---|---|\n| 1 | 2 |\n\nAfter");
    md.settle();
    expect(el.innerHTML).toBe(fullHtml("| a | b |\n|---|---|\n| 1 | 2 |\n\nAfter"));
  });
});

describe("random Markdown streams", () => {
  const LINES = [
    "para text here", "more *em* text", "- item", "- item two", "1. one", "2. two", "10. ten", "2", "* star",
    "", "", "", "```", "```python", "~~~", "    indented code", "  continued", "# Head", "===", "---", "-", "--",
    "| a | b |", "|---|---|", "| 1 | 2 |", "> quote", ">", "[ref]: http://x.org", "see [ref] and [r2]",
    "[r2]: https://z", "<div>", "<!--", "-->", "text <b>x</b>", "   - nested", "\t tab", "\\", "def f(x):",
    "    return x",
  ]; // prettier-ignore

  it("end equal to a one-shot render, and match it at every update but inside an open fence", { timeout: 60_000 }, () => {
    const rnd = mulberry32(11);
    let settleRerenders = 0;
    let steps = 0;
    let differing = 0;
    for (let doc = 0; doc < 30; doc++) {
      const lines = Array.from({ length: 3 + Math.floor(rnd() * 20) }, () => LINES[Math.floor(rnd() * LINES.length)]!);
      const text = lines.join("\n");
      const el = document.createElement("div");
      const md = new StreamingMarkdown(el);
      let shown = "";
      for (const piece of pieces(text, rnd, 10)) {
        shown += piece;
        md.update(shown);
        steps++;
        const full = fullDom(shown);
        expect(el.textContent, shown).toBe(full.textContent);
        if (el.innerHTML !== full.innerHTML) differing++;
      }
      if (!md.settle()) settleRerenders++;
      expect(el.innerHTML, text).toBe(fullHtml(text));
    }
    // Only the colours of a chunked open fence may differ while streaming.
    expect(differing / steps).toBeLessThan(0.05);
    expect(settleRerenders).toBeLessThanOrEqual(1);
  });
});
