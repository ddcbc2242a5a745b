// Render Markdown the way JupyterLab does (marked, GFM, no sanitizer: outputs of the
// running session are trusted): reads a JSON array of strings on stdin, writes a
// JSON array of HTML strings on stdout. Used by tests/hostile_corpus.py.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const markedPath = join(here, "..", "js", "node_modules", "marked", "lib", "marked.esm.js");
const { Marked } = await import(pathToFileURL(markedPath).href);
const marked = new Marked({ gfm: true, breaks: false });
const inputs = JSON.parse(readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(inputs.map((text) => marked.parse(text, { async: false }))));
