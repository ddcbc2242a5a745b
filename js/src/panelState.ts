/**
 * Per-model state shared by every view of one panel: the texts of every turn
 * (one `DeltaStore`, keyed by tab and turn), the last notice, and the
 * request/reply bookkeeping.
 *
 * - A settled turn whose kept length differs from its `text_length` in the
 *   `tabs` trait asks for one `sync` (something was lost on the way).
 * - A `snapshot` replaces every text of the tab.
 * - Tool calls: the trait's, merged with the live `tool_call` messages
 *   (`ToolCallStore`).
 */
import { DeltaStore } from "./deltaStore.js";
import { ToolCallStore } from "./toolCallStore.js";
import {
  isSettled,
  type KernelMessage,
  type KeyResultMessage,
  type PanelTraits,
  type ProviderInfo,
  type SnapshotMessage,
  type TabInfo,
  type ToolCallInfo,
  type TurnInfo,
  type ViewMessage,
  type WidgetModel,
} from "./protocol.js";

export interface TurnText {
  text: string;
  reasoning: string;
  /** Code points of `text`. */
  length: number;
  /** Status from the live messages, when this is the tab's latest turn. */
  liveStatus: string | null;
  /** False when the view holds no text for this turn (yet). */
  known: boolean;
}

export interface Notice {
  kind: "error" | "ok";
  text: string;
}

type Reply = (msg: KernelMessage) => void;

export interface PanelStateOptions {
  /** How long a `sync` may stay unanswered before another may be sent. */
  syncTimeoutMs?: number;
}

const DEFAULTS: PanelTraits = {
  tabs: [],
  providers: [],
  default_model: "",
  compact: false,
  tab: "",
  turn: -1,
};

export class PanelState {
  readonly store: DeltaStore;
  readonly toolCallStore = new ToolCallStore();
  notice: Notice | null = null;

  private readonly listeners = new Set<() => void>();
  private readonly replies = new Map<string, Reply>();
  private readonly keyOverrides = new Map<string, string>();
  /** `tab:turn` → text_length already found equal. */
  private readonly verified = new Map<string, number>();
  /** `tab:turn:text_length` for which a sync was already asked. */
  private readonly mismatchAsked = new Set<string>();
  private readonly syncTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private knownTabs = new Set<string>();
  private nextId = 0;
  private readonly idPrefix = Math.random().toString(36).slice(2, 8);
  private readonly syncTimeoutMs: number;

  constructor(
    private readonly model: WidgetModel,
    options: PanelStateOptions = {},
  ) {
    this.syncTimeoutMs = options.syncTimeoutMs ?? 1000;
    this.store = new DeltaStore({ onResync: (tab) => this.sendSync(tab) });
    this.knownTabs = new Set(this.tabs().map((t) => t.id));
  }

  // --- traits ------------------------------------------------------------

  trait<K extends keyof PanelTraits>(name: K): PanelTraits[K] {
    const value = this.model.get(name) as PanelTraits[K] | undefined | null;
    return value ?? DEFAULTS[name];
  }

  tabs(): TabInfo[] {
    return this.trait("tabs");
  }

  /** Providers, with key statuses updated by `key_result` until the trait catches up. */
  providers(): ProviderInfo[] {
    const list = this.trait("providers");
    if (this.keyOverrides.size === 0) return list;
    return list.map((p) => {
      const key = this.keyOverrides.get(p.name);
      return key === undefined ? p : { ...p, key };
    });
  }

  // --- texts -------------------------------------------------------------

  /** The text the view holds for turn `index` of `tab`. */
  turnText(tab: string, index: number): TurnText {
    const held = index >= 0 ? this.store.turn(tab, index) : null;
    if (!held) return { text: "", reasoning: "", length: 0, liveStatus: null, known: false };
    // An earlier turn's status here may be stale (its status message lost): the trait's rules.
    const liveStatus = this.store.get(tab).turn === index ? held.status : null;
    return { text: held.text, reasoning: held.reasoning, length: held.length, liveStatus, known: true };
  }

  /** The tool calls of `turn` of `tab`, each in its latest known state. */
  toolCalls(tab: string, turn: TurnInfo): ToolCallInfo[] {
    return this.toolCallStore.calls(tab, turn);
  }

  // --- events ------------------------------------------------------------

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** A kernel → view custom message. */
  handleMessage(msg: KernelMessage): void {
    if (!msg || typeof msg !== "object") return;
    switch (msg.type) {
      case "deltas":
        for (const item of msg.items ?? []) this.store.applyDelta(item);
        for (const tab of new Set((msg.items ?? []).map((i) => i.tab))) this.checkLengths(tab);
        break;
      case "status":
        this.store.applyStatus(msg);
        this.checkLengths(msg.tab);
        break;
      case "tool_call":
        this.toolCallStore.apply(msg);
        break;
      case "snapshot":
        this.applySnapshot(msg);
        break;
      case "key_result":
        this.applyKeyResult(msg);
        break;
      case "error":
        this.notice = { kind: "error", text: msg.message };
        break;
      case "opened":
      case "approved":
        break;
      default:
        return;
    }
    const replyTo = (msg as { reply_to?: string }).reply_to;
    if (replyTo !== undefined) {
      const reply = this.replies.get(replyTo);
      this.replies.delete(replyTo);
      reply?.(msg);
    }
    this.emit();
  }

  /** A trait changed. */
  handleTraitChange(name: string): void {
    if (name === "providers") this.keyOverrides.clear();
    if (name === "tabs") this.onTabsChanged();
    this.emit();
  }

  private onTabsChanged(): void {
    const tabs = this.tabs();
    const ids = new Set(tabs.map((t) => t.id));
    this.toolCallStore.prune(tabs);
    for (const id of this.knownTabs) {
      if (!ids.has(id)) this.forgetTab(id);
    }
    for (const tab of tabs) {
      // A tab that appeared with history (e.g. from a `Session`): fetch it.
      if (!this.knownTabs.has(tab.id) && tab.turns.length > 0 && !this.holds(tab.id)) this.sync(tab.id);
      this.checkLengths(tab.id);
    }
    this.knownTabs = ids;
  }

  /** Whether any text of `tab` arrived here. */
  private holds(tab: string): boolean {
    return this.store.get(tab).turn >= 0;
  }

  private forgetTab(id: string): void {
    this.store.delete(id);
    const timer = this.syncTimers.get(id);
    if (timer !== undefined) clearTimeout(timer);
    this.syncTimers.delete(id);
    for (const key of [...this.verified.keys()]) if (key.startsWith(`${id}:`)) this.verified.delete(key);
  }

  // --- requests ----------------------------------------------------------

  /** Send a message tagged with a fresh id; `onReply` gets the kernel's reply to it. */
  request(msg: ViewMessage, onReply?: Reply): string {
    const id = `${this.idPrefix}-${++this.nextId}`;
    if (onReply) this.replies.set(id, onReply);
    this.model.send({ ...msg, id });
    return id;
  }

  /** Ask for a snapshot of `tab` unless one is already on its way. */
  sync(tab: string): boolean {
    return this.store.requestResync(tab);
  }

  setNotice(notice: Notice | null): void {
    this.notice = notice;
    this.emit();
  }

  dispose(): void {
    for (const timer of this.syncTimers.values()) clearTimeout(timer);
    this.syncTimers.clear();
    this.listeners.clear();
    this.replies.clear();
  }

  private sendSync(tab: string, attempt = 0): void {
    this.request({ type: "sync", tab });
    const old = this.syncTimers.get(tab);
    if (old !== undefined) clearTimeout(old);
    // An unanswered sync is sent again, backing off: a request that left before the
    // comm's kernel subshell was ready waits behind a busy cell, a later one does not.
    const delay = Math.min(this.syncTimeoutMs * 2 ** attempt, 10_000);
    this.syncTimers.set(
      tab,
      setTimeout(() => {
        this.syncTimers.delete(tab);
        if (this.store.isResyncPending(tab)) this.sendSync(tab, attempt + 1);
      }, delay),
    );
  }

  // --- internals ---------------------------------------------------------

  private applySnapshot(msg: SnapshotMessage): void {
    const timer = this.syncTimers.get(msg.tab);
    if (timer !== undefined) clearTimeout(timer);
    this.syncTimers.delete(msg.tab);
    this.store.applySnapshot(msg);
    for (const key of [...this.verified.keys()]) if (key.startsWith(`${msg.tab}:`)) this.verified.delete(key);
    this.checkLengths(msg.tab);
  }

  private applyKeyResult(msg: KeyResultMessage): void {
    this.keyOverrides.set(msg.provider, msg.key);
    const fallback = msg.ok ? `${msg.provider}: done` : `${msg.provider}: failed`;
    this.notice = { kind: msg.ok ? "ok" : "error", text: msg.message || fallback };
  }

  /**
   * Compare the length kept for each settled turn of `tabId` with its
   * `text_length`; a difference asks for one sync per (turn, length).
   */
  private checkLengths(tabId: string): void {
    if (this.store.isResyncPending(tabId)) return;
    const info = this.tabs().find((t) => t.id === tabId);
    if (!info) return;
    const live = this.store.get(tabId);
    for (const turn of info.turns) {
      if (!isSettled(turn.status)) continue;
      const key = `${tabId}:${turn.index}`;
      if (this.verified.get(key) === turn.text_length) continue;
      let have: number;
      const held = this.store.turn(tabId, turn.index);
      if (turn.index === live.turn) {
        // Wait for the turn's own status message: deltas may still be on their way.
        if (!isSettled(live.status)) continue;
        have = held?.length ?? 0;
      } else if (held) have = held.length;
      else if (turn.index < live.turn) have = 0; // never saw this turn at all
      else continue; // not started here yet
      if (have === turn.text_length) {
        this.verified.set(key, turn.text_length);
        continue;
      }
      const asked = `${key}:${turn.text_length}`;
      if (this.mismatchAsked.has(asked)) continue;
      this.mismatchAsked.add(asked);
      this.sync(tabId);
      return;
    }
  }
}
