import { createPrivateKey } from "node:crypto";

/**
 * Every form an RSA private key (PEM) could be written in, by name: the PEM,
 * each of its base64 lines, PKCS#8 and PKCS#1 DER, their base64, base64url
 * and hex forms, and the raw private exponent and primes (found inside any
 * DER encoding of the key).
 */
export function privateKeyForms(pem: string): Map<string, Buffer> {
  const key = createPrivateKey(pem);
  const pkcs8 = key.export({ type: "pkcs8", format: "der" });
  const pkcs1 = key.export({ type: "pkcs1", format: "der" });
  const jwk = key.export({ format: "jwk" });
  const forms = new Map<string, Buffer>([
    ["PEM", Buffer.from(pem)],
    ["PKCS#8 DER", pkcs8],
    ["PKCS#1 DER", pkcs1],
    ["PKCS#8 DER base64", Buffer.from(pkcs8.toString("base64"))],
    ["PKCS#1 DER base64", Buffer.from(pkcs1.toString("base64"))],
    ["PKCS#8 DER base64url", Buffer.from(pkcs8.toString("base64url"))],
    ["PKCS#8 DER hex", Buffer.from(pkcs8.toString("hex"))],
  ]);
  for (const part of ["d", "p", "q"] as const) {
    const value = jwk[part];
    if (value === undefined) throw new Error(`not an RSA private key: it has no ${part}`);
    forms.set(`private ${part} (raw)`, Buffer.from(value, "base64url"));
    forms.set(`private ${part} (base64url)`, Buffer.from(value));
  }
  pem
    .split("\n")
    .filter((line) => line.length >= 16 && !line.startsWith("-----"))
    .forEach((line, index) => forms.set(`PEM line ${index + 1}`, Buffer.from(line)));
  return forms;
}

/** The names of the forms found in `haystack`; empty when none is. */
export function formsFound(haystack: Buffer, forms: ReadonlyMap<string, Buffer>): string[] {
  return [...forms].filter(([, needle]) => haystack.includes(needle)).map(([name]) => name);
}
