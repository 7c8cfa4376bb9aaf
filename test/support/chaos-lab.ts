import { spawn } from "node:child_process";
import path from "node:path";
import { expect } from "vitest";
import { z } from "zod";
import { eventEnvelopeSchema, type EventEnvelope } from "../../shared/protocol.js";
import { AGENT_STATE_DIR, AGENT_UNIT_NAME } from "../../server/deploy/layout.js";
import { hostFigures, parseOutboxListing, type HostFigures, type OutboxCount } from "./chaos-figures.js";
import { startLabFleet, type LabFleet } from "./lab-fleet.js";
import { CliProcess } from "./up-process.js";

/** Fixed, so agents find a restarted provisioner; distinct from the other lab tests' ports. */
export const CHAOS_PORT = "17480";
/** test/doubles/hold/sysctl.sh on a host: before procps' /usr/sbin/sysctl on systemd's PATH. */
const HOLD_DOUBLE = "/usr/local/sbin/sysctl";
/** While this exists, host.sysctl's `sysctl -p` holds (see the double). Under /run: a boot releases it. */
export const HOLD_MARKER = "/run/groundcrew-test-hold/sysctl";
/** The double writes its pid here while it holds. */
const HOLDING = "/run/groundcrew-test-hold/holding";
const FINAL_KINDS = new Set(["step.succeeded", "step.skipped", "step.failed"]);

const statusSchema = z.object({
  run: z.object({ id: z.string(), outcome: z.string().nullable() }),
  hosts: z.array(
    z.object({
      host: z.string(),
      state: z.string(),
      currentStep: z.object({ stepId: z.string() }).nullable(),
      lastSeq: z.number(),
      lost: z.object({ at: z.string(), reason: z.string() }).nullable(),
    }),
  ),
});
export type ChaosStatus = z.infer<typeof statusSchema>;

/** The final result events (succeeded, skipped, failed) of one host's step. */
export function finalsOf(events: readonly EventEnvelope[], host: string, stepId: string): EventEnvelope[] {
  return events.filter(
    ({ host: from, event }) =>
      from === host && FINAL_KINDS.has(event.kind) && "stepId" in event && event.stepId === stepId,
  );
}

/** Events of one kind (and step, when given) of one host, in journal order. */
export function eventsOf(
  events: readonly EventEnvelope[],
  host: string,
  kind: EventEnvelope["event"]["kind"],
  stepId?: string,
): EventEnvelope[] {
  return events.filter(
    ({ host: from, event }) =>
      from === host &&
      event.kind === kind &&
      (stepId === undefined || ("stepId" in event && event.stepId === stepId)),
  );
}

export async function waitUntil(
  what: string,
  test: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`not ${what} within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/**
 * A 3-machine lab for the chaos scenarios: node1 the k3s server in name
 * (host preparation only: no bundle, so no k3s), node2 and node3 workers.
 * Every machine has the hold double in front of sysctl. Host-side reads and
 * faults go through `docker exec`, which needs no network: they work while a
 * host is cut off.
 */
export class ChaosLab {
  private constructor(
    readonly fleet: LabFleet,
    readonly inventory: string,
  ) {}

  static async start(): Promise<ChaosLab> {
    const fleet = await startLabFleet(3);
    try {
      const inventory = await fleet.writeInventory("chaos.yaml", { depot: false, installDocker: false });
      for (const machine of fleet.lab.machines) {
        await fleet.uploadAsRoot(
          machine.name,
          path.resolve("test", "doubles", "hold", "sysctl.sh"),
          HOLD_DOUBLE,
        );
        await fleet.asRoot(machine.name, ["chmod", "0755", HOLD_DOUBLE]);
      }
      return new ChaosLab(fleet, inventory);
    } catch (error) {
      await fleet.stop();
      throw error;
    }
  }

  get stateDir(): string {
    return path.join(this.fleet.work, "state");
  }

  address(host: string): string {
    const machine = this.fleet.lab.machines.find((item) => item.name === host);
    if (machine === undefined) throw new Error(`no lab machine ${host}`);
    return machine.address;
  }

  /** `groundcrew up` on the chaos inventory, with `extra` flags, as a child process. */
  up(...extra: string[]): CliProcess {
    return new CliProcess(this.stateDir, ["up", "-i", this.inventory, "--port", CHAOS_PORT, ...extra]);
  }

  /** Runs `script` with sh as root on `host` through `docker exec`; rejects on a non-zero exit. */
  sh(host: string, script: string, input?: string): Promise<string> {
    const machine = this.fleet.lab.machines.find((item) => item.name === host);
    if (machine === undefined) return Promise.reject(new Error(`no lab machine ${host}`));
    const child = spawn("docker", ["exec", "-i", machine.containerName, "sh", "-c", script]);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdin.end(input ?? "");
    return new Promise((resolve, reject) => {
      child.once("error", reject);
      child.once("close", (code) => {
        if (code === 0) resolve(stdout);
        else reject(new Error(`${host}: ${script}: exit ${String(code)}: ${stderr}`));
      });
    });
  }

  /**
   * Makes host.sysctl's next apply hold on `host`: the running value of
   * net.ipv4.ip_forward goes back to 0 (so the step's check finds work to do
   * and apply runs `sysctl -p`), and the hold marker is set.
   */
  async armHold(host: string): Promise<void> {
    const dir = path.posix.dirname(HOLD_MARKER);
    await this.sh(
      host,
      `echo 0 >/proc/sys/net/ipv4/ip_forward && rm -f ${HOLDING} && mkdir -p ${dir} && touch ${HOLD_MARKER}`,
    );
  }

  /** Whether host.sysctl is holding on `host` right now. */
  async held(host: string): Promise<boolean> {
    return (await this.sh(host, `test -e ${HOLDING} && echo yes || echo no`)).trim() === "yes";
  }

  async releaseHold(host: string): Promise<void> {
    await this.sh(host, `rm -f ${HOLD_MARKER}`);
  }

  /** `groundcrew status --json` (the journal's view). */
  async status(): Promise<ChaosStatus> {
    const result = await this.fleet.groundcrew("status", "--json");
    if (result.code !== 0) throw new Error(`status failed: ${result.stderr}`);
    return statusSchema.parse(JSON.parse(result.stdout));
  }

  async hostStatus(host: string): Promise<ChaosStatus["hosts"][number] | undefined> {
    return (await this.status()).hosts.find((item) => item.host === host);
  }

  /** The run's journal rows (`journal export`). */
  async journal(runId: string): Promise<EventEnvelope[]> {
    const exported = await this.fleet.groundcrew("journal", "export", "--run", runId);
    if (exported.code !== 0) throw new Error(`journal export failed: ${exported.stderr}`);
    return exported.stdout
      .trim()
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => eventEnvelopeSchema.parse(JSON.parse(line)));
  }

  /** `host`'s outbox for `runId`, read on the host: its acked mark and the event files still there. */
  async outbox(host: string, runId: string): Promise<OutboxCount> {
    const dir = path.posix.join(AGENT_STATE_DIR, "outbox", runId);
    const acked = await this.sh(host, `cat ${dir}/acked.json 2>/dev/null || true`);
    const names = await this.sh(host, `ls -A ${dir} 2>/dev/null || true`);
    return parseOutboxListing(acked, names.split("\n"));
  }

  /** Whether `host`'s agent finished running its plan for `runId` (its delivery may still be pending). */
  async finishedOnHost(host: string, runId: string): Promise<boolean> {
    const marker = path.posix.join(AGENT_STATE_DIR, "runs", `${runId}.finished`);
    return (await this.sh(host, `test -e ${marker} && echo yes || echo no`)).trim() === "yes";
  }

  /** The agent unit's main pid (0 when not running) and how often systemd restarted it. */
  async agentUnit(host: string): Promise<{ pid: number; restarts: number }> {
    const out = await this.sh(host, `systemctl show -p MainPID -p NRestarts ${AGENT_UNIT_NAME}`);
    const value = (key: string): number => Number(new RegExp(`^${key}=(\\d+)$`, "m").exec(out)?.[1] ?? NaN);
    return { pid: value("MainPID"), restarts: value("NRestarts") };
  }

  /**
   * Cuts `host` off from the provisioner: every packet between it and the
   * lab network's gateway (the provisioner's address as the hosts see it),
   * both ways, is dropped silently in the host's network namespace. The
   * host keeps its interface and routes, as behind a failed switch.
   */
  async cut(host: string): Promise<void> {
    const gateway = this.fleet.lab.network.gateway;
    await this.sh(
      host,
      `iptables -w -I INPUT -s ${gateway} -j DROP && iptables -w -I OUTPUT -d ${gateway} -j DROP`,
    );
  }

  async heal(host: string): Promise<void> {
    const gateway = this.fleet.lab.network.gateway;
    await this.sh(
      host,
      `iptables -w -D INPUT -s ${gateway} -j DROP && iptables -w -D OUTPUT -d ${gateway} -j DROP`,
    );
  }

  /** Releases every hold and heals every cut (what a scenario that failed half-way may leave). */
  async undoFaults(): Promise<void> {
    const gateway = this.fleet.lab.network.gateway;
    for (const machine of this.fleet.lab.machines) {
      await this.sh(
        machine.name,
        `rm -f ${HOLD_MARKER}; while iptables -w -D INPUT -s ${gateway} -j DROP 2>/dev/null; do :; done; ` +
          `while iptables -w -D OUTPUT -d ${gateway} -j DROP 2>/dev/null; do :; done; true`,
      );
    }
  }

  /** Lines of the agent unit's log on `host` since `since` (a `journalctl --since` time). */
  async agentLog(host: string, since: string, unit = AGENT_UNIT_NAME): Promise<string> {
    return this.sh(host, `journalctl -u ${unit} --since '${since}' --no-pager -o cat 2>&1 || true`);
  }

  /** The host's clock, for `agentLog`. */
  async now(host: string): Promise<string> {
    return (await this.sh(host, "date '+%Y-%m-%d %H:%M:%S'")).trim();
  }

  /**
   * The figures of `runId` on every machine, after checking that delivery
   * was exact: per host, the journal holds seqs 1..n exactly once where n is
   * what the agent emitted, the outbox is empty, every step that started
   * has one final result, and the last event is run.finished (succeeded).
   */
  async expectExact(runId: string): Promise<{ figures: HostFigures[]; events: EventEnvelope[] }> {
    const events = await this.journal(runId);
    const figures: HostFigures[] = [];
    for (const machine of this.fleet.lab.machines) {
      const host = machine.name;
      const counted = hostFigures(host, await this.outbox(host, runId), events);
      figures.push(counted);
      expect(counted, host).toMatchObject({ duplicated: 0, lost: 0, waiting: 0, journaled: counted.emitted });
      expect(counted.emitted, host).toBeGreaterThan(0);
      const mine = events.filter((envelope) => envelope.host === host);
      expect(
        mine.map((envelope) => envelope.seq),
        host,
      ).toEqual(mine.map((_, index) => index + 1));
      expect(mine.at(-1)?.event, host).toMatchObject({ kind: "run.finished", outcome: "succeeded" });
      const started = new Set(
        eventsOf(events, host, "step.started").flatMap(({ event }) =>
          "stepId" in event ? [event.stepId] : [],
        ),
      );
      for (const stepId of started)
        expect(finalsOf(events, host, stepId), `${host} ${stepId}`).toHaveLength(1);
    }
    return { figures, events };
  }

  async stop(): Promise<void> {
    await this.fleet.stop();
  }
}
