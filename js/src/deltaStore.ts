/**
 * The front end's one store of turn texts, keyed by (tab, turn) and fed by
 * kernel messages. Every view of a panel reads its answers from here.
 *
 * The kernel sends text by *offset* into the turn's answer (or reasoning),
 * counting characters as Python does: Unicode code points, not the UTF-16
 * code units a JS string's `length` counts ("🦅" is 1 in Python, 2 in JS).
 * The view asks for a snapshot on mount, then applies deltas by offset to the
 * tab's latest turn:
 *
 * - a piece it already has entirely is ignored ("duplicate"),
 * - a piece that starts inside what it has appends only the new part ("overlap"),
 * - a piece that starts exactly at the end is appended ("applied"),
 * - a piece that starts beyond the end is a "gap": nothing is applied and a
 *   resync (fresh snapshot) is requested through `onResync`.
 *
 * A delta for a newer turn starts that turn afresh (an offset > 0 there is a
 * gap) and leaves the earlier turns' texts as they are; deltas and statuses
 * for an older turn are ignored ("stale"). A snapshot replaces every turn of
 * the tab.
 *
 * Per delta the work is O(piece): code-point lengths are tracked per channel,
 * never recounted from the whole text.
 */
import type { Channel, DeltaItem, SnapshotMessage, StatusMessage } from "./protocol.js";

export type { Channel };
export type TabStatusName = "idle" | "streaming" | "done" | "stopped" | "error";

export type DeltaResult = "applied" | "duplicate" | "overlap" | "gap" | "stale";

/** The tab's latest turn. */
export interface TabView {
  turn: number;
  status: string;
  text: string;
  reasoning: string;
}

/** One turn's texts as held here. */
export interface HeldTurn {
  /** Status from the live messages (a snapshot's earlier turns: "done"). */
  status: string;
  text: string;
  reasoning: string;
  /** Code points of `text`. */
  length: number;
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

interface TurnState {
  status: string;
  text: ChannelState;
  reasoning: ChannelState;
}

interface TabState {
  /** Index of the latest turn; deltas go there. */
  latest: number;
  turns: Map<number, TurnState>;
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

function channel(text: string): ChannelState {
  return { text, length: codePointLength(text) };
}

function freshTurn(status: string): TurnState {
  return { status, text: channel(""), reasoning: channel("") };
}

export class DeltaStore {
  private readonly tabs = new Map<string, TabState>();
  private readonly pendingResync = new Set<string>();
  private readonly onResync: ((tab: string) => void) | undefined;

  constructor(options: DeltaStoreOptions = {}) {
    this.onResync = options.onResync;
  }

  /** Replace every turn of the tab with the snapshot's; clears a pending resync for it. */
  applySnapshot(msg: SnapshotMessage): void {
    const turns = new Map<number, TurnState>();
    for (const p of msg.past ?? []) {
      if (p.index === msg.turn) continue;
      turns.set(p.index, { status: "done", text: channel(p.text), reasoning: channel(p.reasoning ?? "") });
    }
    turns.set(msg.turn, { status: msg.status, text: channel(msg.text ?? ""), reasoning: channel(msg.reasoning ?? "") });
    this.tabs.set(msg.tab, { latest: msg.turn, turns });
    this.pendingResync.delete(msg.tab);
  }

  applyDelta(item: DeltaItem): DeltaResult {
    let tab = this.tabs.get(item.tab);
    const latest = tab ? tab.latest : EMPTY_TURN;
    if (item.turn < latest) return "stale";
    let started = false;
    if (item.turn > latest) {
      if (item.offset > 0) return this.gap(item.tab);
      // A new turn: start it afresh (even with an empty piece).
      if (!tab) this.tabs.set(item.tab, (tab = { latest: item.turn, turns: new Map() }));
      tab.latest = item.turn;
      tab.turns.set(item.turn, freshTurn("streaming"));
      started = true;
    }
    if (!tab) this.tabs.set(item.tab, (tab = { latest: item.turn, turns: new Map() }));
    let turn = tab.turns.get(item.turn);
    if (!turn) {
      // Same turn as EMPTY_TURN with no state (a delta for turn -1): nothing to extend.
      turn = freshTurn("idle");
      tab.turns.set(item.turn, turn);
    }
    const ch = item.channel === "reasoning" ? turn.reasoning : turn.text;
    const have = ch.length;
    if (item.offset > have) return this.gap(item.tab);
    if (item.offset === have) {
      if (item.text === "") return started ? "applied" : "duplicate";
      ch.text += item.text;
      ch.length += codePointLength(item.text);
      return "applied";
    }
    // offset < have: skip what we already have.
    const skip = have - item.offset;
    const start = codeUnitIndex(item.text, skip);
    if (start >= item.text.length) return "duplicate";
    const fresh = item.text.slice(start);
    ch.text += fresh;
    ch.length += codePointLength(fresh);
    return "overlap";
  }

  /** Set the status of the tab's latest turn; a newer turn starts afresh, an older one is ignored. */
  applyStatus(msg: StatusMessage): "applied" | "stale" {
    let tab = this.tabs.get(msg.tab);
    const latest = tab ? tab.latest : EMPTY_TURN;
    if (msg.turn < latest) return "stale";
    if (!tab) this.tabs.set(msg.tab, (tab = { latest: msg.turn, turns: new Map() }));
    const turn = msg.turn > latest ? undefined : tab.turns.get(msg.turn);
    if (turn) turn.status = msg.status;
    else tab.turns.set(msg.turn, freshTurn(msg.status));
    tab.latest = msg.turn;
    return "applied";
  }

  /** The tab's latest turn, or an empty idle view (turn -1) for an unknown tab. */
  get(tab: string): TabView {
    const state = this.tabs.get(tab);
    const turn = state?.turns.get(state.latest);
    if (!state || !turn) return { turn: state?.latest ?? EMPTY_TURN, status: "idle", text: "", reasoning: "" };
    return { turn: state.latest, status: turn.status, text: turn.text.text, reasoning: turn.reasoning.text };
  }

  /** Turn `index` of `tab`, or null when no text of it arrived here. */
  turn(tab: string, index: number): HeldTurn | null {
    const turn = this.tabs.get(tab)?.turns.get(index);
    if (!turn) return null;
    return { status: turn.status, text: turn.text.text, reasoning: turn.reasoning.text, length: turn.text.length };
  }

  /** Code-point length of a channel of the tab's latest turn (what the next offset should be). */
  length(tab: string, channel: Channel = "text"): number {
    const state = this.tabs.get(tab);
    const turn = state?.turns.get(state.latest);
    if (!turn) return 0;
    return (channel === "reasoning" ? turn.reasoning : turn.text).length;
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

  private gap(tab: string): "gap" {
    this.requestResync(tab);
    return "gap";
  }
}
