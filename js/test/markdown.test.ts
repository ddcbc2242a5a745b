// @vitest-environment jsdom
import { afterEach, describe, expect, it, vi } from "vitest";
import { handleCodeBarClick, renderMarkdown } from "../src/markdown.js";

function render(text: string): HTMLElement {
  const div = document.createElement("div");
  div.append(renderMarkdown(text));
  document.body.append(div);
  return div;
}

const flags = window as unknown as Record<string, unknown>;

afterEach(() => {
  document.body.replaceChildren();
  delete flags.__pwned;
});

describe("renderMarkdown keeps untrusted text inert", () => {
  it("shows raw HTML as the text that was typed and never runs it", async () => {
    const el = render('Hello <script>window.__pwned = 1</script> **world** <img src=x onerror="window.__pwned = 2">');
    await new Promise((r) => setTimeout(r, 20));
    expect(el.querySelector("script, img")).toBeNull();
    expect(flags.__pwned).toBeUndefined();
    expect(el.textContent).toContain("<script>window.__pwned = 1</script>");
    expect(el.textContent).toContain('<img src=x onerror="window.__pwned = 2">');
    expect(el.querySelector("strong")?.textContent).toBe("world");
  });

  it("keeps only http(s), mailto and # link targets, opened safely", () => {
    const el = render("[md](javascript:alert(1)) and [vb](vbscript:x) [d](data:text/html,x) and [ok](https://example.com)");
    const hrefs = [...el.querySelectorAll("a")].map((a) => a.getAttribute("href"));
    expect(hrefs).toEqual(["https://example.com"]);
    expect(el.textContent).toContain("md and vb d and ok");
    const ok = el.querySelector('a[href="https://example.com"]');
    expect(ok?.getAttribute("target")).toBe("_blank");
    expect(ok?.getAttribute("rel")).toBe("noopener noreferrer nofollow");
  });

  it("shows an image as a placeholder naming its URL instead of loading it", () => {
    const el = render("![chart](https://img.example/c.png?d=secret)");
    expect(el.querySelector("img")).toBeNull();
    const placeholder = el.querySelector('[data-testid="image-placeholder"]');
    expect(placeholder?.textContent).toBe("[image not loaded: chart] https://img.example/c.png?d=secret");
  });

  it("clips a long data: URL in the placeholder", () => {
    const el = render(`![x](data:image/png;base64,${"A".repeat(100_000)})`);
    expect(el.textContent!.length).toBeLessThan(300);
  });
});

describe("renderMarkdown code blocks", () => {
  it("highlights known languages", () => {
    const el = render("```python\ndef f(x):\n    return 'hi'  # note\n```");
    const code = el.querySelector("pre > code");
    expect(code?.classList.contains("hljs")).toBe(true);
    expect(code?.querySelector(".hljs-keyword")?.textContent).toBe("def");
    expect(code?.querySelector(".hljs-string")?.textContent).toBe("'hi'");
    expect(code?.querySelector(".hljs-comment")?.textContent).toBe("# note");
    expect(code?.textContent).toBe("def f(x):\n    return 'hi'  # note\n");
  });

  it("resolves aliases (js, sh, html)", () => {
    const el = render("```js\nconst a = 1;\n```\n\n```sh\necho hi\n```\n\n```html\n<b>x</b>\n```");
    const codes = el.querySelectorAll("pre > code");
    expect(codes).toHaveLength(3);
    for (const code of codes) expect(code.querySelector("span[class^=hljs-]")).not.toBeNull();
    // The highlighted HTML sample is text, not markup.
    expect(el.querySelector("pre b")).toBeNull();
  });

  it("leaves unknown languages as escaped plain text", () => {
    const el = render("```brainfuck\n<img src=x onerror=alert(1)>\n```");
    const code = el.querySelector("pre > code");
    expect(code?.children).toHaveLength(0);
    expect(code?.textContent).toBe("<img src=x onerror=alert(1)>\n");
    expect(el.querySelector("img")).toBeNull();
  });

  it("adds one bar (Insert below, Copy) per block, none for inline code", () => {
    const el = render("Use `x` here.\n\n```python\na = 1\n```\n\n```\nplain\n```");
    expect(el.querySelectorAll(".ipyllm-copy")).toHaveLength(2);
    expect(el.querySelectorAll(".ipyllm-code > .ipyllm-code-bar + pre > code")).toHaveLength(2);
    expect(el.querySelectorAll(".ipyllm-code-bar > .ipyllm-insert + .ipyllm-copy")).toHaveLength(2);
  });

  it("inserts the block's code as text through the host's inserter", () => {
    const hostile = "<script>alert(1)</script>\nprint('x')\n";
    const el = render("```python\n" + hostile + "```\n\n```\nsecond\n```");
    const seen: [string, Element][] = [];
    el.addEventListener("click", (event) => handleCodeBarClick(event, (code, from) => (seen.push([code, from]), true)));
    const buttons = [...el.querySelectorAll<HTMLButtonElement>(".ipyllm-insert")] as [HTMLButtonElement, HTMLButtonElement];
    buttons[0].click();
    expect(seen).toEqual([[hostile, buttons[0]]]);
    expect(buttons[0].dataset.state).toBe("inserted");
    buttons[1].click();
    expect(seen[1]?.[0]).toBe("second\n");
  });

  it("says when the insert failed, and does nothing without an inserter", () => {
    const el = render("```\nx = 1\n```");
    const button = el.querySelector<HTMLButtonElement>(".ipyllm-insert")!;
    const off = (event: Event) => handleCodeBarClick(event, null);
    el.addEventListener("click", off);
    button.click();
    expect(button.dataset.state).toBe("idle");
    el.removeEventListener("click", off);
    el.addEventListener("click", (event) => handleCodeBarClick(event, () => false));
    button.click();
    expect(button.dataset.state).toBe("failed");
  });

  it("copies the block's code", async () => {
    const writeText = vi.fn(async (_: string) => {});
    Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
    const el = render("```python\nprint('x')\n```");
    const button = el.querySelector<HTMLButtonElement>(".ipyllm-copy")!;
    el.addEventListener("click", (event) => handleCodeBarClick(event));
    button.click();
    await new Promise((r) => setTimeout(r, 0));
    expect(writeText).toHaveBeenCalledWith("print('x')\n");
    expect(button.dataset.state).toBe("copied");
    // The button adds no text to the answer.
    expect(el.textContent).toBe("print('x')\n");
  });
});
