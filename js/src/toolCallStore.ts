/**
 * The tool calls of every turn, as the view shows them: the `tabs` trait's
 * (`TurnInfo.tool_calls`: what a reloaded page starts from) merged with the
 * live `tool_call` messages.
 *
 * Newer wins. The kernel sends a call's message, then sets the trait from the
 * tab as it is by then, so a trait that arrived after a message is at least
 * as new, and the message is dropped. A message that arrived after the
 * trait's latest change wins over it, unless the trait already holds a later
 * stage (running, or settled): the kernel may read the trait after a change
 * whose own message is still on its way. A call's status moves forward
 * (requested → awaiting → running → done / error / denied / skipped), except
 * that an approved call reads "requested" again until it runs (the trait
 * shows that; no message says it). While a call is "requested" its arguments
 * grow: the longer text is the newer one, whichever way it came.
 */
import type { TabInfo, ToolCallInfo, ToolCallMessage, TurnInfo } from "./protocol.js";

/** How far along a call's status is; an unknown status ranks as settled. */
const RANK: Record<string, number> = { requested: 0, awaiting: 1, running: 2 };

function rank(status: string): number {
  return RANK[status] ?? 3;
}

/**
 * Whether `live` (a message) is newer than `known` (the trait's state of the
 * same call); `arrivedLater`: the message came after the trait's last change.
 */
export function liveIsNewer(live: ToolCallInfo, known: ToolCallInfo, arrivedLater: boolean): boolean {
  if (live.status === "requested" && known.status === "requested") return live.arguments.length > known.arguments.length;
  return arrivedLater && rank(known.status) <= rank(live.status);
}

interface LiveCall {
  call: ToolCallInfo;
  /** The trait generation it arrived in. */
  generation: number;
}

export class ToolCallStore {
  /** tab → turn → call index → the latest message. */
  private readonly live = new Map<string, Map<number, Map<number, LiveCall>>>();
  /** Counts changes of the `tabs` trait. */
  private generation = 0;

  /** A `tool_call` message (messages come in the order the kernel sent them: the last is newest). */
  apply(msg: ToolCallMessage): void {
    const call = msg.call;
    if (!call || typeof call.index !== "number" || typeof msg.tab !== "string") return;
    let turns = this.live.get(msg.tab);
    if (!turns) this.live.set(msg.tab, (turns = new Map()));
    let calls = turns.get(msg.turn);
    if (!calls) turns.set(msg.turn, (calls = new Map()));
    calls.set(call.index, { call, generation: this.generation });
  }

  /** The calls of `turn` of `tab`, by index, each in its newest known state. */
  calls(tab: string, turn: TurnInfo): ToolCallInfo[] {
    const known = turn.tool_calls ?? [];
    const live = this.live.get(tab)?.get(turn.index);
    if (!live || live.size === 0) return known;
    const byIndex = new Map<number, ToolCallInfo>();
    for (const call of known) byIndex.set(call.index, call);
    for (const [index, { call, generation }] of live) {
      const held = byIndex.get(index);
      if (!held || liveIsNewer(call, held, generation === this.generation)) byIndex.set(index, call);
    }
    return [...byIndex.values()].sort((a, b) => a.index - b.index);
  }

  /** The `tabs` trait changed: forget closed tabs and every message the trait is as new as. */
  prune(tabs: TabInfo[]): void {
    this.generation++;
    const byId = new Map(tabs.map((t) => [t.id, t]));
    for (const [tabId, turns] of this.live) {
      const info = byId.get(tabId);
      if (!info) {
        this.live.delete(tabId);
        continue;
      }
      for (const [index, calls] of turns) {
        const known = info.turns.find((t) => t.index === index);
        if (!known) continue; // not in the trait yet
        for (const [i, { call }] of calls) {
          const held = known.tool_calls?.find((c) => c.index === i);
          if (held && !liveIsNewer(call, held, false)) calls.delete(i);
        }
        if (calls.size === 0) turns.delete(index);
      }
      if (turns.size === 0) this.live.delete(tabId);
    }
  }

  /** How many messages are held (tests). */
  get size(): number {
    let n = 0;
    for (const turns of this.live.values()) for (const calls of turns.values()) n += calls.size;
    return n;
  }
}
