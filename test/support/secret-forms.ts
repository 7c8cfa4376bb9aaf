/**
 * Every form a secret could be written in: itself, JSON-escaped (once and
 * twice: a JSON line that quotes a JSON text), base64 (std, url), hex, and
 * each line of a multi-line secret (a key) but its PEM armour.
 */
export function secretForms(secret: string): string[] {
  const lines = secret.split("\n").filter((line) => line.length >= 6 && !line.startsWith("-----"));
  const escaped = JSON.stringify(secret).slice(1, -1);
  return [
    ...new Set([
      secret,
      escaped,
      JSON.stringify(escaped).slice(1, -1),
      Buffer.from(secret).toString("base64"),
      Buffer.from(secret).toString("base64url"),
      Buffer.from(secret).toString("hex"),
      ...lines,
    ]),
  ];
}

/** The secret forms found in `bytes`, searched byte for byte, by name: empty when none is. */
export function secretLeaks(bytes: Buffer | string, secrets: Readonly<Record<string, string>>): string[] {
  const haystack = typeof bytes === "string" ? Buffer.from(bytes) : bytes;
  return Object.entries(secrets).flatMap(([name, secret]) =>
    secretForms(secret)
      .filter((form) => haystack.includes(Buffer.from(form)))
      .map((form) => `${name} (${form === secret ? "as is" : form.slice(0, 12)}…)`),
  );
}
