import { mkdir, readdir } from "node:fs/promises";
import { info } from "./log.js";

/**
 * What k3s does with its auto-deploy folder at start, minus applying: makes
 * the folder (every server has one), logs the packaged components disabled
 * and each manifest found there.
 */
export async function logManifests(dir: string, disabled: readonly string[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const component of disabled) info(`Disabling packaged component ${component}`);
  for (const name of (await readdir(dir)).sort()) {
    if (name.endsWith(".yaml") || name.endsWith(".yml") || name.endsWith(".json")) {
      info(`Found manifest ${dir}/${name} (test double: not applied)`);
    }
  }
}
