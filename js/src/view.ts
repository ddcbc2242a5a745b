/**
 * One view of the panel: builds its own DOM from the shared `PanelState` and
 * redraws at most once per animation frame when the state or traits change.
 *
 * Full mode: tab strip, settings, notice, conversation, composer.
 * Compact mode (`compact` trait): the turns of one tab (or one turn), the
 * notice and a Stop button while it streams.
 */
import { MAX_ATTACHMENT_BYTES, formatSize, releaseLocalImages, toWire, totalSize } from "./attachments.js";
import { Composer } from "./composer.js";
import { FrameScheduler, h, setAttr, setText } from "./dom.js";
import type { InsertCode } from "./notebookCells.js";
import type { PanelState } from "./panelState.js";
import { isSettled, type AttachmentWire, type TabInfo, type TurnInfo, type ViewMessage } from "./protocol.js";
import { SettingsPane } from "./settingsView.js";
import { TabStrip } from "./tabStrip.js";
import { TurnView, type TurnData } from "./turnView.js";

interface FullParts {
  strip: TabStrip;
  settings: SettingsPane;
  settingsToggle: HTMLButtonElement;
  composer: Composer;
}

export class PanelView {
  readonly root: HTMLElement;
  private readonly doc: Document;
  private readonly notice: HTMLElement;
  private readonly conversation: HTMLElement;
  private readonly empty: HTMLElement;
  private readonly scheduler: FrameScheduler;
  private readonly unsubscribe: () => void;
  private full: FullParts | null = null;
  private stopButton: HTMLButtonElement | null = null;
  private compact: boolean | null = null;
  /** Ancestors made to stop clipping (see `unclip`), with their inline `overflow` before. */
  private unclipped: [HTMLElement, string, string][] = [];
  /** Whether the ancestors were looked at for this stream (once: it reads their layout). */
  private unclipDone = false;
  /** Tab chosen in this view; the newest tab when unset or closed. */
  private selected: string | null = null;
  private turnViews = new Map<number, TurnView>();
  private turnsTab: string | null = null;
  private readonly contexts = new Map<string, Set<string>>();
  /**
   * Files this view sent, by `tab:turn` (the turn the prompt should start), with the
   * prompt: the turn shows their thumbnails from these local files only.
   */
  private readonly sentFiles = new Map<string, { query: string; files: File[] }>();
  /** Model chosen in the picker while no tab exists. */
  private pendingModel: string | null = null;
  private destroyed = false;
  /** Whether the conversation is scrolled to its end: then it stays there as it grows. */
  private pinned = true;
  /** Sees turns grow (after layout, so keeping the end in view forces none); null where missing (jsdom). */
  private readonly resizes: ResizeObserver | null;

  constructor(
    private readonly state: PanelState,
    private readonly host: HTMLElement,
    /** Puts a code block into the notebook; null where the front end offers no way (no button then). */
    private readonly insert: InsertCode | null = null,
  ) {
    this.doc = host.ownerDocument;
    const doc = this.doc;
    this.notice = h(doc, "div", { class: "ipyllm-notice", "data-testid": "notice", role: "status", hidden: true });
    this.notice.title = "Click to dismiss";
    this.notice.addEventListener("click", () => state.setNotice(null));
    this.empty = h(doc, "div", { class: "ipyllm-empty" });
    this.conversation = h(doc, "div", { class: "ipyllm-conversation", "aria-live": "polite" });
    this.conversation.addEventListener("scroll", () => (this.pinned = nearEnd(this.conversation)), { passive: true });
    this.resizes = typeof ResizeObserver === "function" ? new ResizeObserver(() => this.stick()) : null;
    this.root = h(doc, "div", {
      class: "ipyllm-panel",
      "data-lm-suppress-shortcuts": "true",
      "data-insert": insert ? "true" : "false",
    });
    this.scheduler = new FrameScheduler(() => this.render());
    this.unsubscribe = state.subscribe(() => this.scheduler.schedule());
    host.append(this.root);
    this.render();
    for (const tab of this.syncTargets()) state.sync(tab);
  }

  /** Redraw now (tests; normally scheduled once per frame). */
  render(): void {
    if (this.destroyed) return;
    const compact = this.state.trait("compact");
    if (compact !== this.compact) this.build(compact);
    const tab = this.shownTab();
    const turns = this.shownTurns(tab);
    const streaming = this.isStreaming(tab, turns);
    this.renderNotice();
    this.renderTurns(tab, turns);
    if (this.full) this.renderFull(tab, streaming);
    if (this.stopButton) this.stopButton.hidden = !streaming;
    this.unclip(this.compact === true && streaming);
  }

  destroy(): void {
    this.destroyed = true;
    releaseLocalImages([...this.sentFiles.values()].flatMap((sent) => sent.files));
    this.scheduler.cancel();
    this.resizes?.disconnect();
    this.unclip(false);
    this.unsubscribe();
    this.root.remove();
  }

  // --- structure -----------------------------------------------------------

  private build(compact: boolean): void {
    this.compact = compact;
    const doc = this.doc;
    setAttr(this.root, "data-compact", compact ? "true" : "false");
    this.full = null;
    this.stopButton = null;
    if (compact) {
      const stop = h(doc, "button", { type: "button", class: "ipyllm-send", "data-testid": "send", "data-state": "stop" }, "Stop");
      stop.addEventListener("click", () => {
        const tab = this.state.trait("tab");
        if (tab) this.state.request({ type: "stop", tab });
      });
      this.stopButton = stop;
      this.root.replaceChildren(this.notice, this.conversation, h(doc, "div", { class: "ipyllm-compact-controls" }, stop));
      return;
    }
    const strip = new TabStrip(doc, {
      select: (id) => this.select(id),
      newTab: () => this.newTab(),
      rename: (tab, title) => this.state.request({ type: "rename", tab, title }),
      close: (tab) => this.state.request({ type: "close", tab }),
    });
    const settings = new SettingsPane(doc, {
      saveKey: (provider, key, done) =>
        this.state.request({ type: "set_key", provider, key }, (reply) => done(reply.type === "key_result" && reply.ok)),
      deleteKey: (provider) => this.state.request({ type: "delete_key", provider }),
      notify: (text) => this.state.setNotice({ kind: "error", text }),
    });
    const settingsToggle = h(
      doc,
      "button",
      { type: "button", class: "ipyllm-settings-toggle", "data-testid": "settings-toggle", title: "Settings", "aria-expanded": "false" },
      "⚙ Settings",
    );
    settingsToggle.addEventListener("click", () => {
      settings.open = !settings.open;
      settingsToggle.setAttribute("aria-expanded", String(settings.open));
    });
    const composer = new Composer(doc, {
      send: (prompt, context, files) => this.send(prompt, context, files),
      stop: () => {
        const tab = this.shownTab();
        if (tab) this.state.request({ type: "stop", tab: tab.id });
      },
      pickModel: (model) => this.pickModel(model),
    });
    this.full = { strip, settings, settingsToggle, composer };
    this.root.replaceChildren(
      h(doc, "div", { class: "ipyllm-header" }, strip.el, settingsToggle),
      settings.el,
      this.notice,
      this.conversation,
      composer.el,
    );
  }

  // --- what is shown -------------------------------------------------------

  private shownTab(): TabInfo | null {
    const tabs = this.state.tabs();
    if (this.compact) return tabs.find((t) => t.id === this.state.trait("tab")) ?? null;
    return tabs.find((t) => t.id === this.selected) ?? tabs[tabs.length - 1] ?? null;
  }

  private shownTurns(tab: TabInfo | null): TurnInfo[] {
    if (!tab) return [];
    const only = this.state.trait("turn");
    if (this.compact && only >= 0) return tab.turns.filter((t) => t.index === only);
    return tab.turns;
  }

  private syncTargets(): string[] {
    if (this.state.trait("compact")) {
      const tab = this.state.trait("tab");
      return tab ? [tab] : [];
    }
    return this.state.tabs().map((t) => t.id);
  }

  private statusOf(tab: TabInfo, turn: TurnInfo): string {
    const held = this.state.turnText(tab.id, turn.index);
    // The live status follows the deltas in order; the trait may lag or lead.
    if (held.liveStatus && held.liveStatus !== "idle") return held.liveStatus;
    return turn.status;
  }

  private isStreaming(tab: TabInfo | null, turns: TurnInfo[]): boolean {
    if (!tab) return false;
    const last = turns[turns.length - 1];
    if (!last) return !this.compact && tab.status === "streaming";
    return this.statusOf(tab, last) === "streaming";
  }

  // --- drawing -------------------------------------------------------------

  private renderNotice(): void {
    const n = this.state.notice;
    this.notice.hidden = !n;
    setText(this.notice, n ? n.text : "");
    setAttr(this.notice, "data-kind", n ? n.kind : "none");
  }

  private renderTurns(tab: TabInfo | null, turns: TurnInfo[]): void {
    const el = this.conversation;
    const switched = (tab?.id ?? null) !== this.turnsTab;
    if (switched) {
      for (const view of this.turnViews.values()) this.resizes?.unobserve(view.el);
      this.turnViews = new Map();
      this.turnsTab = tab?.id ?? null;
      el.replaceChildren();
      this.pinned = true;
    }
    if (!tab || turns.length === 0) {
      setText(this.empty, tab ? "No messages yet. Ask something below." : "No chats open. Type a prompt to start one.");
      if (this.compact) setText(this.empty, tab ? "Waiting for the answer…" : "This chat is closed.");
      if (el.firstChild !== this.empty || el.childNodes.length !== 1) el.replaceChildren(this.empty);
      this.turnViews.clear();
      return;
    }
    this.empty.remove();
    const latest = tab.turns[tab.turns.length - 1]?.index;
    const keep = new Set<number>();
    let previous: Element | null = null;
    for (const turn of turns) {
      keep.add(turn.index);
      let view = this.turnViews.get(turn.index);
      if (!view) {
        view = new TurnView(this.doc, turn.index, () => this.state.request({ type: "retry", tab: tab.id }), (index, run, failed) =>
          this.state.request({ type: "approve", tab: tab.id, index, run }, (reply) => void (reply.type === "error" && failed())),
          this.insert,
        );
        this.turnViews.set(turn.index, view);
        this.resizes?.observe(view.el);
      }
      const held = this.state.turnText(tab.id, turn.index);
      const status = this.statusOf(tab, turn);
      const data: TurnData = {
        info: turn,
        status,
        text: held.text,
        reasoning: held.reasoning,
        length: held.length,
        // The latest turn, settled, while the tab is not answering: Retry sends its prompt again.
        // Not in a cell's view, which shows one turn (the new one would not appear there).
        canRetry: !this.compact && turn.index === latest && tab.status !== "streaming" && isSettled(status),
        toolCalls: this.state.toolCalls(tab.id, turn),
        localFiles: this.localFiles(tab.id, turn),
      };
      view.update(data);
      const expected: Element | null = previous ? previous.nextElementSibling : el.firstElementChild;
      if (expected !== view.el) {
        if (previous) previous.after(view.el);
        else el.prepend(view.el);
      }
      previous = view.el;
    }
    for (const [index, view] of this.turnViews) {
      if (!keep.has(index)) {
        this.resizes?.unobserve(view.el);
        view.el.remove();
        this.turnViews.delete(index);
      }
    }
    // Without a ResizeObserver, keep the end in view now (reading the height forces a layout).
    if (!this.resizes && this.pinned) this.stick();
  }

  /**
   * While a cell's view streams, its Stop is sticky at the bottom of the window. A sticky
   * element sticks inside its nearest ancestor that clips (overflow other than visible),
   * and JupyterLab's output area clips without scrolling (its content fits it): those
   * ancestors, up to the one that really scrolls (the notebook), show their overflow
   * until the answer settles, then get their own style back.
   */
  private unclip(on: boolean): void {
    if (!on) {
      for (const [el, x, y] of this.unclipped) {
        el.style.overflowX = x;
        el.style.overflowY = y;
      }
      this.unclipped = [];
      this.unclipDone = false;
      return;
    }
    // Once, when in the page: a view is drawn before the front end attaches it.
    if (this.unclipDone || !this.root.isConnected) return;
    this.unclipDone = true;
    const view = this.doc.defaultView;
    if (!view) return;
    let el = this.root.parentElement;
    for (let depth = 0; el && depth < 8; el = el.parentElement, depth++) {
      const style = view.getComputedStyle(el);
      if (style.overflowX === "visible" && style.overflowY === "visible") continue;
      if (el.scrollHeight > el.clientHeight + 1 || el.classList.contains("jp-Cell")) break; // it scrolls: the sticky's frame
      this.unclipped.push([el, el.style.overflowX, el.style.overflowY]);
      el.style.overflowX = "visible";
      el.style.overflowY = "visible";
    }
  }

  /** Keep the conversation's end in view while it is pinned there (full mode: compact does not scroll). */
  private stick(): void {
    if (!this.pinned || this.compact) return;
    const el = this.conversation;
    el.scrollTop = el.scrollHeight;
  }

  private renderFull(tab: TabInfo | null, streaming: boolean): void {
    const full = this.full;
    if (!full) return;
    const tabs = this.state.tabs();
    const providers = this.state.providers();
    full.strip.update(tabs, tab?.id ?? null);
    full.settings.update(providers);
    const model = tab?.model ?? this.pendingModel ?? this.state.trait("default_model");
    full.composer.update({
      providers,
      model,
      others: tabs.filter((t) => t.id !== tab?.id),
      context: tab ? this.contextOf(tab.id) : new Set(),
      streaming,
    });
  }

  private contextOf(tab: string): Set<string> {
    let set = this.contexts.get(tab);
    if (!set) {
      set = new Set();
      this.contexts.set(tab, set);
    }
    return set;
  }

  // --- actions -------------------------------------------------------------

  private select(id: string): void {
    this.selected = id;
    this.scheduler.schedule();
  }

  private newTab(onOpened?: (tab: string) => void, title?: string): void {
    const msg: ViewMessage = { type: "new_tab" };
    if (this.pendingModel) msg.model = this.pendingModel;
    if (title) msg.title = title;
    this.state.request(msg, (reply) => {
      if (reply.type !== "opened") return;
      this.pendingModel = null;
      this.select(reply.tab);
      onOpened?.(reply.tab);
    });
  }

  /** Returns whether the prompt was taken (so the textarea may be cleared). */
  private send(prompt: string, context: string[], files: File[] = []): boolean {
    if (totalSize(files) > MAX_ATTACHMENT_BYTES) {
      this.state.setNotice({
        kind: "error",
        text: `The attachments are over ${formatSize(MAX_ATTACHMENT_BYTES)} in all; remove some or send smaller files.`,
      });
      return false;
    }
    const tab = this.shownTab();
    const ids = new Set(this.state.tabs().map((t) => t.id));
    const ctx = tab ? context.filter((id) => ids.has(id) && id !== tab.id) : [];
    const post = (id: string, index: number, attachments: AttachmentWire[]): void => {
      const msg: ViewMessage = { type: "send", tab: id, prompt };
      if (ctx.length) msg.context = ctx;
      if (attachments.length) {
        msg.attachments = attachments;
        this.sentFiles.set(`${id}:${index}`, { query: prompt, files });
      }
      this.state.request(msg);
    };
    // Files are read before anything is sent; a file that cannot be read sends nothing.
    const encoded: Promise<AttachmentWire[]> | null = files.length ? toWire(files) : null;
    const go = (id: string, index: number): void => {
      if (!encoded) return post(id, index, []);
      encoded.then(
        (attachments) => post(id, index, attachments),
        () => this.state.setNotice({ kind: "error", text: "A pasted file could not be read; attach it again." }),
      );
    };
    // A chat is named after its first prompt (the kernel's default names are "Tab N").
    const title = titleFrom(prompt);
    if (!tab) this.newTab((id) => go(id, 0), title);
    else {
      if (tab.turns.length === 0 && DEFAULT_TITLE.test(tab.title) && title) {
        this.state.request({ type: "rename", tab: tab.id, title });
      }
      go(tab.id, tab.turns.length);
    }
    return true;
  }

  /** The files this view sent with `turn` of `tab`, if it did (for thumbnails). */
  private localFiles(tab: string, turn: TurnInfo): File[] {
    const sent = this.sentFiles.get(`${tab}:${turn.index}`);
    return sent && sent.query === turn.query ? sent.files : [];
  }

  private pickModel(model: string): void {
    const tab = this.shownTab();
    if (tab) this.state.request({ type: "set_model", tab: tab.id, model });
    else this.pendingModel = model;
  }
}

/** A title the kernel gives a tab opened without one ("Tab 3", made unique as "Tab 3 (2)"). */
const DEFAULT_TITLE = /^Tab \d+(?: \(\d+\))?$/;

/** The most characters of a prompt a tab's title takes. */
const TITLE_CHARS = 40;

/** A tab title from its first prompt: its first line, cut at a word near 40 characters. */
export function titleFrom(prompt: string): string {
  const line = prompt.split("\n").map((l) => l.replace(/\s+/g, " ").trim()).find((l) => l) ?? "";
  const chars = [...line];
  if (chars.length <= TITLE_CHARS) return line;
  // One character more: a word that ends right at the limit is kept whole.
  const cut = chars.slice(0, TITLE_CHARS + 1).join("");
  const space = cut.lastIndexOf(" ");
  const head = space > TITLE_CHARS / 2 ? cut.slice(0, space) : chars.slice(0, TITLE_CHARS).join("");
  return `${head.replace(/[\s,.;:!?-]+$/, "")}…`;
}

/** Whether a scrolled element shows (nearly) its end. */
function nearEnd(el: HTMLElement): boolean {
  return el.scrollHeight - el.scrollTop - el.clientHeight < 40;
}
