import type { Exec } from "../../shared/host-io.js";
import { tryCommand } from "../runner/host-calls.js";

/** Drops every line matching `pattern` (rules and chain declarations) from one family's tables; resolves how many went. */
async function dropRules(exec: Exec, family: "iptables" | "ip6tables", pattern: RegExp): Promise<number> {
  const saved = await tryCommand(exec, [`${family}-save`]);
  if (saved.code !== 0) return 0;
  const lines = saved.stdout.split("\n");
  const kept = lines.filter((line) => !pattern.test(line));
  const dropped = lines.length - kept.length;
  if (dropped === 0) return 0;
  await tryCommand(exec, [`${family}-restore`], { input: kept.join("\n") });
  return dropped;
}

/**
 * Removes the iptables and ip6tables rules and chains a program groundcrew
 * installed left behind (k3s-killall.sh does the same for k3s: save, drop
 * the matching lines, restore). `owner` names them in the changes. Best effort.
 */
export async function dropIptablesLines(exec: Exec, pattern: RegExp, owner: string): Promise<string[]> {
  const changes: string[] = [];
  for (const family of ["iptables", "ip6tables"] as const) {
    const dropped = await dropRules(exec, family, pattern);
    if (dropped > 0) changes.push(`removed ${dropped} ${family} line(s) of ${owner}`);
  }
  return changes;
}
