import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { GroundcrewError } from "../../shared/errors.js";
import { Secret } from "../../shared/secret.js";
import type { TokenSource } from "../inventory/types.js";

/** Where a generated token is kept, so every later `up` joins hosts to the same cluster. */
export function generatedTokenPath(stateDir: string): string {
  return path.join(stateDir, "k3s-token");
}

/**
 * The cluster's join token from the inventory's source: an environment
 * variable, a file, the plaintext value the file opted in to, or (the
 * default) one generated once and kept 0600 in the state directory. The
 * short (password) form, which k3s accepts on the first server. Throws
 * INVENTORY_INVALID naming the variable or file when it is missing or empty.
 */
export async function resolveToken(
  source: TokenSource,
  stateDir: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<Secret> {
  switch (source.source) {
    case "value":
      return source.value;
    case "env": {
      const value = env[source.env]?.trim();
      if (value === undefined || value === "") {
        throw new GroundcrewError(
          "INVENTORY_INVALID",
          `the k3s token variable ${source.env} is not set or empty`,
        );
      }
      return new Secret(value);
    }
    case "file": {
      const value = (await readFile(source.path, "utf8").catch(() => "")).trim();
      if (value === "") {
        throw new GroundcrewError(
          "INVENTORY_INVALID",
          `the k3s token file ${source.path} is missing or empty`,
        );
      }
      return new Secret(value);
    }
    case "generate": {
      const file = generatedTokenPath(stateDir);
      const kept = (await readFile(file, "utf8").catch(() => "")).trim();
      if (kept !== "") return new Secret(kept);
      const fresh = randomBytes(24).toString("hex");
      await writeFile(file, `${fresh}\n`, { mode: 0o600, flag: "wx" }).catch((error: unknown) => {
        if (error instanceof Error && "code" in error && error.code === "EEXIST") return;
        throw error;
      });
      return new Secret((await readFile(file, "utf8")).trim());
    }
  }
}
