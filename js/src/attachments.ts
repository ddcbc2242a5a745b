/**
 * Files pasted or dropped into the composer: chips before sending, base64 for the
 * `send` message, and chips (with a thumbnail in the view that sent them) in a turn.
 *
 * The panel never fetches anything: a thumbnail is built only from the user's own
 * pasted file (a `blob:` URL of the local `File`), never from kernel or model data.
 */
import { h } from "./dom.js";
import type { AttachmentInfo, AttachmentWire } from "./protocol.js";

/** What one prompt may attach, in all (the kernel refuses more the same way). */
export const MAX_ATTACHMENT_BYTES = 20_000_000;

export function formatSize(n: number): string {
  if (n >= 1_000_000) return `${(n / 1_000_000).toFixed(1)} MB`;
  if (n >= 1000) return `${Math.round(n / 1000)} kB`;
  return `${n} B`;
}

/** The files of a paste or a drop (none for plain text). */
export function filesOf(data: DataTransfer | null): File[] {
  if (!data) return [];
  const files = [...(data.files ?? [])];
  if (files.length) return files;
  const out: File[] = [];
  for (const item of [...(data.items ?? [])]) {
    if (item.kind !== "file") continue;
    const file = item.getAsFile();
    if (file) out.push(file);
  }
  return out;
}

export function totalSize(files: readonly File[]): number {
  return files.reduce((n, f) => n + f.size, 0);
}

/** A file's bytes as base64 (FileReader: in every browser and in jsdom). */
export function readBase64(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => {
      const url = String(reader.result ?? "");
      resolve(url.slice(url.indexOf(",") + 1));
    };
    reader.onerror = () => reject(reader.error ?? new Error("unreadable file"));
    reader.readAsDataURL(file);
  });
}

export async function toWire(files: readonly File[]): Promise<AttachmentWire[]> {
  return Promise.all(
    files.map(async (f, i) => ({ name: f.name || `pasted-${i + 1}`, mime: f.type || "", data: await readBase64(f) })),
  );
}

const thumbUrls = new WeakMap<File, string>();

/** A `blob:` URL of the user's own image file, made once per file; null where it cannot be. */
function localImageUrl(file: File): string | null {
  if (!file.type.startsWith("image/") || typeof URL.createObjectURL !== "function") return null;
  let url = thumbUrls.get(file);
  if (url === undefined) {
    url = URL.createObjectURL(file);
    thumbUrls.set(file, url);
  }
  return url.startsWith("blob:") ? url : null;
}

/** Let the browser free the thumbnails of these files (the view that showed them is gone). */
export function releaseLocalImages(files: Iterable<File>): void {
  for (const file of files) {
    const url = thumbUrls.get(file);
    if (url === undefined) continue;
    thumbUrls.delete(file);
    if (typeof URL.revokeObjectURL === "function") URL.revokeObjectURL(url);
  }
}

/** A chip: name and size, and a remove button when `onRemove` is given. */
export function chip(doc: Document, name: string, detail: string, testid: string, onRemove?: () => void): HTMLElement {
  const el = h(
    doc,
    "span",
    { class: "ipyllm-attachment", "data-testid": testid, title: name },
    h(doc, "span", { class: "ipyllm-attachment-name" }, name),
    h(doc, "span", { class: "ipyllm-muted" }, detail),
  );
  if (onRemove) {
    const remove = h(
      doc,
      "button",
      { type: "button", class: "ipyllm-attachment-remove", "data-testid": "attachment-remove", "aria-label": `Remove ${name}` },
      "×",
    );
    remove.addEventListener("click", onRemove);
    el.append(remove);
  }
  return el;
}

function describe(a: AttachmentInfo): string {
  const size = a.size != null ? formatSize(a.size) : "";
  const dims = a.kind === "image" && a.width && a.height ? `${a.width}×${a.height}` : "";
  return [dims, size].filter(Boolean).join(" · ") || a.mime;
}

/**
 * A turn's attachments: from its `TurnInfo` (metadata only), with a thumbnail where
 * this view still holds the file the user pasted (same position).
 */
export function turnAttachments(doc: Document, infos: readonly AttachmentInfo[], local: readonly File[]): HTMLElement[] {
  const list: AttachmentInfo[] = infos.length
    ? [...infos]
    : local.map((f) => ({ kind: f.type.startsWith("image/") ? "image" : "file", mime: f.type, name: f.name, size: f.size }));
  return list.map((a, i) => {
    const el = chip(doc, a.name || a.mime || a.kind, describe(a), "turn-attachment");
    el.dataset.kind = a.kind;
    const file = local[i];
    const url = file && a.kind === "image" ? localImageUrl(file) : null;
    if (url) el.prepend(h(doc, "img", { class: "ipyllm-thumb", "data-testid": "attachment-thumb", src: url, alt: a.name || "image" }));
    return el;
  });
}
