import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { FatalError } from "./fatal.js";

/**
 * A k3s join token. Secure ("full") form: `K10<sha256 hex of the cluster CA
 * bundle>::<username>:<password>`; short form: just `<password>`. The
 * username is `server` in the server token and `node` in a separate agent
 * token; a short token gets `server` on a server and `node` on an agent.
 */
export interface JoinToken {
  /** Absent in the short form: the joining node then trusts the CA it is shown. */
  readonly caHash?: string;
  readonly username: string;
  readonly password: string;
}

const SECURE = /^K10([0-9a-f]{64})::([^:]+):(.+)$/;

/** Parses a token as given in config; `role` decides the username of a short token. */
export function parseToken(raw: string, shortUsername: "server" | "node"): JoinToken {
  const text = raw.trim();
  if (text.startsWith("K10")) {
    const match = SECURE.exec(text);
    if (match === null) {
      throw new FatalError(
        "failed to normalize server token; must be in format K10<CA-HASH>::<USERNAME>:<PASSWORD> or <PASSWORD>",
      );
    }
    return { caHash: match[1] ?? "", username: match[2] ?? "", password: match[3] ?? "" };
  }
  if (text === "" || text.includes("::")) {
    throw new FatalError(
      "failed to normalize server token; must be in format K10<CA-HASH>::<USERNAME>:<PASSWORD> or <PASSWORD>",
    );
  }
  return { username: shortUsername, password: text };
}

/** The secure form of a token. */
export function formatToken(caHash: string, username: string, password: string): string {
  return `K10${caHash}::${username}:${password}`;
}

/** The hash joining nodes compare: sha256 (hex) of the exact bytes `/cacerts` serves. */
export function caHashOf(caBundle: string): string {
  return createHash("sha256").update(caBundle).digest("hex");
}

/** A random password as k3s generates them: 32 lowercase hex characters. */
export function randomPassword(): string {
  return randomBytes(16).toString("hex");
}

/** Constant-time comparison of two secrets. */
export function sameSecret(a: string, b: string): boolean {
  const left = createHash("sha256").update(a).digest();
  const right = createHash("sha256").update(b).digest();
  return timingSafeEqual(left, right);
}
