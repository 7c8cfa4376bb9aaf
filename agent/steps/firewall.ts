import { z } from "zod";
import type { Exec } from "../../shared/host-io.js";
import { firewallRuleSchema, type FirewallRule } from "../ledger/record.js";
import { undoRecorded } from "../ledger/undo.js";
import { mustRun, tryCommand } from "../runner/host-calls.js";
import { defineStep } from "../runner/step.js";
import { StepError } from "../runner/step-error.js";

const wantedRuleSchema = firewallRuleSchema.omit({ tool: true });
const paramsSchema = z.object({ rules: z.array(wantedRuleSchema).max(64) }).strict();
export type WantedRule = z.infer<typeof wantedRuleSchema>;
type Tool = FirewallRule["tool"];

/** Which host firewall is active, if any (Debian has none by default; Ubuntu may run ufw). */
export async function activeFirewall(exec: Exec): Promise<Tool | undefined> {
  const ufw = await tryCommand(exec, ["ufw", "status"]);
  if (ufw.code === 0 && /^Status: active/m.test(ufw.stdout)) return "ufw";
  const firewalld = await tryCommand(exec, ["firewall-cmd", "--state"]);
  if (firewalld.code === 0 && firewalld.stdout.trim() === "running") return "firewalld";
  return undefined;
}

/** ufw's own words for a rule: `allow proto tcp from 10.0.0.0/8 to any port 6443`. */
export function ufwRule(rule: WantedRule): string[] {
  const from = ["from", rule.source ?? "any"];
  if (rule.port === "any") return ["allow", ...from];
  return ["allow", "proto", rule.protocol, ...from, "to", "any", "port", rule.port.replace("-", ":")];
}

/**
 * The rule as `ufw show added` prints it (ufw's UFWCommandRule.get_command):
 * `allow 6443/tcp` when only a port is given, `allow from 10.0.0.0/8 to any
 * port 6443 proto tcp` with a source, `allow from 10.42.0.0/16` for every port.
 */
export function ufwAddedRule(rule: WantedRule): string {
  const port = rule.port.replace("-", ":");
  if (rule.port === "any") return rule.source === undefined ? "allow to any" : `allow from ${rule.source}`;
  if (rule.source === undefined) return `allow ${port}/${rule.protocol}`;
  return `allow from ${rule.source} to any port ${port} proto ${rule.protocol}`;
}

function firewalldArgs(rule: WantedRule, verb: "add" | "remove" | "query"): string[] {
  if (rule.port === "any") return ["--zone=trusted", `--${verb}-source`, rule.source ?? "0.0.0.0/0"];
  return [`--${verb}-port`, `${rule.port}/${rule.protocol}`];
}

async function present(exec: Exec, tool: Tool, rule: WantedRule): Promise<boolean> {
  if (tool === "firewalld") {
    return (await tryCommand(exec, ["firewall-cmd", ...firewalldArgs(rule, "query")])).code === 0;
  }
  const added = await tryCommand(exec, ["ufw", "show", "added"]);
  return added.stdout.split("\n").some((line) => line.trim() === `ufw ${ufwAddedRule(rule)}`);
}

async function missingRules(exec: Exec, tool: Tool, rules: readonly WantedRule[]): Promise<WantedRule[]> {
  const missing: WantedRule[] = [];
  for (const rule of rules) if (!(await present(exec, tool, rule))) missing.push(rule);
  return missing;
}

function describe(rule: WantedRule): string {
  const port = rule.port === "any" ? "all ports" : `${rule.port}/${rule.protocol}`;
  return rule.source === undefined ? port : `${port} from ${rule.source}`;
}

/** Adds one rule now and for later boots. */
async function addRule(exec: Exec, tool: Tool, rule: WantedRule): Promise<void> {
  if (tool === "ufw") {
    await mustRun(exec, ["ufw", ...ufwRule(rule)]);
    return;
  }
  await mustRun(exec, ["firewall-cmd", "--permanent", ...firewalldArgs(rule, "add")]);
  await mustRun(exec, ["firewall-cmd", ...firewalldArgs(rule, "add")]);
}

/** Deletes one rule groundcrew added; a rule already gone is fine. */
export async function deleteRule(exec: Exec, rule: FirewallRule): Promise<void> {
  if (rule.tool === "ufw") {
    await tryCommand(exec, ["ufw", "delete", ...ufwRule(rule)]);
    return;
  }
  await tryCommand(exec, ["firewall-cmd", "--permanent", ...firewalldArgs(rule, "remove")]);
  await tryCommand(exec, ["firewall-cmd", ...firewalldArgs(rule, "remove")]);
}

/**
 * H5: the ports k3s, etcd, flannel, the kubelet and the depot need, opened
 * in the host firewall when one is active (ufw or firewalld); with none
 * active there is nothing to open. Rules that are already there (the
 * operator's) are left out of the ledger, so undo deletes only the rules
 * groundcrew added.
 */
export const firewallStep = defineStep({
  id: "host.firewall",
  params: paramsSchema,
  probes: [
    ["ufw", "status"],
    ["ufw", "show", "added"],
    ["firewall-cmd", "--state"],
    ["firewall-cmd", "--query-port"],
    ["firewall-cmd", "--zone=trusted", "--query-source"],
  ],
  title: (params) => `Open ${params.rules.length} port rule(s) in the host firewall, if one is active`,

  async check({ exec, params }) {
    const tool = await activeFirewall(exec);
    if (tool === undefined) return { done: true, reason: "no host firewall (ufw, firewalld) is active" };
    const missing = await missingRules(exec, tool, params.rules);
    if (missing.length === 0) return { done: true, reason: `${tool} allows every port the cluster needs` };
    return { done: false, reason: `${tool} does not allow ${missing.map(describe).join(", ")}` };
  },

  async apply({ exec, ledger, params }) {
    const tool = await activeFirewall(exec);
    if (tool === undefined) return { changes: [] };
    const changes: string[] = [];
    for (const rule of await missingRules(exec, tool, params.rules)) {
      const entry: FirewallRule = { tool, ...rule };
      await ledger.update((record) => ({ ...record, firewallRules: [...record.firewallRules, entry] }));
      await addRule(exec, tool, rule);
      changes.push(`${tool}: allowed ${describe(rule)}`);
    }
    return { changes };
  },

  async verify({ exec, params }) {
    const tool = await activeFirewall(exec);
    if (tool === undefined) return;
    const missing = await missingRules(exec, tool, params.rules);
    if (missing.length > 0) {
      throw new StepError(
        "STEP_VERIFY_FAILED",
        `${tool} still does not allow ${missing.map(describe).join(", ")}`,
      );
    }
  },

  async undo({ exec, fs, ledger }) {
    const changes: string[] = [];
    for (const rule of (await ledger.read())?.firewallRules ?? []) {
      await deleteRule(exec, rule);
      changes.push(`${rule.tool}: deleted the rule for ${describe(rule)}`);
      await ledger.update((record) => ({
        ...record,
        firewallRules: record.firewallRules.filter((entry) => JSON.stringify(entry) !== JSON.stringify(rule)),
      }));
    }
    changes.push(...(await undoRecorded({ exec, fs, ledger })));
    return { changes };
  },
});
