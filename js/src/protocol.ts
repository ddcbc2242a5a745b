/**
 * The chat panel's wire protocol (docs/panel-protocol.md), as types.
 *
 * Traits are slow-changing state the kernel writes; custom messages carry
 * live text (by code-point offset) and request/reply pairs tagged with `id`.
 */
export type TurnStatus = "streaming" | "done" | "stopped" | "error";
export type TabStatus = "idle" | TurnStatus;
/** `KeyStatus` in the kernel (`ipyllm/_keys.py`): where a provider's key is. */
export type KeyStatus = "keyring" | "env" | "missing" | "none" | "unusable";

export interface TurnInfo {
  index: number;
  query: string;
  model: string;
  status: TurnStatus | string;
  tokens_in: number | null;
  tokens_out: number | null;
  cost: number | null;
  ttft_s: number | null;
  elapsed_s: number | null;
  error: string | null;
  text_length: number;
  reasoning_length: number;
  /** Code point where the final round's text starts (0 without tools). */
  answer_from: number;
  /** The answer is JSON for a schema (`schema=`). */
  structured: boolean;
  /** Every call of the turn's tool rounds, in order. */
  tool_calls: ToolCallInfo[];
  /** What went with the query (metadata only, never the bytes); absent from older kernels. */
  attachments?: AttachmentInfo[];
}

export interface AttachmentInfo {
  kind: "image" | "pdf" | "text" | string;
  mime: string;
  name: string | null;
  size?: number;
  width?: number | null;
  height?: number | null;
}

/** A file pasted or dropped into the composer, as `send` carries it. */
export interface AttachmentWire {
  name: string;
  mime: string;
  /** The bytes, base64. */
  data: string;
}

export type ToolCallStatus = "requested" | "awaiting" | "running" | "done" | "error" | "denied" | "skipped";

/** One tool call, as a turn's card shows it. Every text in it came from the model or a tool. */
export interface ToolCallInfo {
  /** Position among the turn's calls. */
  index: number;
  id: string | null;
  name: string;
  /** The JSON text as the model wrote it (clipped by the kernel). */
  arguments: string;
  status: ToolCallStatus | string;
  /** done: the text sent back to the model (clipped). */
  result: string | null;
  /** error, skipped, or why a call was not run. */
  error: string | null;
  elapsed_s: number | null;
}

export interface TabInfo {
  id: string;
  title: string;
  model: string;
  status: TabStatus | string;
  turns: TurnInfo[];
  /** Earlier turns sent with each prompt; null: all of them. */
  max_history: number | null;
}

export interface ProviderInfo {
  name: string;
  label: string;
  models: string[];
  default_model: string;
  key: KeyStatus | string;
  local: boolean;
  /** The aliases (`ipyllm.alias`) naming a model of this provider. */
  aliases?: AliasInfo[];
}

/** A short name for a model: picking `name` is picking `model`. */
export interface AliasInfo {
  name: string;
  model: string;
  label: string;
  builtin: boolean;
}

/** The panel's traits, by name. */
export interface PanelTraits {
  tabs: TabInfo[];
  providers: ProviderInfo[];
  default_model: string;
  compact: boolean;
  tab: string;
  turn: number;
}

export const TRAIT_NAMES: readonly (keyof PanelTraits)[] = [
  "tabs",
  "providers",
  "default_model",
  "compact",
  "tab",
  "turn",
];

// --- view → kernel -------------------------------------------------------

export type ViewMessage =
  | { type: "sync"; tab: string }
  | {
      type: "send";
      tab: string;
      prompt: string;
      model?: string;
      context?: string[];
      max_history?: number;
      attachments?: AttachmentWire[];
    }
  | { type: "stop"; tab: string }
  | { type: "retry"; tab: string }
  | { type: "new_tab"; model?: string; title?: string }
  | { type: "rename"; tab: string; title: string }
  | { type: "close"; tab: string }
  | { type: "set_model"; tab: string; model: string }
  | { type: "set_max_history"; tab: string; max_history: number | null }
  | { type: "approve"; tab: string; index: number; run: boolean }
  | { type: "set_key"; provider: string; key: string }
  | { type: "delete_key"; provider: string };

// --- kernel → view -------------------------------------------------------

export type Channel = "text" | "reasoning";

/** One piece of live text. */
export interface DeltaItem {
  tab: string;
  turn: number;
  channel: Channel;
  /** Offset in Unicode code points (Python `len`), not UTF-16 code units. */
  offset: number;
  text: string;
}

/** Live text, coalesced by the kernel: at most one message per ~50 ms. */
export interface DeltasMessage {
  type: "deltas";
  items: DeltaItem[];
}

/** A turn changed status; sent after every delta of that turn that precedes it. */
export interface StatusMessage {
  type: "status";
  tab: string;
  turn: number;
  status: TabStatus | string;
}

/**
 * A tool call appeared or changed. While its arguments stream (status
 * "requested") it comes with the deltas, its latest state only; any other
 * status at once.
 */
export interface ToolCallMessage {
  type: "tool_call";
  tab: string;
  turn: number;
  call: ToolCallInfo;
}

export interface PastTurn {
  index: number;
  text: string;
  reasoning: string;
}

/** Reply to `sync`: the latest turn's text so far, and every earlier turn's text. */
export interface SnapshotMessage {
  type: "snapshot";
  tab: string;
  /** -1 when the tab has no turn yet. */
  turn: number;
  status: TabStatus | string;
  text: string;
  reasoning: string;
  past?: PastTurn[];
  reply_to?: string;
}

export interface OpenedMessage {
  type: "opened";
  tab: string;
  reply_to?: string;
}

/** Reply to `approve`: the answer reached the call (if it still waited). */
export interface ApprovedMessage {
  type: "approved";
  tab: string;
  index: number;
  reply_to?: string;
}

export interface KeyResultMessage {
  type: "key_result";
  provider: string;
  ok: boolean;
  message: string;
  key: KeyStatus | string;
  reply_to?: string;
}

export interface ErrorMessage {
  type: "error";
  message: string;
  tab?: string;
  reply_to?: string;
}

export type KernelMessage =
  | DeltasMessage
  | StatusMessage
  | ToolCallMessage
  | SnapshotMessage
  | OpenedMessage
  | ApprovedMessage
  | KeyResultMessage
  | ErrorMessage;

/** The part of anywidget's model the panel uses (a subset of `AnyModel`). */
export interface WidgetModel {
  get(name: string): unknown;
  on(event: string, callback: (...args: any[]) => void): void;
  off(event?: string | null, callback?: ((...args: any[]) => void) | null): void;
  send(content: unknown, callbacks?: unknown, buffers?: unknown): void;
}

/** Settled = the turn will not change any more. */
export function isSettled(status: string): boolean {
  return status === "done" || status === "stopped" || status === "error";
}
