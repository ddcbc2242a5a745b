"""The chat panel's answer rendering in a real chromium: a long code-dense answer streamed in.

Run: ``.venv/bin/python bench/bench_panel_render.py [--compare OLD/chat.js] [--json PATH]``
(build the bundle first: ``cd js && npm run build``).

Loads the built panel bundle (``src/ipyllm/static/chat.js`` and its CSS) into a page served
from a loopback ``http.server`` and opened in headless Debian chromium (Playwright's sync API,
``/usr/bin/chromium``, the flags of tests/browser/conftest.py). The page mounts the panel's
anywidget entry on a fake model (as js/test/fakeModel.ts does in jsdom) in compact mode,
one tab with one streaming turn, then plays the kernel's side:

* a deterministic code-dense Markdown answer (``--size`` characters, default 50,000: headings,
  prose with inline code, fenced code in six languages, lists, tables) is cut into pieces of
  ``--chars-per-update`` characters, the text of one ``deltas`` message each: the kernel sends
  about 20 updates/s, so 20 characters an update is a model writing ~400 characters (~100
  tokens) a second;
* every update is delivered in its own animation frame, and the frame's work is timed in the
  page: a ``requestAnimationFrame`` callback registered before the update and one after it
  bracket the panel's own render, and the second then forces style and layout of the page
  (``getBoundingClientRect``), so a frame's figure is script plus style and layout (paint not
  included). Frames come as fast as chromium draws them, not 50 ms apart: the work per
  update is the same, the run is shorter;
* a ``status: done`` message settles the turn (its frame is counted too);
* chromium's own Long Animation Frames (``long-animation-frame`` entries: frames over 50 ms,
  paint included) are counted as a cross-check.

The reference, "one full render", is ``renderMarkdown(final text)`` (exported by every
bundle) into the answer element of a fresh panel, in the same page after the stream (warm),
plus the same forced layout: the median of ``--full-renders``. Targets: the stream's total
≤ 3x one full render, no frame over 50 ms.

The browser's floor, for scale: the final text rendered whole into a fresh panel, then
300 frames that each append one piece to the answer's last element as a bare text node
(no Markdown work, nothing but chromium's style and layout of the change; the text added
is taken out again every 2,000 characters, so the block stays the size of a real one),
timed the same way. Its median frame times the number of updates, over one full render,
is the least any renderer that draws every update could reach here.
Correctness: the settled answer's HTML must equal that full render's, and its
``data-length`` the answer's code points, or the bench fails.

``--compare PATH`` measures a second bundle the same way (e.g. the code before a change,
built in a clone: ``git clone /work/main /tmp/panel-before && cd /tmp/panel-before/js &&
npm ci && npm run build``, then ``--compare /tmp/panel-before/src/ipyllm/static/chat.js``);
the two run interleaved, alternating which goes first. ``--strict`` exits 1 on a MISS of
the measured bundle.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from benchjson import write_results

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "src" / "ipyllm" / "static" / "chat.js"
CHROMIUM = Path("/usr/bin/chromium")
# The flags tests/browser/conftest.py launches chromium with.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
FRAME_TARGET_MS = 50.0
# Frames of the browser-floor measurement (text-node appends to a rendered answer).
FLOOR_FRAMES = 300
TOTAL_TARGET = 3.0

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>panel bench</title></head>
<body style="margin:0"><div id="host" style="width:900px"></div>
<script type="module">
const bundle = new URLSearchParams(location.search).get("bundle");
const css = document.createElement("link");
css.rel = "stylesheet";
css.href = `./${bundle}/chat.css`;
document.head.append(css);
const mod = await import(`./${bundle}/chat.js`);
const createPanelWidget = mod.default;
const renderMarkdown = mod.renderMarkdown;

class FakeModel {
  constructor(traits) { this.traits = traits; this.handlers = new Map(); }
  get(name) { return this.traits[name]; }
  set(name, value) {
    this.traits[name] = value;
    for (const cb of [...(this.handlers.get(`change:${name}`) ?? [])]) cb();
  }
  on(event, cb) {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event).add(cb);
  }
  off(event, cb) {
    if (!event) this.handlers.clear();
    else if (!cb) this.handlers.delete(event);
    else this.handlers.get(event)?.delete(cb);
  }
  send() {}
  emit(msg) { for (const cb of [...(this.handlers.get("msg:custom") ?? [])]) cb(msg, []); }
}

function turnInfo(status, length) {
  return { index: 0, query: "Write it all out.", model: "bench:model", status, tokens_in: null,
    tokens_out: null, cost: null, ttft_s: null, elapsed_s: null, error: null,
    text_length: length, reasoning_length: 0 };
}

function tabs(status, length) {
  return [{ id: "t1", title: "bench", model: "bench:model", status, max_history: null,
    turns: [turnInfo(status, length)] }];
}

function mount() {
  const host = document.getElementById("host");
  host.replaceChildren();
  const model = new FakeModel({ tabs: tabs("streaming", 0), providers: [], default_model: "",
    compact: true, tab: "t1", turn: 0 });
  const widget = createPanelWidget();
  const stopModel = widget.initialize({ model });
  const el = document.createElement("div");
  host.append(el);
  const stopView = widget.render({ model, el });
  return { model, el, stop: () => { stopView(); stopModel(); host.replaceChildren(); } };
}

const nextFrame = () => new Promise((resolve) => requestAnimationFrame(resolve));
const codePoints = (s) => { let n = 0; for (const _ of s) n++; return n; };

/** Run `deliver` as the update of the next frame; the frame's script and layout time. */
async function timedFrame(deliver, el) {
  await nextFrame();
  let t0 = 0, t1 = 0, t2 = 0;
  requestAnimationFrame(() => { t0 = performance.now(); });
  deliver();  // the panel schedules its render here: between the two callbacks
  requestAnimationFrame(() => {
    t1 = performance.now();
    el.getBoundingClientRect();
    document.body.offsetHeight;
    t2 = performance.now();
  });
  await nextFrame();
  return { script: t1 - t0, layout: t2 - t1 };
}

function referenceHtml(text) {
  const div = document.createElement("div");
  div.append(renderMarkdown(text));
  return div.innerHTML;
}

window.bench = {
  async stream(pieces) {
    const loaf = [];
    const observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) loaf.push(e.duration);
    });
    let loafSupported = true;
    try { observer.observe({ type: "long-animation-frame", buffered: false }); }
    catch { loafSupported = false; }
    const { model, el, stop } = mount();
    await nextFrame();
    const frames = [];
    let offset = 0;
    let text = "";
    for (const piece of pieces) {
      const at = offset;
      frames.push(await timedFrame(() => model.emit({ type: "deltas",
        items: [{ tab: "t1", turn: 0, channel: "text", offset: at, text: piece }] }), el));
      offset += codePoints(piece);
      text += piece;
    }
    const settle = await timedFrame(() => {
      model.emit({ type: "status", tab: "t1", turn: 0, status: "done" });
      model.set("tabs", tabs("done", offset));
    }, el);
    await nextFrame();
    await new Promise((resolve) => setTimeout(resolve, 100));
    observer.disconnect();
    const answer = el.querySelector("[data-testid=answer]");
    const exact = answer.innerHTML === referenceHtml(text);
    const length = Number(answer.getAttribute("data-length"));
    stop();
    return { frames, settle, loaf, loafSupported, exact, length, expectedLength: offset };
  },

  /** `times` x renderMarkdown(text) into a fresh panel's answer element, then layout. */
  async fullRenders(text, times) {
    const out = [];
    for (let i = 0; i < times; i++) {
      const { el, stop } = mount();
      await nextFrame();
      const answer = el.querySelector("[data-testid=answer]");
      const timing = await new Promise((resolve) => requestAnimationFrame(() => {
        const t0 = performance.now();
        answer.replaceChildren(renderMarkdown(text));
        const t1 = performance.now();
        el.getBoundingClientRect();
        document.body.offsetHeight;
        resolve({ script: t1 - t0, layout: performance.now() - t1 });
      }));
      out.push(timing);
      await nextFrame();
      stop();
    }
    return out;
  },

  /**
   * The browser's floor for one update: the final text rendered whole into a
   * fresh panel, then one frame per piece that only appends the piece as a text
   * node to the answer's last element (no Markdown work at all), timed as a
   * streamed update is. The text added is taken out again every 2,000
   * characters, so the block it grows stays the size of a real one.
   */
  async floor(text, pieces) {
    const { el, stop } = mount();
    await nextFrame();
    const answer = el.querySelector("[data-testid=answer]");
    answer.replaceChildren(renderMarkdown(text));
    let last = answer;
    while (last.lastElementChild) last = last.lastElementChild;
    await nextFrame();
    const frames = [];
    let added = [];
    let length = 0;
    const append = (piece) => {
      if (length >= 2000) {
        for (const node of added) node.remove();
        added = [];
        length = 0;
      }
      added.push(last.appendChild(document.createTextNode(piece)));
      length += piece.length;
    };
    for (const piece of pieces) {
      frames.push(await timedFrame(() => requestAnimationFrame(() => append(piece)), el));
    }
    stop();
    return frames;
  },
};
window.benchReady = true;
</script></body></html>
"""

LANG_SNIPPETS = {
    "python": [
        "def {name}(rows: list[dict[str, float]], *, limit: int = {n}) -> dict[str, float]:",
        '    """Sum each column of `rows`, stopping after `limit` rows."""',
        "    totals: dict[str, float] = {{}}",
        "    for i, row in enumerate(rows):",
        "        if i >= limit:",
        "            break",
        "        for key, value in row.items():",
        "            totals[key] = totals.get(key, 0.0) + value  # running sum",
        "    return totals",
        "",
        "",
        "class {cls}Cache:",
        "    def __init__(self, size: int = {n}) -> None:",
        "        self._items: dict[str, bytes] = {{}}",
        "        self.size = size",
        "",
        "    def get(self, key: str) -> bytes | None:",
        '        return self._items.get(key) or None  # "miss" is None',
    ],
    "javascript": [
        "export async function {name}(url, {{ retries = {n}, signal }} = {{}}) {{",
        "  for (let attempt = 0; attempt <= retries; attempt++) {{",
        "    const response = await fetch(url, {{ signal, headers: "
        "{{ Accept: 'application/json' }} }});",
        "    if (response.ok) return response.json();",
        "    if (response.status < 500) throw new Error(`HTTP ${{response.status}}`);",
        "    await new Promise((r) => setTimeout(r, 2 ** attempt * 100)); // back off",
        "  }}",
        "  throw new Error('gave up after ' + retries + ' retries');",
        "}}",
        "",
        "const {cls}Store = new Map();",
        "{cls}Store.set('answer', {{ id: {n}, tags: ['a', 'b'], ok: true }});",
    ],
    "typescript": [
        "interface {cls}Options {{",
        "  limit: number;",
        "  label?: string;",
        "}}",
        "",
        "export function {name}<T extends {{ id: number }}>"
        "(items: T[], opts: {cls}Options): T[] {{",
        "  const seen = new Set<number>();",
        "  return items.filter((item) => !seen.has(item.id) && seen.add(item.id))"
        ".slice(0, opts.limit);",
        "}}",
    ],
    "bash": [
        "#!/usr/bin/env bash",
        "set -euo pipefail",
        "for f in data/{name}_*.csv; do",
        '  echo "processing $f"',
        '  gzip -k "$f" && mv "$f.gz" archive/  # keep the original',
        "done",
        "curl -sS -X POST https://example.com/api/{name} "
        "-H 'Content-Type: application/json' -d '{{\"n\": {n}}}'",
    ],
    "sql": [
        "SELECT c.id, c.name, SUM(o.total) AS spent, COUNT(*) AS orders",
        "FROM customers AS c",
        "JOIN orders AS o ON o.customer_id = c.id",
        "WHERE o.created_at >= DATE '2024-01-01' AND o.status <> 'cancelled'",
        "GROUP BY c.id, c.name",
        "HAVING SUM(o.total) > {n}",
        "ORDER BY spent DESC",
        "LIMIT 20; -- top {cls} customers",
    ],
    "json": [
        "{{",
        '  "name": "{name}",',
        '  "version": "1.{n}.0",',
        '  "dependencies": {{ "httpx": ">=0.27", "anywidget": "^0.9" }},',
        '  "flags": [true, false, null],',
        '  "limits": {{ "rows": {n}, "ratio": 0.75 }}',
        "}}",
    ],
}


def make_answer(size: int) -> str:
    """A deterministic code-dense Markdown answer of about `size` characters."""
    langs = list(LANG_SNIPPETS)
    parts: list[str] = []
    total = 0
    i = 0
    while total < size:
        lang = langs[i % len(langs)]
        name = f"step_{i}"
        cls = f"Part{i}"
        n = 10 + i
        code_lines = [
            line.format(name=name, cls=cls, n=n) for line in LANG_SNIPPETS[lang] * (1 + i % 2)
        ]
        section = [
            f"## {i + 1}. `{name}` in {lang}",
            "",
            f"Here is how **{name}** works: it reads `rows`, keeps at most `limit={n}` of them "
            f"and returns a `dict`. See [the docs](https://example.com/docs/{name}) for the "
            f"details, and note that `{cls}Cache` is *not* thread-safe.",
            "",
            f"```{lang}",
            *code_lines,
            "```",
            "",
        ]
        if i % 3 == 0:
            section += [
                "Things to check:",
                "",
                f"- the input has a `{name}` column",
                f"- `limit` is at least {n} (`assert limit >= {n}`)",
                "- errors are raised, not printed",
                "",
            ]
        if i % 4 == 1:
            section += [
                "| option | default | meaning |",
                "| --- | ---: | --- |",
                f"| `limit` | {n} | rows read |",
                "| `label` | `None` | shown in the log |",
                "",
            ]
        block = "\n".join(section) + "\n"
        parts.append(block)
        total += len(block)
        i += 1
    return "".join(parts)[:size]


def pieces_of(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@contextmanager
def serve(bundles: dict[str, Path]) -> Iterator[str]:
    """A loopback HTTP server for the page and each bundle (its chat.js and chat.css)."""
    with tempfile.TemporaryDirectory(prefix="panel-bench-") as tmp:
        root = Path(tmp)
        (root / "index.html").write_text(PAGE, encoding="utf-8")
        for name, js in bundles.items():
            (root / name).mkdir()
            shutil.copy(js, root / name / "chat.js")
            css = js.with_name("chat.css")
            if css.exists():
                shutil.copy(css, root / name / "chat.css")
            else:
                (root / name / "chat.css").write_text("", encoding="utf-8")
        handler = functools.partial(QuietHandler, directory=str(root))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
    }

    def log_message(self, format: str, *args: Any) -> None:
        pass


def summarize(run: dict[str, Any], full_ms: float) -> dict[str, Any]:
    frames = [f["script"] + f["layout"] for f in run["frames"]]
    settle = run["settle"]["script"] + run["settle"]["layout"]
    every = [*frames, settle]
    total = sum(every)
    script = sum(f["script"] for f in run["frames"]) + run["settle"]["script"]
    return {
        "updates": len(frames),
        "total_ms": round(total, 1),
        "script_ms": round(script, 1),
        "layout_ms": round(total - script, 1),
        "total_x_full_render": round(total / full_ms, 2),
        "longest_frame_ms": round(max(every), 1),
        "p50_frame_ms": round(statistics.median(every), 2),
        "p95_frame_ms": round(sorted(every)[int(0.95 * (len(every) - 1))], 2),
        "last_frame_ms": round(frames[-1], 2),
        "settle_frame_ms": round(settle, 2),
        "frames_over_50ms": sum(1 for f in every if f > FRAME_TARGET_MS),
        "long_animation_frames": len(run["loaf"]) if run["loafSupported"] else None,
        "longest_animation_frame_ms": round(max(run["loaf"], default=0.0), 1),
        "exact": run["exact"],
        "length_ok": run["length"] == run["expectedLength"],
    }


def chromium_version() -> str:
    try:
        out = subprocess.run(
            [str(CHROMIUM), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
        return out.stdout.strip()
    except OSError:
        return "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=BUNDLE, help="chat.js to measure")
    parser.add_argument("--compare", type=Path, help="a second chat.js (e.g. before a change)")
    parser.add_argument("--size", type=int, default=50_000, help="answer characters")
    parser.add_argument("--chars-per-update", type=int, default=20, help="characters a message")
    parser.add_argument("--rounds", type=int, default=1, help="streams per bundle (best total)")
    parser.add_argument("--full-renders", type=int, default=7, help="reference renders (median)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--strict", action="store_true", help="exit 1 on a MISS")
    args = parser.parse_args()

    if not CHROMIUM.exists():
        print(f"{CHROMIUM} not found: apt-get install -y chromium", file=sys.stderr)
        return 2
    bundles = {"measured": args.bundle.resolve()}
    if args.compare:
        bundles["compare"] = args.compare.resolve()
    for path in bundles.values():
        if not path.exists():
            print(f"{path} not found (cd js && npm run build)", file=sys.stderr)
            return 2

    from playwright.sync_api import sync_playwright

    text = make_answer(args.size)
    pieces = pieces_of(text, args.chars_per_update)
    in_fences = sum(len(b) for b in text.split("```")[1::2])
    print(
        f"answer: {len(text):,} characters ({in_fences / len(text):.0%} inside code fences), "
        f"{len(pieces):,} updates of {args.chars_per_update} characters"
    )
    results: dict[str, Any] = {
        "chromium": chromium_version(),
        "platform": platform.platform(),
        "size": len(text),
        "chars_per_update": args.chars_per_update,
        "updates": len(pieces),
        "bundles": {name: str(path) for name, path in bundles.items()},
    }
    full: dict[str, list[dict[str, float]]] = {name: [] for name in bundles}
    floor: list[dict[str, float]] = []
    streams: dict[str, list[dict[str, Any]]] = {name: [] for name in bundles}
    with serve(bundles) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            order = list(bundles)
            for round_no in range(args.rounds):
                for name in order if round_no % 2 == 0 else order[::-1]:
                    page = browser.new_page(viewport={"width": 1280, "height": 900})
                    page.goto(f"{base}/index.html?bundle={name}")
                    page.wait_for_function("window.benchReady === true", timeout=30_000)
                    print(f"  streaming into {name} (round {round_no + 1})…", flush=True)
                    streams[name].append(page.evaluate("(p) => window.bench.stream(p)", pieces))
                    full[name] += page.evaluate(
                        "([t, n]) => window.bench.fullRenders(t, n)", [text, args.full_renders]
                    )
                    if name == "measured" and round_no == 0:
                        floor = page.evaluate(
                            "([t, p]) => window.bench.floor(t, p)", [text, pieces[:FLOOR_FRAMES]]
                        )
                    page.close()
        finally:
            browser.close()

    failed = False
    for name in bundles:
        renders = [r["script"] + r["layout"] for r in full[name]]
        full_ms = statistics.median(renders)
        best = min(streams[name], key=lambda r: sum(f["script"] + f["layout"] for f in r["frames"]))
        figures = summarize(best, full_ms)
        figures["full_render_ms_median"] = round(full_ms, 1)
        figures["full_render_ms_best"] = round(min(renders), 1)
        figures["full_render_script_ms_median"] = round(
            statistics.median(r["script"] for r in full[name]), 1
        )
        floor_ms = statistics.median(f["script"] + f["layout"] for f in floor)
        figures["floor_frame_ms"] = round(floor_ms, 2)
        figures["floor_x_full_render"] = round(floor_ms * figures["updates"] / full_ms, 1)
        results[name] = figures
        if not (figures["exact"] and figures["length_ok"]):
            print(f"{name}: the settled answer differs from a full render", file=sys.stderr)
            failed = True

    print()
    names = list(bundles)
    header = "| | " + " | ".join(names) + " |"
    print(header)
    print("| --- |" + " ---: |" * len(names))
    rows = [
        (
            "one full render of the final text, median (script + layout)",
            "full_render_ms_median",
            " ms",
        ),
        ("  of which script (renderMarkdown)", "full_render_script_ms_median", " ms"),
        ("updates", "updates", ""),
        ("stream total, script + layout", "total_ms", " ms"),
        ("  script", "script_ms", " ms"),
        ("  style + layout", "layout_ms", " ms"),
        ("total / one full render (target ≤ 3x)", "total_x_full_render", "x"),
        ("longest frame (target ≤ 50 ms)", "longest_frame_ms", " ms"),
        ("median frame", "p50_frame_ms", " ms"),
        ("p95 frame", "p95_frame_ms", " ms"),
        ("last update's frame", "last_frame_ms", " ms"),
        ("settle frame", "settle_frame_ms", " ms"),
        ("frames over 50 ms", "frames_over_50ms", ""),
        ("chromium long animation frames (> 50 ms, paint included)", "long_animation_frames", ""),
        ("  longest", "longest_animation_frame_ms", " ms"),
        ("browser floor: a frame appending one text node, median", "floor_frame_ms", " ms"),
        ("  x updates / one full render", "floor_x_full_render", "x"),
        ("settled DOM equals a full render", "exact", ""),
    ]
    for label, key, unit in rows:
        cells = []
        for name in names:
            value = results[name][key]
            cells.append(
                f"{value:,}{unit}"
                if isinstance(value, int | float) and not isinstance(value, bool)
                else str(value)
            )
        print(f"| {label} | " + " | ".join(cells) + " |")

    measured = results["measured"]
    total_ok = measured["total_x_full_render"] <= TOTAL_TARGET
    frame_ok = measured["longest_frame_ms"] <= FRAME_TARGET_MS
    print()
    print(
        f"total ≤ {TOTAL_TARGET:g}x one full render: {'PASS' if total_ok else 'MISS'} "
        f"{measured['total_x_full_render']}x"
    )
    print(
        f"no frame over {FRAME_TARGET_MS:g} ms: {'PASS' if frame_ok else 'MISS'} "
        f"longest {measured['longest_frame_ms']} ms"
    )
    if "compare" in results:
        before, after = results["compare"], measured
        print(f"stream total, compare / measured: {before['total_ms'] / after['total_ms']:.1f}x")
    results["targets"] = {"total": total_ok, "frame": frame_ok}
    if args.json:
        write_results(args.json, "bench_panel_render", results)
    if failed:
        return 1
    if args.strict and not (total_ok and frame_ok):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
