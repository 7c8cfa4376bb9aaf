import type { HostFacts } from "../../shared/facts.js";
import { HOST_CHECKS } from "./checks.js";
import { CHECK_IDS, type CheckResult, type HostProbe, type PreflightHost } from "./types.js";

/**
 * Every preflight for every host, in CHECK_IDS order per host. Pure: reads
 * only what was probed. A host that could not be reached (or whose sudo
 * failed) fails that check, and its other checks fail as "not checked".
 */
export function runPreflights(
  hosts: readonly PreflightHost[],
  probes: ReadonlyMap<string, HostProbe>,
): CheckResult[] {
  const reached = hosts.flatMap((host) => {
    const probe = probes.get(host.name);
    return probe?.ok === true ? [{ host: host.name, facts: probe.facts }] : [];
  });
  const duplicates = {
    hostname: duplicatesOf(reached, (facts) => facts.hostname),
    "machine-id": duplicatesOf(reached, (facts) => facts.machineId),
  };
  return hosts.flatMap((host) => {
    const probe = probes.get(host.name);
    return CHECK_IDS.map((check): CheckResult => {
      const result = (status: CheckResult["status"], reason: string): CheckResult => ({
        host: host.name,
        check,
        status,
        reason,
      });
      if (probe === undefined) return result("fail", "not probed");
      if (!probe.ok) {
        if (check === probe.failedAt) return result("fail", probe.reason);
        if (check === "reach") return result("pass", "SSH works");
        return result("fail", `not checked: ${probe.failedAt} failed`);
      }
      if (check === "reach") return result("pass", "SSH works");
      if (check === "sudo") return result("pass", "root through sudo");
      if (check === "agent") return result("pass", `agent ${probe.facts.agentVersion} ran`);
      if (check === "hostname" || check === "machine-id") {
        return uniqueness(check, host.name, probe.facts, duplicates[check], result);
      }
      const verdict = HOST_CHECKS[check];
      if (verdict === undefined) return result("fail", "no such check");
      const [status, reason] = verdict(host, probe.facts, probe.clockSkewMs);
      return result(status, reason);
    });
  });
}

function duplicatesOf(
  reached: readonly { host: string; facts: HostFacts }[],
  key: (facts: HostFacts) => string,
): Map<string, string[]> {
  const byValue = new Map<string, string[]>();
  for (const { host, facts } of reached) byValue.set(key(facts), [...(byValue.get(key(facts)) ?? []), host]);
  return byValue;
}

function uniqueness(
  check: "hostname" | "machine-id",
  host: string,
  facts: HostFacts,
  byValue: Map<string, string[]>,
  result: (status: CheckResult["status"], reason: string) => CheckResult,
): CheckResult {
  const value = check === "hostname" ? facts.hostname : facts.machineId;
  if (value === "")
    return result(
      "fail",
      `no ${check}: ${check === "machine-id" ? "run systemd-machine-id-setup" : "set one"}`,
    );
  const others = (byValue.get(value) ?? []).filter((name) => name !== host);
  if (others.length > 0) {
    const advice = check === "machine-id" ? " (cloned image? regenerate /etc/machine-id)" : "";
    return result("fail", `${value} is also on ${others.join(", ")}${advice}`);
  }
  return result("pass", value);
}
