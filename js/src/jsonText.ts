/**
 * JSON shown as text: tool arguments and results, structured answers.
 *
 * `formatJson` lays valid JSON out as `JSON.stringify(value, null, 2)` does,
 * but by moving whitespace only: every number, string and key stays spelled
 * as it came, in its order (a round trip through `JSON.parse` would round
 * 12345678901234567890, reorder integer-like keys and drop repeated ones,
 * so the card would not show what the tool was given).
 */

const WS = new Set([" ", "\t", "\n", "\r"]);

/** `text` laid out with two-space indents, or null when it is not valid JSON. */
export function formatJson(text: string): string | null {
  try {
    JSON.parse(text);
  } catch {
    return null;
  }
  const out: string[] = [];
  let depth = 0;
  const newline = () => "\n" + "  ".repeat(depth);
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < n && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      out.push(text.slice(i, j + 1));
      i = j;
    } else if (WS.has(c)) {
      continue;
    } else if (c === "{" || c === "[") {
      let j = i + 1;
      while (j < n && WS.has(text[j]!)) j++;
      if (text[j] === (c === "{" ? "}" : "]")) {
        out.push(c, text[j]!);
        i = j;
      } else {
        depth++;
        out.push(c, newline());
      }
    } else if (c === "}" || c === "]") {
      depth--;
      out.push(newline(), c);
    } else if (c === ",") {
      out.push(",", newline());
    } else if (c === ":") {
      out.push(": ");
    } else {
      out.push(c);
    }
  }
  return out.join("");
}

/** A fence some models put around JSON (```json … ```), as the kernel's schema check allows. */
const FENCE = /^```[A-Za-z]*[ \t]*\n([\s\S]*?)\n?[ \t]*```$/;

/** A structured answer laid out for reading: its JSON formatted (fence and outer
 * whitespace dropped), else the text as it is. */
export function formatAnswerJson(text: string): string {
  const body = text.trim();
  const inner = FENCE.exec(body)?.[1]?.trim() ?? body;
  return formatJson(inner) ?? text;
}
