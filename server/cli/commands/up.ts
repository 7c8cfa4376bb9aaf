import type { Command } from "commander";
import { terminalSafe } from "../../../shared/terminal-safe.js";
import { renderClusterReport } from "../render-cluster-report.js";
import { formatBytes } from "../../../shared/format-bytes.js";
import { loadPublicKey } from "../../bundle/signature.js";
import { loadInventory } from "../../inventory/load.js";
import type { Inventory } from "../../inventory/types.js";
import { dryRun, up, type UpResult } from "../../orchestrate/up.js";
import { parsePort, type CliIo } from "../io.js";
import { renderCheckReport } from "../render-check.js";
import { isVerbose, VERBOSE_HELP } from "../verbose.js";
import { fleetRun, runHostCommand, type HostCommandContext } from "../host-command.js";

export const DEFAULT_AGENT_PORT = 7443;

export interface UpFlags {
  readonly inventory: string;
  readonly dryRun?: boolean;
  readonly acceptNewHostKeys?: boolean;
  readonly concurrency: string;
  readonly port?: string;
  readonly hostGrace: string;
  readonly json?: boolean;
  readonly bundle?: string;
  readonly trust?: string[];
  /** Debug lines on stderr and in the log file. */
  readonly verbose?: boolean;
}

export function registerUpCommand(program: Command, io: CliIo): void {
  program
    .command("up")
    .description("provision every host of the inventory; progress streams live into the journal")
    .requiredOption("-i, --inventory <file>", "inventory (YAML, or an Ansible INI inventory)")
    .option("--dry-run", "run `check` and each step's own check; print what would change; change nothing")
    .option("--accept-new-host-keys", "pin the SSH host key of hosts seen for the first time")
    .option("--concurrency <n>", "hosts worked on at once", "10")
    .option(
      "--port <port>",
      `port agents dial back to (default: inventory provisioner.port, else ${DEFAULT_AGENT_PORT})`,
    )
    .option(
      "--host-grace <seconds>",
      "how long a host may be out of contact (e.g. rebooting) before it is lost",
      "180",
    )
    .option(
      "-b, --bundle <bundle>",
      "offline bundle (directory, .tar or .tar.zst), verified before any host is touched",
    )
    .option(
      "--trust <public-key...>",
      "ed25519 public key(s) the bundle must be signed with (default: the inventory's bundle.trust)",
    )
    .option("--json", "print events as JSON lines")
    .option("--verbose", VERBOSE_HELP)
    .action(async (flags: UpFlags, self: Command) => {
      const ok = await runUpCommand({ ...flags, verbose: isVerbose(self) }, io);
      if (!ok) process.exitCode = 1;
    });
}

/**
 * Resolves true when every host succeeded (or, for --dry-run, when the checks
 * passed). Everything it prints, logs (server/log/) and the error it throws
 * has the run's secrets redacted (server/orchestrate/redaction.ts).
 */
export async function runUpCommand(flags: UpFlags, terminal: CliIo): Promise<boolean> {
  const inventory = await loadInventory(flags.inventory);
  return runHostCommand("up", inventory, terminal, flags.verbose === true, (context) =>
    runUp(flags, inventory, context),
  );
}

async function runUp(
  flags: UpFlags,
  inventory: Inventory,
  { io, sudoPasswords, redactor, log }: HostCommandContext,
): Promise<boolean> {
  const names = inventory.hosts.map((host) => host.name);
  const { view, options } = await fleetRun(flags, inventory, { io, sudoPasswords, redactor, log });
  const common = {
    ...options,
    ...(flags.bundle === undefined
      ? {}
      : {
          bundle: {
            location: flags.bundle,
            trustedKeys: await Promise.all((flags.trust ?? inventory.bundle.trust).map(loadPublicKey)),
          },
        }),
  };
  if (flags.dryRun === true) return report(await dryRun(common), names, io, flags.json === true);
  const controller = new AbortController();
  const interrupt = (): void => {
    io.progress("interrupted: the agents keep working; run `up` again to resume");
    controller.abort();
  };
  process.once("SIGINT", interrupt);
  try {
    const result = await up({
      ...common,
      port:
        flags.port !== undefined ? parsePort(flags.port) : (inventory.provisioner.port ?? DEFAULT_AGENT_PORT),
      hostGraceMs: Number(flags.hostGrace) * 1000,
      signal: controller.signal,
    });
    view.close();
    return report(result, names, io, flags.json === true);
  } finally {
    process.removeListener("SIGINT", interrupt);
  }
}

function report(result: UpResult, names: readonly string[], io: CliIo, json: boolean): boolean {
  switch (result.kind) {
    case "checks-failed":
      io.out(renderCheckReport(names, result.results));
      io.out("nothing was changed: fix the failed checks and run again\n");
      return false;
    case "dry-run":
      for (const [host, steps] of result.plans) {
        const changes = steps.filter((step) => !step.done);
        io.out(
          `${terminalSafe(host)}: ${changes.length === 0 ? "no changes" : `${changes.length} step(s) would change`}\n`,
        );
        for (const step of steps) {
          io.out(`  ${step.done ? "ok  " : "would"} ${step.stepId}: ${terminalSafe(step.reason)}\n`);
        }
      }
      return true;
    case "ran": {
      const failed = [...result.outcomes].filter(([, outcome]) => outcome !== "succeeded");
      const { sshBytes, artifactsOverSsh, artifactsOverHttps } = result.uplink;
      io.out(
        json
          ? `${JSON.stringify({ uplink: result.uplink })}\n`
          : `uplink: ${formatBytes(sshBytes)} over SSH (artifacts to the depot: ${formatBytes(artifactsOverSsh)}), ` +
              `${formatBytes(artifactsOverHttps)} of artifacts served to hosts directly\n`,
      );
      io.out(
        failed.length === 0
          ? `run ${result.runId}: all ${result.outcomes.size} host(s) succeeded\n`
          : `run ${result.runId}: ${failed.map(([host, outcome]) => `${terminalSafe(host)} ${outcome}`).join(", ")}\n` +
              `see: groundcrew status --run ${result.runId}; groundcrew logs HOST --run ${result.runId}\n`,
      );
      const cluster = result.cluster;
      if (cluster !== undefined && json) io.out(`${JSON.stringify({ cluster })}\n`);
      else if (cluster !== undefined) {
        if (cluster.report !== undefined) io.out(renderClusterReport(cluster.report));
        io.out(
          cluster.ok
            ? `cluster: ready, ${cluster.nodes} node(s); kubeconfig: ${cluster.kubeconfig}\n`
            : `cluster: ${terminalSafe(cluster.problem)}\n`,
        );
      }
      return failed.length === 0 && cluster?.ok !== false;
    }
  }
}
