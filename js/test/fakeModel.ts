/** A stand-in for anywidget's model: traits with change events, custom messages both ways. */
import type { ProviderInfo, TabInfo, TurnInfo, WidgetModel } from "../src/protocol.js";

type Callback = (...args: any[]) => void;

export class FakeModel implements WidgetModel {
  readonly sent: Record<string, unknown>[] = [];
  private readonly traits: Record<string, unknown>;
  private readonly handlers = new Map<string, Set<Callback>>();

  constructor(traits: Record<string, unknown> = {}) {
    this.traits = { tabs: [], providers: [], default_model: "openai:gpt-4o-mini", compact: false, tab: "", turn: -1, ...traits };
  }

  get(name: string): unknown {
    return this.traits[name];
  }

  set(name: string, value: unknown): void {
    this.traits[name] = value;
    for (const cb of [...(this.handlers.get(`change:${name}`) ?? [])]) cb();
  }

  on(event: string, callback: Callback): void {
    let set = this.handlers.get(event);
    if (!set) this.handlers.set(event, (set = new Set()));
    set.add(callback);
  }

  off(event?: string | null, callback?: Callback | null): void {
    if (!event) {
      this.handlers.clear();
      return;
    }
    if (!callback) this.handlers.delete(event);
    else this.handlers.get(event)?.delete(callback);
  }

  send(content: unknown): void {
    this.sent.push(content as Record<string, unknown>);
  }

  /** Deliver a kernel → view custom message. */
  emit(msg: unknown): void {
    for (const cb of [...(this.handlers.get("msg:custom") ?? [])]) cb(msg, []);
  }

  listenerCount(event: string): number {
    return this.handlers.get(event)?.size ?? 0;
  }

  sentOfType(type: string): Record<string, unknown>[] {
    return this.sent.filter((m) => m.type === type);
  }
}

export function turn(index: number, over: Partial<TurnInfo> = {}): TurnInfo {
  return {
    index,
    query: `question ${index}`,
    model: "openai:gpt-4o-mini",
    status: "done",
    tokens_in: 10,
    tokens_out: 20,
    cost: 0.0012345,
    ttft_s: 0.42,
    elapsed_s: 1.5,
    error: null,
    text_length: 0,
    reasoning_length: 0,
    answer_from: 0,
    structured: false,
    tool_calls: [],
    ...over,
  };
}

export function tab(id: string, turns: TurnInfo[] = [], over: Partial<TabInfo> = {}): TabInfo {
  const last = turns[turns.length - 1];
  return {
    id, title: `Chat ${id}`, model: "openai:gpt-4o-mini", status: last ? last.status : "idle", turns,
    max_history: null, ...over,
  };
}

export const PROVIDERS: ProviderInfo[] = [
  { name: "openai", label: "OpenAI", models: ["gpt-4o-mini", "gpt-4o"], default_model: "gpt-4o-mini", key: "missing", local: false },
  { name: "anthropic", label: "Anthropic", models: ["claude-sonnet"], default_model: "claude-sonnet", key: "keyring", local: false },
  { name: "ollama", label: "Ollama", models: ["llama3"], default_model: "llama3", key: "none", local: true },
];

export function deltas(...items: [tab: string, turn: number, offset: number, text: string, channel?: "text" | "reasoning"][]) {
  return {
    type: "deltas",
    items: items.map(([tab, turn, offset, text, channel]) => ({ tab, turn, offset, text, channel: channel ?? "text" })),
  };
}
