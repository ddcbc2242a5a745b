/**
 * A paragraph that ends a streaming answer, grown by plain words without
 * lexing or rendering it again.
 *
 * Appending characters to a paragraph changes nothing but its text's end when
 * none of them can start, end or extend a Markdown construct (`extendsPlainly`):
 * - no newline (a line break can start a block, or make the paragraph a
 *   heading or a table), on a line that already starts like paragraph text;
 * - only letters, digits, spaces and punctuation that marked's inline rules
 *   pass over mid-line: not `*_~\`[]()<>&\\@` (emphasis, code, links, raw
 *   HTML, entities, escapes, e-mail autolinks), and `.` or `:` only where no
 *   `www`, `http`, `ftp`, `mailto` or `xmpp` could make them an autolink;
 * - when they continue the last word rather than start a new one, a last
 *   word made of the same characters (so they cannot extend an autolink or
 *   change how an emphasis run next to them reads).
 * marked keeps a paragraph's trailing spaces, so the text shown is the old
 * render's followed by the new characters, as a text node (never parsed).
 *
 * The next lex of the text renders the paragraph again through the one policy.
 */

/** Characters that are inert in paragraph text, mid-line (`.` and `:` but near a link-like word). */
const INERT = /^[\p{L}\p{M}\p{N} \t,'"?%$/+=;!#|{}^.:-]*$/u;
/** A word that may start an autolink once a `.` or `:` follows (`www.`, `http://`, `mailto:`). */
const LINKISH = /www|https?|ftp|mailto|xmpp/i;
/** How a line that is paragraph text, and cannot become a block start, begins (not "1" of "1. item"). */
const TEXT_LINE = /^ {0,3}(?:\p{L}|\p{N}+[^\p{N}.)])/u;

/** Whether `src + delta` shows as `src`'s render with `delta` added to the text of its last paragraph, which ends `src`. */
export function extendsPlainly(src: string, delta: string): boolean {
  if (!delta || !INERT.test(delta)) return false;
  const line = src.slice(src.lastIndexOf("\n") + 1);
  if (!TEXT_LINE.test(line)) return false;
  const word = delta[0] === " " || delta[0] === "\t" ? "" : /[^ \t]*$/.exec(line)![0];
  if (!INERT.test(word)) return false;
  const touched = word + delta;
  return !(/[.:]/.test(touched) && LINKISH.test(touched));
}

export class OpenParagraph {
  private text: Text | null = null;

  private constructor(
    /** The last node of the paragraph's render: appended text goes right after it. */
    private readonly last: Node,
  ) {}

  /** The open paragraph a block shows in `nodes` (its whole render), if they are one `<p>`. */
  static of(nodes: Node[]): OpenParagraph | undefined {
    const p = nodes.length === 1 ? (nodes[0] as Element) : null;
    const last = p?.nodeType === 1 && p.tagName === "P" ? p.lastChild : null;
    return last ? new OpenParagraph(last) : undefined;
  }

  append(delta: string): void {
    if (this.text) {
      this.text.appendData(delta);
      return;
    }
    this.text = this.last.ownerDocument!.createTextNode(delta);
    // Right after the render's own nodes: anything another owner put after them (a cursor) stays after.
    this.last.parentNode?.insertBefore(this.text, this.last.nextSibling);
  }
}
