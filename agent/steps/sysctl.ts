import { z } from "zod";
import type { ReadonlyFs } from "../../shared/host-io.js";
import { holdsContent } from "../ledger/hash.js";
import { writeOwnedFile } from "../ledger/owned-files.js";
import { withSysctl } from "../ledger/record.js";
import { sysctlPath } from "../ledger/sysctl-path.js";
import { undoRecorded } from "../ledger/undo.js";
import { fileOp, mustRun } from "../runner/host-calls.js";
import { defineStep } from "../runner/step.js";
import { StepError } from "../runner/step-error.js";

export const SYSCTL_FILE = "/etc/sysctl.d/90-groundcrew-k8s.conf";

const paramsSchema = z.object({ ipv6: z.boolean().default(false) }).strict();
type SysctlParams = z.infer<typeof paramsSchema>;

/** The kernel parameters k3s needs, in file order. */
export function wantedSysctls(params: SysctlParams): [key: string, value: string][] {
  return [
    ["net.ipv4.ip_forward", "1"],
    ["net.bridge.bridge-nf-call-iptables", "1"],
    ["net.bridge.bridge-nf-call-ip6tables", "1"],
    ...(params.ipv6 ? [["net.ipv6.conf.all.forwarding", "1"] as [string, string]] : []),
  ];
}

export function renderSysctlFile(params: SysctlParams): string {
  const lines = wantedSysctls(params).map(([key, value]) => `${key} = ${value}`);
  return ["# Written by groundcrew (host.sysctl): kernel parameters for k3s.", ...lines, ""].join("\n");
}

/** Each wanted key with its running value (trimmed), or undefined when /proc/sys has no such file. */
async function runningValues(fs: ReadonlyFs, params: SysctlParams) {
  return Promise.all(
    wantedSysctls(params).map(async ([key, wanted]) => {
      const path = sysctlPath(key);
      const current = (await fileOp("read", path, () => fs.readTextIfExists(path)))?.trim();
      return { key, wanted, path, current };
    }),
  );
}

function unavailable(key: string, path: string): StepError {
  const hint = key.startsWith("net.bridge.")
    ? " (br_netfilter is not loaded: run host.kernel-modules first)"
    : "";
  return new StepError("SYSCTL_UNAVAILABLE", `${key} does not exist on this host: no ${path}${hint}`, {
    context: { key, path },
  });
}

/**
 * H4: forwarding and bridge netfilter sysctls, now and at boot. Done when
 * /etc/sysctl.d/90-groundcrew-k8s.conf holds the wanted content and every
 * running value (/proc/sys) equals the wanted one. Apply reads every key
 * first (SYSCTL_UNAVAILABLE before any change when one is missing), records
 * the previous values in the ledger, writes the file, then `sysctl -p <file>`.
 * Undo deletes the file and writes the previous values back.
 */
export const sysctlStep = defineStep({
  id: "host.sysctl",
  params: paramsSchema,
  title: (params) => `Set kernel parameters for k3s${params.ipv6 ? " (with IPv6 forwarding)" : ""}`,

  async check({ fs, params }) {
    const [written, values] = await Promise.all([
      holdsContent(fs, SYSCTL_FILE, renderSysctlFile(params)),
      runningValues(fs, params),
    ]);
    const reasons = [
      ...(written ? [] : [`${SYSCTL_FILE} is missing or differs`]),
      ...values
        .filter(({ current, wanted }) => current !== wanted)
        .map(({ key, current, wanted }) =>
          current === undefined ? `${key} does not exist` : `${key} is ${current}, wanted ${wanted}`,
        ),
    ];
    const done = reasons.length === 0;
    return { done, reason: done ? `${SYSCTL_FILE} is in place and every value is set` : reasons.join("; ") };
  },

  async apply({ exec, fs, ledger, params }) {
    const values = await runningValues(fs, params);
    const missing = values.find(({ current }) => current === undefined);
    if (missing !== undefined) throw unavailable(missing.key, missing.path);
    const changed = values.filter(({ current, wanted }) => current !== wanted);
    await ledger.update((record) =>
      changed.reduce(
        (next, { key, current, wanted }) =>
          withSysctl(next, { key, previous: current ?? "", applied: wanted }),
        record,
      ),
    );
    const changes: string[] = [];
    if (await writeOwnedFile({ fs, ledger }, SYSCTL_FILE, renderSysctlFile(params), 0o644)) {
      changes.push(`wrote ${SYSCTL_FILE}`);
    }
    await mustRun(exec, ["sysctl", "-p", SYSCTL_FILE]);
    changes.push(
      ...changed.map(({ key, current, wanted }) => `set ${key}=${wanted} (was ${current ?? "?"})`),
    );
    return { changes };
  },

  async verify({ fs, params }) {
    for (const { key, wanted, path, current } of await runningValues(fs, params)) {
      if (current === undefined) throw unavailable(key, path);
      if (current !== wanted) {
        throw new StepError("SYSCTL_MISMATCH", `${key} is ${current}, wanted ${wanted} (${path})`, {
          context: { key, path },
        });
      }
    }
    if (!(await holdsContent(fs, SYSCTL_FILE, renderSysctlFile(params)))) {
      throw new StepError("STEP_VERIFY_FAILED", `${SYSCTL_FILE} does not hold the wanted parameters`, {
        context: { path: SYSCTL_FILE },
      });
    }
  },

  async undo({ exec, fs, ledger }) {
    return { changes: await undoRecorded({ exec, fs, ledger }) };
  },
});
