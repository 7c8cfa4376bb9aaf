import type { Secret } from "./secret.js";

export const REDACTED = "[redacted]";

/** Shorter secrets are not looked for: they would rewrite ordinary words. */
export const MIN_REDACTED_LENGTH = 6;

/**
 * Removes known secrets from text that leaves the process (the journal, the
 * terminal). Secrets are added as they become known (the sudo passwords, the
 * k3s token once resolved, a private key once issued). For each it looks for:
 * - the text itself;
 * - each line of a multi-line secret on its own, but a PEM's armour (an
 *   error that joins a command's output lines with " | " cuts a key into
 *   its lines);
 * - its base64 and base64url forms at any alignment (a token inside an
 *   encoded Authorization header, a Kubernetes Secret, a kubeconfig): the
 *   part of the encoding that depends on the secret's bytes alone.
 * Matches are replaced by "[redacted]", the longest at a place first.
 */
export class Redactor {
  readonly #needles = new Set<string>();
  #pattern: RegExp | undefined;

  constructor(secrets: Iterable<Secret> = []) {
    for (const secret of secrets) this.add(secret);
  }

  add(secret: Secret): void {
    const value = secret.reveal();
    // A PEM's armour lines ("-----BEGIN ... KEY-----") name the kind of key, they are not the key.
    const lines = value.includes("\n")
      ? value
          .split(/\r?\n/)
          .map((line) => line.trim())
          .filter((line) => !line.startsWith("-----"))
      : [];
    const candidates = [value, ...lines, ...base64Cores(value)];
    for (const needle of candidates) {
      if (needle.length >= MIN_REDACTED_LENGTH) this.#needles.add(needle);
    }
    const alternatives = [...this.#needles]
      .sort((a, b) => b.length - a.length)
      .map((needle) => needle.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&"));
    this.#pattern = alternatives.length === 0 ? undefined : new RegExp(alternatives.join("|"), "g");
  }

  redact(text: string): string {
    return this.#pattern === undefined ? text : text.replace(this.#pattern, REDACTED);
  }
}

/**
 * The base64 (and base64url) characters that encode `value`'s bytes and
 * nothing else, for each of the three alignments the value can have inside a
 * longer encoded text: those characters appear in any such encoding.
 */
function base64Cores(value: string): string[] {
  const bytes = Buffer.from(value, "utf8");
  const cores: string[] = [];
  for (let offset = 0; offset < 3; offset++) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString("base64");
    const first = Math.ceil((offset * 8) / 6);
    const end = Math.floor(((offset + bytes.length) * 8) / 6);
    const core = encoded.slice(first, end);
    cores.push(core, core.replace(/\+/g, "-").replace(/\//g, "_"));
  }
  return cores;
}
