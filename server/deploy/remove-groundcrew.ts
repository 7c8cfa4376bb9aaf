import type { Exec } from "../../shared/host-io.js";
import { AGENT_UNIT_NAME, AGENT_UNIT_PATH, DEPOT_UNIT_NAME, DEPOT_UNIT_PATH, HOST_ROOT } from "./layout.js";

/**
 * Removes groundcrew itself from a host, after its steps were undone: the
 * agent and depot units (stopped, disabled, unit files deleted), everything
 * under /var/lib/groundcrew (agent, ledger, outbox, artifact store, depot
 * config) and the agent copy in the login user's cache (`home`). Best
 * effort and idempotent: what is already gone is not an error. Returns what
 * it removed and the problems it met.
 */
export async function removeGroundcrew(
  root: Exec,
  login: Exec,
  home: string,
): Promise<{ removed: string[]; problems: string[] }> {
  const removed: string[] = [];
  const problems: string[] = [];
  for (const [unit, file] of [
    [AGENT_UNIT_NAME, AGENT_UNIT_PATH],
    [DEPOT_UNIT_NAME, DEPOT_UNIT_PATH],
  ] as const) {
    const present = await root.run(["test", "-e", file]);
    if (present.code !== 0) continue;
    await root.run(["systemctl", "disable", "--now", "--quiet", unit]);
    const deleted = await root.run(["rm", "-f", "--", file]);
    if (deleted.code === 0) removed.push(file);
    else problems.push(`cannot remove ${file}: ${deleted.stderr.trim()}`);
  }
  if (removed.length > 0) {
    await root.run(["systemctl", "daemon-reload"]);
    await root.run(["systemctl", "reset-failed", AGENT_UNIT_NAME, DEPOT_UNIT_NAME]);
  }
  for (const [exec, dir] of [
    [root, HOST_ROOT],
    [login, `${home}/.cache/groundcrew`],
  ] as const) {
    if ((await exec.run(["test", "-e", dir])).code !== 0) continue;
    const deleted = await exec.run(["rm", "-rf", "--", dir]);
    if (deleted.code === 0) removed.push(dir);
    else problems.push(`cannot remove ${dir}: ${deleted.stderr.trim()}`);
  }
  return { removed, problems };
}
