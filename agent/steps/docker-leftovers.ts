import type { Exec } from "../../shared/host-io.js";
import type { StepLedger } from "../ledger/ledger.js";
import type { LedgerRecord } from "../ledger/record.js";
import { mustRun, tryCommand } from "../runner/host-calls.js";
import { dropIptablesLines } from "./iptables-cleanup.js";

/**
 * iptables-save lines dockerd makes: its chains (DOCKER, DOCKER-USER,
 * DOCKER-ISOLATION-STAGE-1, DOCKER-FORWARD, ...), the jumps to them and
 * docker0's rules. Not DOCKER_OUTPUT / DOCKER_POSTROUTING: those hold the
 * embedded DNS of an engine outside this host (the host is then a container
 * on a user-defined network) and are not ours to remove.
 */
export const DOCKER_RULES = /(?<!\w)DOCKER(?:-[A-Z0-9-]+)?(?!\w)|docker0/;

/**
 * What a stopped dockerd leaves in the kernel: its bridge and its iptables
 * chains. Call only for a Docker groundcrew installed. Best effort; resolves
 * the changes made.
 */
export async function removeDockerKernelState(exec: Exec): Promise<string[]> {
  const changes: string[] = [];
  if ((await tryCommand(exec, ["ip", "link", "show", "docker0"])).code === 0) {
    await tryCommand(exec, ["ip", "link", "delete", "docker0"]);
    changes.push("deleted docker0");
  }
  changes.push(...(await dropIptablesLines(exec, DOCKER_RULES, "Docker (DOCKER chains, docker0)")));
  return changes;
}

/** Deletes the system groups the ledger says the step created (once each, even across a cut-short undo). */
export async function removeRecordedGroups(
  exec: Exec,
  ledger: StepLedger,
  record: LedgerRecord,
): Promise<string[]> {
  const changes: string[] = [];
  for (const group of record.groups) {
    if ((await tryCommand(exec, ["getent", "group", group])).code === 0) {
      await mustRun(exec, ["groupdel", group]);
      changes.push(`removed group ${group}`);
    }
    await ledger.update((r) => ({ ...r, groups: r.groups.filter((entry) => entry !== group) }));
  }
  return changes;
}
