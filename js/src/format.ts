/** Display strings for numbers and statuses shown in the panel. */

export const DASH = "—";

const COST = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 4, useGrouping: false });

/** USD with 4 significant digits ("$0.001234"); "—" when unknown. */
export function formatCost(cost: number | null | undefined): string {
  if (cost === null || cost === undefined || !Number.isFinite(cost)) return DASH;
  return `$${COST.format(cost)}`;
}

export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return DASH;
  return String(Math.round(n));
}

/** Seconds: "0.42 s", "12.3 s", "2m 05s"; "—" when unknown. */
export function formatSeconds(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return DASH;
  if (s < 10) return `${s.toFixed(2)} s`;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  const rest = Math.round(s - m * 60);
  return `${m}m ${String(rest).padStart(2, "0")}s`;
}

/** The key-status text of the settings pane: the words of `%llm keys` and
 * `ipyllm.keys.status()` (`KeyStatus.text` in the kernel). */
export function keyStatusText(key: string): string {
  switch (key) {
    case "none":
      return "not needed";
    case "unusable":
      return "keyring unusable";
    default:
      return key;
  }
}

/** How the model picker labels a provider's key. */
export function keyStatusLabel(key: string): string {
  switch (key) {
    case "keyring":
      return "key in keyring";
    case "env":
      return "key from env";
    case "missing":
      return "missing key";
    case "none":
      return "no key needed";
    case "unusable":
      return "missing key (keyring unusable)";
    default:
      return key;
  }
}
