import { describe, expect, it, vi } from "vitest";
import { codePointLength, codeUnitIndex, DeltaStore, type Channel, type DeltaResult } from "../src/index.js";
import type { DeltaItem } from "../src/protocol.js";

function delta(
  offset: number,
  text: string,
  opts: { tab?: string; turn?: number; channel?: Channel } = {},
): DeltaItem {
  return {
    tab: opts.tab ?? "t1",
    turn: opts.turn ?? 0,
    channel: opts.channel ?? "text",
    offset,
    text,
  };
}

function snapshot(text: string, opts: { tab?: string; turn?: number; status?: string; reasoning?: string } = {}) {
  return {
    type: "snapshot" as const,
    tab: opts.tab ?? "t1",
    turn: opts.turn ?? 0,
    status: opts.status ?? "streaming",
    text,
    reasoning: opts.reasoning ?? "",
  };
}

/** Python's s[start:end] on code points. */
function cpSlice(s: string, start: number, end?: number): string {
  return Array.from(s).slice(start, end).join("");
}

describe("code point helpers", () => {
  it("count code points like Python len", () => {
    expect(codePointLength("")).toBe(0);
    expect(codePointLength("abc")).toBe(3);
    expect(codePointLength("🦅")).toBe(1);
    expect("🦅".length).toBe(2);
    expect(codePointLength("e\u0301")).toBe(2); // e + combining acute
    expect(codePointLength("👨‍👩‍👧")).toBe(5); // ZWJ sequence: 3 emoji + 2 ZWJ
    expect(codePointLength("漢字かな")).toBe(4);
    expect(codePointLength("𝔘𝔫𝔦")).toBe(3);
    expect(codePointLength("🇫🇷")).toBe(2); // two regional indicators
  });

  it("count a lone surrogate as one code point", () => {
    expect(codePointLength("a\ud83db")).toBe(3);
    expect(codePointLength("a\udc85b")).toBe(3);
    expect(codePointLength("\ud83d")).toBe(1);
    expect(codePointLength("\udc85\ud83d")).toBe(2);
  });

  it("agree with Array.from on random strings", () => {
    const rnd = mulberry32(7);
    for (let i = 0; i < 300; i++) {
      const s = randomText(rnd, Math.floor(rnd() * 40), true);
      const cps = Array.from(s);
      expect(codePointLength(s)).toBe(cps.length);
      for (let k = 0; k <= cps.length + 1; k++) {
        expect(s.slice(codeUnitIndex(s, k))).toBe(cps.slice(k).join(""));
      }
    }
  });
});

describe("DeltaStore basics", () => {
  it("returns an empty idle view for an unknown tab", () => {
    const store = new DeltaStore();
    expect(store.get("nope")).toEqual({ turn: -1, status: "idle", text: "", reasoning: "" });
    expect(store.length("nope")).toBe(0);
  });

  it("applies contiguous deltas after a snapshot", () => {
    const store = new DeltaStore();
    store.applySnapshot(snapshot("Hello"));
    expect(store.applyDelta(delta(5, ", "))).toBe("applied");
    expect(store.applyDelta(delta(7, "world"))).toBe("applied");
    expect(store.get("t1")).toEqual({ turn: 0, status: "streaming", text: "Hello, world", reasoning: "" });
  });

  it("ignores duplicates", () => {
    const store = new DeltaStore();
    store.applySnapshot(snapshot("Hello, world"));
    expect(store.applyDelta(delta(0, "Hello"))).toBe("duplicate");
    expect(store.applyDelta(delta(7, "world"))).toBe("duplicate");
    expect(store.applyDelta(delta(3, "lo"))).toBe("duplicate");
    expect(store.applyDelta(delta(12, ""))).toBe("duplicate");
    expect(store.applyDelta(delta(4, ""))).toBe("duplicate");
    expect(store.get("t1").text).toBe("Hello, world");
  });

  it("appends only the new part of an overlap", () => {
    const store = new DeltaStore();
    store.applySnapshot(snapshot("Hello, wo"));
    expect(store.applyDelta(delta(7, "world!"))).toBe("overlap");
    expect(store.get("t1").text).toBe("Hello, world!");
    expect(store.length("t1")).toBe(13);
    expect(store.applyDelta(delta(0, "Hello, world! Bye"))).toBe("overlap");
    expect(store.get("t1").text).toBe("Hello, world! Bye");
  });

  it("reports a gap, applies nothing and asks for a resync once until a snapshot", () => {
    const onResync = vi.fn();
    const store = new DeltaStore({ onResync });
    store.applySnapshot(snapshot("abc"));
    expect(store.applyDelta(delta(5, "fg"))).toBe("gap");
    expect(store.get("t1").text).toBe("abc");
    expect(onResync).toHaveBeenCalledTimes(1);
    expect(onResync).toHaveBeenCalledWith("t1");
    expect(store.isResyncPending("t1")).toBe(true);

    // Another gap while the snapshot is on its way does not ask again.
    expect(store.applyDelta(delta(7, "hi"))).toBe("gap");
    expect(onResync).toHaveBeenCalledTimes(1);

    // Contiguous deltas still apply meanwhile.
    expect(store.applyDelta(delta(3, "d"))).toBe("applied");

    store.applySnapshot(snapshot("abcdefghi"));
    expect(store.isResyncPending("t1")).toBe(false);
    expect(store.get("t1").text).toBe("abcdefghi");
    expect(store.applyDelta(delta(7, "hij"))).toBe("overlap");
    expect(store.get("t1").text).toBe("abcdefghij");

    // After the snapshot a new gap asks again.
    expect(store.applyDelta(delta(20, "x"))).toBe("gap");
    expect(onResync).toHaveBeenCalledTimes(2);
  });

  it("requestResync on mount suppresses duplicate requests from early gaps", () => {
    const onResync = vi.fn();
    const store = new DeltaStore({ onResync });
    expect(store.requestResync("t1")).toBe(true);
    expect(store.requestResync("t1")).toBe(false);
    // Deltas subscribed before the snapshot was taken arrive first.
    expect(store.applyDelta(delta(4, "more", { turn: 2 }))).toBe("gap");
    expect(onResync).toHaveBeenCalledTimes(1);
    store.applySnapshot(snapshot("somemore", { turn: 2 }));
    expect(store.get("t1").text).toBe("somemore");
    // The snapshot answered the request: the next one is sent.
    expect(store.requestResync("t1")).toBe(true);
    expect(onResync).toHaveBeenCalledTimes(2);
  });

  it("restores the exact text with a snapshot after a gap", () => {
    const full = "Na\u0308ive 🦅 façade — 漢字 👩🏽‍💻 e\u0301 𝔘";
    const requests: string[] = [];
    const store = new DeltaStore({ onResync: (tab) => requests.push(tab) });
    store.applySnapshot(snapshot(cpSlice(full, 0, 5)));
    expect(store.applyDelta(delta(9, cpSlice(full, 9, 14)))).toBe("gap");
    expect(requests).toEqual(["t1"]);
    store.applySnapshot(snapshot(cpSlice(full, 0, 14)));
    expect(store.applyDelta(delta(12, cpSlice(full, 12)))).toBe("overlap");
    expect(store.get("t1").text).toBe(full);
    expect(store.length("t1")).toBe(Array.from(full).length);
  });

  it("keeps text and reasoning apart", () => {
    const store = new DeltaStore();
    store.applySnapshot(snapshot("", { reasoning: "Think" }));
    expect(store.applyDelta(delta(5, "ing…", { channel: "reasoning" }))).toBe("applied");
    expect(store.applyDelta(delta(0, "Answer"))).toBe("applied");
    expect(store.applyDelta(delta(5, "ing… hard", { channel: "reasoning" }))).toBe("overlap");
    expect(store.applyDelta(delta(3, "wer!"))).toBe("overlap");
    expect(store.get("t1")).toEqual({
      turn: 0,
      status: "streaming",
      text: "Answer!",
      reasoning: "Thinking… hard",
    });
    expect(store.length("t1", "reasoning")).toBe(14);
    expect(store.length("t1", "text")).toBe(7);
  });
});

describe("multi-byte characters at offsets", () => {
  it("counts astral emoji as one character", () => {
    const store = new DeltaStore();
    expect(store.applyDelta(delta(0, "🦅🦅"))).toBe("applied");
    expect(store.length("t1")).toBe(2);
    expect(store.applyDelta(delta(2, "!"))).toBe("applied"); // JS length would be 4
    expect(store.applyDelta(delta(1, "🦅!?"))).toBe("overlap");
    expect(store.get("t1").text).toBe("🦅🦅!?");
    expect(store.applyDelta(delta(4, "x"))).toBe("applied");
    expect(store.applyDelta(delta(6, "y"))).toBe("gap");
    expect(store.get("t1").text).toBe("🦅🦅!?x");
  });

  it("slices overlaps on code points, never splitting a surrogate pair", () => {
    const store = new DeltaStore();
    store.applySnapshot(snapshot("a🦅b"));
    expect(store.applyDelta(delta(1, "🦅b😀c"))).toBe("overlap");
    expect(store.get("t1").text).toBe("a🦅b😀c");
    expect(store.applyDelta(delta(3, "😀c"))).toBe("duplicate");
    expect(store.applyDelta(delta(4, "c𝔘"))).toBe("overlap");
    expect(store.get("t1").text).toBe("a🦅b😀c𝔘");
    expect(store.get("t1").text).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
  });

  it("handles CJK and combining accents", () => {
    const store = new DeltaStore();
    store.applyDelta(delta(0, "漢字"));
    expect(store.applyDelta(delta(1, "字かな"))).toBe("overlap");
    // "e" + U+0301 is two code points: the accent alone sits at offset 4.
    expect(store.applyDelta(delta(4, "e\u0301"))).toBe("applied");
    expect(store.applyDelta(delta(5, "\u0301 ok"))).toBe("overlap");
    expect(store.get("t1").text).toBe("漢字かなe\u0301 ok");
    expect(store.length("t1")).toBe(9);
  });

  it("treats a ZWJ sequence as its code points", () => {
    const family = "👨‍👩‍👧"; // 5 code points
    const store = new DeltaStore();
    store.applyDelta(delta(0, "👨‍"));
    expect(store.applyDelta(delta(2, "👩‍👧"))).toBe("applied");
    expect(store.get("t1").text).toBe(family);
    expect(store.applyDelta(delta(3, "‍👧 hi"))).toBe("overlap");
    expect(store.get("t1").text).toBe(family + " hi");
  });

  it("counts snapshot lengths in code points", () => {
    const store = new DeltaStore();
    store.applySnapshot(snapshot("🦅漢e\u0301", { reasoning: "😀😀" }));
    expect(store.length("t1")).toBe(4);
    expect(store.length("t1", "reasoning")).toBe(2);
    expect(store.applyDelta(delta(4, "!"))).toBe("applied");
    expect(store.applyDelta(delta(2, "😀?", { channel: "reasoning" }))).toBe("applied");
    expect(store.get("t1")).toMatchObject({ text: "🦅漢e\u0301!", reasoning: "😀😀😀?" });
  });
});

describe("turns and statuses", () => {
  it("starts a new turn afresh at offset 0", () => {
    const store = new DeltaStore();
    store.applySnapshot(snapshot("old answer", { turn: 1, status: "done", reasoning: "old thoughts" }));
    expect(store.applyDelta(delta(0, "New", { turn: 2 }))).toBe("applied");
    expect(store.get("t1")).toEqual({ turn: 2, status: "streaming", text: "New", reasoning: "" });
    expect(store.applyDelta(delta(3, " one", { turn: 2 }))).toBe("applied");
    expect(store.get("t1").text).toBe("New one");
  });

  it("starts a new turn even from an empty piece", () => {
    const store = new DeltaStore();
    store.applySnapshot(snapshot("old", { turn: 0, status: "done" }));
    expect(store.applyDelta(delta(0, "", { turn: 1, channel: "reasoning" }))).toBe("applied");
    expect(store.get("t1")).toEqual({ turn: 1, status: "streaming", text: "", reasoning: "" });
  });

  it("treats a new-turn delta at offset > 0 as a gap and keeps the old state", () => {
    const onResync = vi.fn();
    const store = new DeltaStore({ onResync });
    store.applySnapshot(snapshot("old", { turn: 1, status: "done" }));
    expect(store.applyDelta(delta(3, "tail", { turn: 2 }))).toBe("gap");
    expect(onResync).toHaveBeenCalledOnce();
    expect(store.get("t1")).toEqual({ turn: 1, status: "done", text: "old", reasoning: "" });
    store.applySnapshot(snapshot("headtail", { turn: 2 }));
    expect(store.get("t1")).toMatchObject({ turn: 2, text: "headtail" });
  });

  it("ignores deltas and statuses for an old turn", () => {
    const onResync = vi.fn();
    const store = new DeltaStore({ onResync });
    store.applySnapshot(snapshot("current", { turn: 3 }));
    expect(store.applyDelta(delta(0, "stale", { turn: 2 }))).toBe("stale");
    expect(store.applyDelta(delta(99, "stale", { turn: 2 }))).toBe("stale");
    expect(store.applyStatus({ type: "status", tab: "t1", turn: 2, status: "done" })).toBe("stale");
    expect(onResync).not.toHaveBeenCalled();
    expect(store.get("t1")).toEqual({ turn: 3, status: "streaming", text: "current", reasoning: "" });
  });

  it("applies statuses for the current turn and starts a newer turn from a status", () => {
    const store = new DeltaStore();
    store.applySnapshot(snapshot("answer", { turn: 0 }));
    expect(store.applyStatus({ type: "status", tab: "t1", turn: 0, status: "done" })).toBe("applied");
    expect(store.get("t1")).toMatchObject({ turn: 0, status: "done", text: "answer" });
    expect(store.applyStatus({ type: "status", tab: "t1", turn: 1, status: "streaming" })).toBe("applied");
    expect(store.get("t1")).toEqual({ turn: 1, status: "streaming", text: "", reasoning: "" });
    expect(store.applyDelta(delta(0, "next", { turn: 1 }))).toBe("applied");
    expect(store.applyStatus({ type: "status", tab: "t1", turn: 1, status: "error" })).toBe("applied");
    expect(store.get("t1")).toEqual({ turn: 1, status: "error", text: "next", reasoning: "" });
  });

  it("lets a snapshot replace state, even for an older turn", () => {
    const store = new DeltaStore();
    store.applyDelta(delta(0, "turn five", { turn: 5 }));
    store.applySnapshot(snapshot("", { turn: -1, status: "idle" }));
    expect(store.get("t1")).toEqual({ turn: -1, status: "idle", text: "", reasoning: "" });
  });
});

describe("several tabs", () => {
  it("keeps tabs independent", () => {
    const resyncs: string[] = [];
    const store = new DeltaStore({ onResync: (t) => resyncs.push(t) });
    store.applySnapshot(snapshot("A:", { tab: "a", turn: 0 }));
    store.applySnapshot(snapshot("B🦅", { tab: "b", turn: 4, status: "done" }));
    expect(store.applyDelta(delta(2, "one", { tab: "a" }))).toBe("applied");
    expect(store.applyDelta(delta(0, "fresh", { tab: "b", turn: 5 }))).toBe("applied");
    expect(store.applyDelta(delta(0, "c!", { tab: "c", turn: 0 }))).toBe("applied");
    expect(store.applyDelta(delta(9, "x", { tab: "a" }))).toBe("gap");
    expect(store.applyDelta(delta(5, "!", { tab: "b", turn: 5 }))).toBe("applied");
    expect(store.applyDelta(delta(3, "y", { tab: "c", turn: 0 }))).toBe("gap");
    expect(store.applyDelta(delta(0, "old", { tab: "b", turn: 4 }))).toBe("stale");
    expect(resyncs).toEqual(["a", "c"]);

    expect(store.get("a")).toEqual({ turn: 0, status: "streaming", text: "A:one", reasoning: "" });
    expect(store.get("b")).toEqual({ turn: 5, status: "streaming", text: "fresh!", reasoning: "" });
    expect(store.get("c")).toEqual({ turn: 0, status: "streaming", text: "c!", reasoning: "" });

    store.applySnapshot(snapshot("A:one two", { tab: "a" }));
    expect(store.isResyncPending("a")).toBe(false);
    expect(store.isResyncPending("c")).toBe(true);
    store.delete("c");
    expect(store.isResyncPending("c")).toBe(false);
    expect(store.get("c")).toEqual({ turn: -1, status: "idle", text: "", reasoning: "" });
    expect(store.turn("c", 0)).toBeNull();
    expect(store.get("a").text).toBe("A:one two");
  });

  it("keeps every turn's text by (tab, turn) when newer turns start", () => {
    const store = new DeltaStore();
    store.applySnapshot({
      ...snapshot("two so far", { tab: "a", turn: 2, reasoning: "r2" }),
      past: [
        { index: 0, text: "zero🦅", reasoning: "r0" },
        { index: 1, text: "one", reasoning: "" },
      ],
    });
    expect(store.turn("a", 0)).toEqual({ status: "done", text: "zero🦅", reasoning: "r0", length: 5 });
    expect(store.turn("a", 2)).toMatchObject({ status: "streaming", text: "two so far", reasoning: "r2" });
    expect(store.applyDelta(delta(10, "!", { tab: "a", turn: 2 }))).toBe("applied");
    expect(store.applyStatus({ type: "status", tab: "a", turn: 2, status: "done" })).toBe("applied");
    expect(store.applyDelta(delta(0, "three", { tab: "a", turn: 3 }))).toBe("applied");
    expect(store.applyDelta(delta(0, "other tab", { tab: "b", turn: 2 }))).toBe("applied");
    expect(store.turn("a", 2)).toEqual({ status: "done", text: "two so far!", reasoning: "r2", length: 11 });
    expect(store.turn("a", 3)).toMatchObject({ status: "streaming", text: "three" });
    expect(store.turn("a", 1)?.text).toBe("one");
    expect(store.turn("b", 2)?.text).toBe("other tab");
    expect(store.turn("b", 1)).toBeNull();
    expect(store.get("a")).toEqual({ turn: 3, status: "streaming", text: "three", reasoning: "" });
    // A snapshot replaces every turn of its tab.
    store.applySnapshot(snapshot("fresh", { tab: "a", turn: 3 }));
    expect(store.turn("a", 0)).toBeNull();
    expect(store.turn("a", 3)?.text).toBe("fresh");
  });
});

// ---------------------------------------------------------------- randomized

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

const ALPHABET = [
  "a", "b", " ", "\n", "é", "ß", "—", "漢", "字", "か", "\u0301", "\u0308",
  "🦅", "😀", "👩🏽‍💻", "👨‍👩‍👧", "🇫🇷", "𝔘", "\u{10FFFF}", "\u200d", "€",
];

function randomText(rnd: () => number, n: number, loneSurrogates = false): string {
  let s = "";
  for (let i = 0; i < n; i++) {
    if (loneSurrogates && rnd() < 0.05) {
      s += rnd() < 0.5 ? "\ud83d" : "\udc85";
    } else {
      s += ALPHABET[Math.floor(rnd() * ALPHABET.length)];
    }
  }
  return s;
}

interface Sent {
  channel: Channel;
  offset: number; // code points
  text: string;
  /** How far the kernel had got on each channel when it sent this. */
  progress: Record<Channel, number>;
}

/**
 * The kernel streams both channels in random pieces, interleaved. The wire
 * then re-sends some pieces (duplicates), widens some into overlaps, drops a
 * few, and delays some behind later ones (which makes gaps). The view applies
 * a fresh snapshot (the kernel's progress when asked) whenever a gap is
 * reported. At the end it must hold exactly the original texts.
 */
function simulate(seed: number): { counts: Record<DeltaResult, number>; snapshots: number } {
  const rnd = mulberry32(seed);
  const full: Record<Channel, string[]> = {
    text: Array.from(randomText(rnd, 20 + Math.floor(rnd() * 300))),
    reasoning: Array.from(randomText(rnd, Math.floor(rnd() * 120))),
  };
  const turn = Math.floor(rnd() * 3);

  // Kernel order: random pieces of both channels, interleaved.
  const sentAt: Record<Channel, number> = { text: 0, reasoning: 0 };
  const kernel: Sent[] = [];
  while (sentAt.text < full.text.length || sentAt.reasoning < full.reasoning.length) {
    const channel: Channel =
      sentAt.reasoning < full.reasoning.length && (sentAt.text >= full.text.length || rnd() < 0.4)
        ? "reasoning"
        : "text";
    const start = sentAt[channel];
    const end = Math.min(full[channel].length, start + 1 + Math.floor(rnd() * 8));
    sentAt[channel] = end;
    kernel.push({
      channel,
      offset: start,
      text: full[channel].slice(start, end).join(""),
      progress: { ...sentAt },
    });
  }

  // Wire: duplicates, overlaps, drops (never the last piece of a channel), delays.
  const lastOf: Record<Channel, Sent | undefined> = { text: undefined, reasoning: undefined };
  for (const m of kernel) lastOf[m.channel] = m;
  const wire: Sent[] = [];
  for (const m of kernel) {
    const r = rnd();
    if (r < 0.08 && m !== lastOf[m.channel]) continue; // dropped
    if (r < 0.2) {
      // widened back into what was already sent: an overlap
      const back = Math.floor(rnd() * (m.offset + 1));
      wire.push({ ...m, offset: m.offset - back, text: full[m.channel].slice(m.offset - back, m.offset).join("") + m.text });
    } else {
      wire.push(m);
    }
    if (rnd() < 0.15 && wire.length > 0) {
      // an earlier piece delivered again
      wire.push(wire[Math.floor(rnd() * wire.length)]!);
    }
  }
  // Delays: move some messages later, past others.
  for (let i = 0; i < wire.length; i++) {
    if (rnd() < 0.1) {
      const j = Math.min(wire.length - 1, i + 1 + Math.floor(rnd() * 4));
      const [m] = wire.splice(i, 1);
      wire.splice(j, 0, m!);
    }
  }

  const counts: Record<DeltaResult, number> = { applied: 0, duplicate: 0, overlap: 0, gap: 0, stale: 0 };
  let resyncRequested = 0;
  let snapshots = 0;
  const store = new DeltaStore({ onResync: () => resyncRequested++ });
  // A stale turn's leftovers must not disturb anything.
  store.applySnapshot({ type: "snapshot", tab: "other", turn: 0, status: "streaming", text: "🦅", reasoning: "" });

  const truth: Record<Channel, string> = { text: full.text.join(""), reasoning: full.reasoning.join("") };
  const seen: Record<Channel, number> = { text: 0, reasoning: 0 };
  for (const m of wire) {
    // The kernel is at least as far as anything delivered (or snapshotted) so far.
    seen.text = Math.max(seen.text, m.progress.text);
    seen.reasoning = Math.max(seen.reasoning, m.progress.reasoning);
    const result = store.applyDelta({ tab: "t", turn, channel: m.channel, offset: m.offset, text: m.text });
    counts[result]++;
    if (result === "gap") {
      expect(store.isResyncPending("t")).toBe(true);
      // The kernel may have moved on since: the snapshot can be ahead of the wire.
      for (const c of ["text", "reasoning"] as const) {
        seen[c] = Math.min(full[c].length, seen[c] + Math.floor(rnd() * 5));
      }
      const text = full.text.slice(0, seen.text).join("");
      const reasoning = full.reasoning.slice(0, seen.reasoning).join("");
      const before = store.get("t");
      if (before.turn === turn) {
        // A snapshot never knows less than the view: no regression.
        expect(text.startsWith(before.text)).toBe(true);
        expect(reasoning.startsWith(before.reasoning)).toBe(true);
      }
      store.applySnapshot({ type: "snapshot", tab: "t", turn, status: "streaming", text, reasoning });
      snapshots++;
    }
    // Old-turn leftovers are ignored whatever their offset.
    if (turn > 0 && store.get("t").turn === turn && rnd() < 0.05) {
      const stale = store.applyDelta({ tab: "t", turn: turn - 1, channel: "text", offset: m.offset, text: "X" });
      expect(stale).toBe("stale");
      counts[stale]++;
    }
    // Invariants: what the view holds is always a prefix of the truth, and its lengths are code points.
    // (Checked with plain comparisons first: expect() per step would dominate the run time.)
    const view = store.get("t");
    if (view.turn === turn) {
      for (const c of ["text", "reasoning"] as const) {
        const held = view[c];
        const ok =
          truth[c].startsWith(held) && store.length("t", c) === codePointLength(held) &&
          codePointLength(held) === Array.from(held).length;
        if (!ok) {
          expect(truth[c].startsWith(held)).toBe(true);
          expect(store.length("t", c)).toBe(Array.from(held).length);
        }
      }
    }
  }
  expect(resyncRequested).toBe(snapshots);
  const final = store.get("t");
  expect(final.turn).toBe(turn);
  expect(final.text).toBe(full.text.join(""));
  expect(final.reasoning).toBe(full.reasoning.join(""));
  expect(store.get("other").text).toBe("🦅");
  return { counts, snapshots };
}

describe("randomized delivery", () => {
  it("always ends with exactly the original text", () => {
    const total: Record<DeltaResult, number> = { applied: 0, duplicate: 0, overlap: 0, gap: 0, stale: 0 };
    let snapshots = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const r = simulate(seed);
      for (const k of Object.keys(total) as DeltaResult[]) total[k] += r.counts[k];
      snapshots += r.snapshots;
    }
    // The simulation really exercised every path.
    expect(total.applied).toBeGreaterThan(100);
    expect(total.duplicate).toBeGreaterThan(100);
    expect(total.overlap).toBeGreaterThan(100);
    expect(total.gap).toBeGreaterThan(50);
    expect(snapshots).toBe(total.gap);
    expect(total.stale).toBeGreaterThan(10);
  });
});
