import { mkdir } from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";

/**
 * Where groundcrew keeps its state on the provisioner (PKI, journal, lab keys):
 * $GROUNDCREW_STATE_DIR, else $XDG_STATE_HOME/groundcrew, else
 * ~/.local/state/groundcrew. Created 0700: it holds private keys.
 */
export function stateDirPath(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env["GROUNDCREW_STATE_DIR"];
  if (explicit !== undefined && explicit !== "") return path.resolve(explicit);
  const xdg = env["XDG_STATE_HOME"];
  const base = xdg !== undefined && xdg !== "" ? xdg : path.join(homedir(), ".local", "state");
  return path.join(base, "groundcrew");
}

export async function ensurePrivateDir(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}
