import { describe, expect, it } from "vitest";

import { keyStatusLabel, keyStatusText } from "../src/format.js";

// The words of ipyllm.keys.KeyStatus.text (tests/test_keys_unusable.py checks the pairs).
const WORDS: Record<string, string> = {
  keyring: "keyring",
  env: "env",
  missing: "missing",
  none: "not needed",
  unusable: "keyring unusable",
};

describe("key status", () => {
  it("shows the kernel's words for every code", () => {
    for (const [code, words] of Object.entries(WORDS)) expect(keyStatusText(code)).toBe(words);
  });

  it("labels an unusable keyring in the model picker", () => {
    expect(keyStatusLabel("unusable")).toContain("keyring unusable");
    expect(keyStatusLabel("none")).toBe("no key needed");
  });
});
