/**
 * Client-side store of each tab's live answer, fed by kernel messages.
 *
 * The kernel sends text by *offset* into the turn's answer (or reasoning),
 * counting characters as Python does: Unicode code points, not the UTF-16
 * code units a JS string's `length` counts ("🦅" is 1 in Python, 2 in JS).
 * The view asks for a snapshot on mount, then applies deltas by offset:
 *
 * - a piece it already has entirely is ignored ("duplicate"),
 * - a piece that starts inside what it has appends only the new part ("overlap"),
 * - a piece that starts exactly at the end is appended ("applied"),
 * - a piece that starts beyond the end is a "gap": nothing is applied and a
 *   resync (fresh snapshot) is requested through `onResync`.
 *
 * A delta for a newer turn starts that turn afresh (an offset > 0 there is a
 * gap); deltas and statuses for an older turn are ignored ("stale"). A
 * snapshot replaces the tab's state.
 *
 * Per delta the work is O(piece): code-point lengths are tracked per channel,
 * never recounted from the whole text.
 */

export type Channel = "text" | "reasoning";
export type TabStatusName = "idle" | "streaming" | "done" | "stopped" | "error";

export interface DeltaMessage {
  type: "delta";
  tab: string;
  turn: number;
  channel: Channel;
  /** Offset in Unicode code points (Python `len`), not UTF-16 code units. */
  offset: number;
  text: string;
}

/** A batch of deltas, as the kernel-side coalescer sends them. */
export interface DeltasMessage {
  type: "deltas";
  items: Omit<DeltaMessage, "type">[];
}

export interface SnapshotMessage {
  type: "snapshot";
  tab: string;
  /** -1 when the tab has no turn yet. */
  turn: number;
  status: TabStatusName | string;
  text: string;
  reasoning: string;
}

export interface StatusMessage {
  type: "status";
  tab: string;
  turn: number;
  status: TabStatusName | string;
}

export type KernelMessage = DeltaMessage | DeltasMessage | SnapshotMessage | StatusMessage;

export type DeltaResult = "applied" | "duplicate" | "overlap" | "gap" | "stale";

export interface TabView {
  turn: number;
  status: string;
  text: string;
  reasoning: string;
}

export interface DeltaStoreOptions {
  /**
   * Called when the view should ask the kernel for a fresh snapshot of `tab`.
   * Called at most once per tab until a snapshot for that tab is applied.
   */
  onResync?: (tab: string) => void;
}

interface ChannelState {
  text: string;
  /** Length of `text` in code points. */
  length: number;
}

interface TabState {
  turn: number;
  status: string;
  text: ChannelState;
  reasoning: ChannelState;
}

const EMPTY_TURN = -1;

function isHigh(unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdbff;
}

function isLow(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

/** Number of Unicode code points in `s` (Python's `len`); a lone surrogate counts as one. */
export function codePointLength(s: string): number {
  let count = 0;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    if (isHigh(s.charCodeAt(i)) && i + 1 < n && isLow(s.charCodeAt(i + 1))) i++;
    count++;
  }
  return count;
}

/** UTF-16 index in `s` of its `cp`-th code point (`s.length` if `cp` is past the end). */
export function codeUnitIndex(s: string, cp: number): number {
  const n = s.length;
  let i = 0;
  for (let k = 0; k < cp && i < n; k++) {
    i += isHigh(s.charCodeAt(i)) && i + 1 < n && isLow(s.charCodeAt(i + 1)) ? 2 : 1;
  }
  return i;
}

function emptyChannel(): ChannelState {
  return { text: "", length: 0 };
}

function freshTab(turn: number, status: string): TabState {
  return { turn, status, text: emptyChannel(), reasoning: emptyChannel() };
}

export class DeltaStore {
  private readonly tabs = new Map<string, TabState>();
  private readonly pendingResync = new Set<string>();
  private readonly onResync: ((tab: string) => void) | undefined;

  constructor(options: DeltaStoreOptions = {}) {
    this.onResync = options.onResync;
  }

  /** Dispatch any kernel message; returns the delta results for delta messages. */
  apply(msg: KernelMessage): DeltaResult[] {
    switch (msg.type) {
      case "delta":
        return [this.applyDelta(msg)];
      case "deltas":
        return msg.items.map((item) => this.applyDelta({ type: "delta", ...item }));
      case "snapshot":
        this.applySnapshot(msg);
        return [];
      case "status":
        this.applyStatus(msg);
        return [];
    }
  }

  /** Replace the tab's state with the snapshot; clears a pending resync for it. */
  applySnapshot(msg: SnapshotMessage): void {
    this.tabs.set(msg.tab, {
      turn: msg.turn,
      status: msg.status,
      text: { text: msg.text, length: codePointLength(msg.text) },
      reasoning: { text: msg.reasoning, length: codePointLength(msg.reasoning) },
    });
    this.pendingResync.delete(msg.tab);
  }

  applyDelta(msg: DeltaMessage): DeltaResult {
    let state = this.tabs.get(msg.tab);
    const turn = state ? state.turn : EMPTY_TURN;
    if (msg.turn < turn) return "stale";
    let started = false;
    if (msg.turn > turn) {
      if (msg.offset > 0) return this.gap(msg.tab);
      // A new turn: start it afresh (even with an empty piece).
      state = freshTab(msg.turn, "streaming");
      this.tabs.set(msg.tab, state);
      started = true;
    }
    if (!state) {
      // Same turn as EMPTY_TURN with no state (a delta for turn -1): nothing to extend.
      state = freshTab(msg.turn, "idle");
      this.tabs.set(msg.tab, state);
    }
    const ch = msg.channel === "reasoning" ? state.reasoning : state.text;
    const have = ch.length;
    if (msg.offset > have) return this.gap(msg.tab);
    if (msg.offset === have) {
      if (msg.text === "") return started ? "applied" : "duplicate";
      ch.text += msg.text;
      ch.length += codePointLength(msg.text);
      return "applied";
    }
    // offset < have: skip what we already have.
    const skip = have - msg.offset;
    const start = codeUnitIndex(msg.text, skip);
    if (start >= msg.text.length) return "duplicate";
    const fresh = msg.text.slice(start);
    ch.text += fresh;
    ch.length += codePointLength(fresh);
    return "overlap";
  }

  /** Set the status of the tab's current turn; a newer turn starts afresh, an older one is ignored. */
  applyStatus(msg: StatusMessage): "applied" | "stale" {
    const state = this.tabs.get(msg.tab);
    const turn = state ? state.turn : EMPTY_TURN;
    if (msg.turn < turn) return "stale";
    if (!state || msg.turn > turn) {
      this.tabs.set(msg.tab, freshTab(msg.turn, msg.status));
    } else {
      state.status = msg.status;
    }
    return "applied";
  }

  /** The tab's current turn, or an empty idle view (turn -1) for an unknown tab. */
  get(tab: string): TabView {
    const state = this.tabs.get(tab);
    if (!state) return { turn: EMPTY_TURN, status: "idle", text: "", reasoning: "" };
    return {
      turn: state.turn,
      status: state.status,
      text: state.text.text,
      reasoning: state.reasoning.text,
    };
  }

  /** Code-point length of a channel of the tab's current turn (what the next offset should be). */
  length(tab: string, channel: Channel = "text"): number {
    const state = this.tabs.get(tab);
    if (!state) return 0;
    return (channel === "reasoning" ? state.reasoning : state.text).length;
  }

  /** Tab ids with state, in first-seen order. */
  tabIds(): string[] {
    return [...this.tabs.keys()];
  }

  /** Forget a tab (closed); also drops a pending resync for it. */
  delete(tab: string): void {
    this.tabs.delete(tab);
    this.pendingResync.delete(tab);
  }

  isResyncPending(tab: string): boolean {
    return this.pendingResync.has(tab);
  }

  /**
   * Ask for a snapshot of `tab` via `onResync`, unless one is already pending.
   * The view calls this on mount so that gaps before the answer arrives do not
   * ask again. Returns whether `onResync` was called.
   */
  requestResync(tab: string): boolean {
    if (this.pendingResync.has(tab)) return false;
    this.pendingResync.add(tab);
    this.onResync?.(tab);
    return true;
  }

  /** Let the next gap (or `requestResync`) ask again, e.g. after a request timed out. */
  clearPendingResync(tab: string): void {
    this.pendingResync.delete(tab);
  }

  private gap(tab: string): "gap" {
    this.requestResync(tab);
    return "gap";
  }
}
