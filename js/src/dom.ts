/** A tiny element builder and a once-per-frame scheduler. */

type Attrs = Record<string, string | number | boolean | null | undefined>;

/** Create `<tag>` with attributes (false/null/undefined are skipped) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  doc: Document,
  tag: K,
  attrs: Attrs = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const el = doc.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "class") el.className = String(value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  el.append(...children);
  return el;
}

/** Set an attribute only when it changes (avoids needless style recalcs). */
export function setAttr(el: Element, name: string, value: string): void {
  if (el.getAttribute(name) !== value) el.setAttribute(name, value);
}

export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

/**
 * Coalesce many `schedule()` calls into one `run()` per animation frame
 * (setTimeout when requestAnimationFrame is missing or the page is hidden).
 */
export class FrameScheduler {
  private handle: { kind: "raf" | "timeout"; id: number } | null = null;

  constructor(private readonly run: () => void) {}

  schedule(): void {
    if (this.handle) return;
    const fire = () => {
      this.handle = null;
      this.run();
    };
    const hidden = typeof document !== "undefined" && document.visibilityState === "hidden";
    if (typeof requestAnimationFrame === "function" && !hidden) {
      this.handle = { kind: "raf", id: requestAnimationFrame(fire) };
    } else {
      this.handle = { kind: "timeout", id: setTimeout(fire, 16) as unknown as number };
    }
  }

  cancel(): void {
    if (!this.handle) return;
    if (this.handle.kind === "raf") cancelAnimationFrame(this.handle.id);
    else clearTimeout(this.handle.id);
    this.handle = null;
  }
}
