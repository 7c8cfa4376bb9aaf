import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { eventEnvelopeSchema, type EventEnvelope } from "../../shared/protocol.js";
import { FAKE_GPU, installFakeGpu } from "../support/fake-gpu.js";
import { RESET_ALLOWED, snapshotDiff, snapshotHost } from "../support/host-snapshot.js";
import { rebootLabMachine, type LabReboot } from "../support/lab-reboot.js";
import { startLabFleet, type CliResult, type LabFleet } from "../support/lab-fleet.js";
import {
  gpuTestBundle,
  NVIDIA_DRIVER_VERSION,
  RUNFILE_HOLD_MARKER,
  RUNFILE_HOLDING,
  type GpuBundle,
} from "../support/nvidia-doubles.js";

/**
 * The reboot contract (agent/runner/reboot.ts) on real lab machines: node2, a
 * GPU worker, reboots while `up` is in the middle of gpu.driver. The runfile
 * double holds its install while a marker under /run exists; the test
 * restarts node2's container (systemd halts, then boots with an empty /run),
 * which releases the hold. The agent's unit starts again at boot, the run
 * resumes after the steps it completed, gpu.driver runs again from check and
 * the run finishes. The fake GPU comes back at boot from a oneshot unit
 * (test/doubles/gpu/), as a real GPU host's sysfs does.
 */

const PORT = "17455";
const INSTALLER_LOG = "/var/log/nvidia-installer.log";
/** How long `up` may take to reach the held install (bundle checks, depot, node1's k3s server, node2's first steps). */
const HOLD_DEADLINE_MS = 240_000;
const FINAL_KINDS = new Set(["step.succeeded", "step.skipped", "step.failed"]);

const statusSchema = z.object({
  run: z.object({ id: z.string(), outcome: z.string().nullable() }),
  hosts: z.array(
    z.object({
      host: z.string(),
      state: z.string(),
      currentStep: z.object({ stepId: z.string() }).nullable(),
      stepsDone: z.number(),
      stepsTotal: z.number().nullable(),
      lost: z.object({ at: z.string(), reason: z.string() }).nullable(),
    }),
  ),
});
type Status = z.infer<typeof statusSchema>;

/**
 * Docker writes the NAT rules of its embedded DNS server (127.0.0.11) into a
 * container's iptables at every container start, with new random ports: a
 * boot changes them, groundcrew does not. Snapshots keep the rules, without
 * their ports.
 */
function withoutDockerDnsPorts(line: string): string {
  if (!/^iptables -A DOCKER_(OUTPUT|POSTROUTING) .*127\.0\.0\.11/.test(line)) return line;
  return line.replace(/127\.0\.0\.11:\d+/, "127.0.0.11:<port>").replace(/--sport \d+/, "--sport <port>");
}

/** The final result events (succeeded, skipped, failed) of one step. */
function finals(events: readonly EventEnvelope[], stepId: string): EventEnvelope[] {
  return events.filter(
    (envelope) =>
      FINAL_KINDS.has(envelope.event.kind) && "stepId" in envelope.event && envelope.event.stepId === stepId,
  );
}

function stepIdOf(envelope: EventEnvelope): string | undefined {
  return "stepId" in envelope.event ? envelope.event.stepId : undefined;
}

describe("a GPU worker reboots in the middle of up: the run resumes and finishes", () => {
  let fleet: LabFleet;
  let inventory: string;
  let bundle: GpuBundle;
  let before: Map<string, string[]>;

  const snapshot = async (host: string): Promise<string[]> =>
    (await snapshotHost(fleet, host, RESET_ALLOWED)).map(withoutDockerDnsPorts);

  const status = async (): Promise<Status | undefined> => {
    const result = await fleet.groundcrew("status", "--json");
    return result.code === 0 ? statusSchema.parse(JSON.parse(result.stdout)) : undefined;
  };

  /** For a failed `up`: node1's node list and the end of node2's k3s agent log. */
  const clusterView = async (): Promise<string> => {
    const show = (host: string, script: string): Promise<string> =>
      fleet.asRoot(host, ["sh", "-c", script]).catch((error: unknown) => String(error));
    return [
      "\n--- node1: k3s kubectl get nodes",
      await show("node1", "/usr/local/bin/k3s kubectl get nodes -o wide 2>&1"),
      "--- node2: journalctl -u k3s-agent",
      await show("node2", "journalctl -u k3s-agent.service --no-pager -n 40 2>&1"),
    ].join("\n");
  };

  const journalOf = async (runId: string): Promise<EventEnvelope[]> => {
    const exported = await fleet.groundcrew("journal", "export", "--run", runId);
    expect(exported.code, exported.stderr).toBe(0);
    return exported.stdout
      .trim()
      .split("\n")
      .map((line) => eventEnvelopeSchema.parse(JSON.parse(line)));
  };

  beforeAll(async () => {
    fleet = await startLabFleet(2);
    const release = (await fleet.asRoot("node2", ["cat", "/proc/sys/kernel/osrelease"])).trim();
    bundle = await gpuTestBundle(path.join(fleet.work, "bundle"), release);
    await installFakeGpu(fleet, "node2");
    const [n1, n2] = fleet.lab.machines;
    inventory = await fleet.writeYamlInventory("gpu.yaml", [
      "hosts:",
      `  - {name: node1, address: ${n1?.address}, role: server, depot: true}`,
      `  - {name: node2, address: ${n2?.address}, role: worker, gpu: true, installNvidiaDriver: true}`,
    ]);
    // With the fake GPU's unit installed: it stays, as the rest of a GPU host does.
    before = new Map([
      ["node1", await snapshot("node1")],
      ["node2", await snapshot("node2")],
    ]);
  });

  afterAll(async () => {
    await fleet.stop();
  });

  it("node2 reboots while gpu.driver installs; its agent comes back at boot and up succeeds", async () => {
    await fleet.asRoot("node2", [
      "sh",
      "-c",
      `mkdir -p ${path.posix.dirname(RUNFILE_HOLD_MARKER)} && touch ${RUNFILE_HOLD_MARKER}`,
    ]);
    let ended: CliResult | undefined;
    const upRun = fleet
      .groundcrew("up", "-i", inventory, "-b", bundle.file, "--port", PORT)
      .then((result) => {
        ended = result;
        return result;
      });

    // Wait until the driver install is held on node2 and the journal has node2 in gpu.driver.
    const deadline = Date.now() + HOLD_DEADLINE_MS;
    let held: Status | undefined;
    while (held === undefined) {
      if (ended !== undefined) {
        throw new Error(`up ended before node2's driver install was held:\n${ended.stdout}${ended.stderr}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`node2's driver install not held within ${HOLD_DEADLINE_MS / 1000} s`);
      }
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const log = await fleet.asRoot("node2", ["sh", "-c", `cat ${INSTALLER_LOG} 2>/dev/null || true`]);
      if (!log.includes(RUNFILE_HOLDING)) continue;
      const current = await status();
      const node2 = current?.hosts.find((host) => host.host === "node2");
      if (node2?.state === "running" && node2.currentStep?.stepId === "gpu.driver") held = current;
    }
    const runId = held.run.id;

    const reboot: LabReboot = await rebootLabMachine(fleet, "node2");
    // The boot really happened: a new container start, and /run came up empty (the hold is gone).
    expect(reboot.startedAfter).not.toBe(reboot.startedBefore);
    expect(
      await fleet.asRoot("node2", ["sh", "-c", `test -e ${RUNFILE_HOLD_MARKER} && echo held || echo gone`]),
    ).toBe("gone\n");
    // The lab network handed node2 its address back: the inventory, node1's k3s and the snapshots still name it.
    expect(reboot.address).toBe(fleet.lab.machines[1]?.address);

    const up = await upRun;
    expect(up.code, up.stdout + up.stderr + (up.code === 0 ? "" : await clusterView())).toBe(0);
    expect(up.stdout).toContain(`run ${runId}: all 2 host(s) succeeded`);
    expect(up.stdout).toMatch(/node2 +#\d+ gpu\.driver succeeded in [\d.]+ s: .*installed the NVIDIA driver/);
    expect(up.stdout).toMatch(/node2 +#\d+ k3s\.install succeeded/);
    // After the reboot the whole GPU stack works: the device plugin runs and node2 offers its GPU.
    expect(up.stdout).toMatch(/^gpu +node2 +1 GPU +nvidia\.com\/gpu allocatable$/m);

    // The journal: per host seq 1..n, each once, so nothing resent after the boot was journaled twice.
    const events = await journalOf(runId);
    const perSeq = new Map<string, number>();
    for (const envelope of events) {
      const key = `${envelope.host} #${envelope.seq}`;
      perSeq.set(key, (perSeq.get(key) ?? 0) + 1);
    }
    expect([...perSeq].filter(([, count]) => count > 1)).toEqual([]);
    for (const host of ["node1", "node2"]) {
      const mine = events.filter((envelope) => envelope.host === host);
      expect(
        mine.map((envelope) => envelope.seq),
        host,
      ).toEqual(mine.map((_, index) => index + 1));
      expect(mine.at(-1)?.event, host).toMatchObject({ kind: "run.finished", outcome: "succeeded" });
      expect(
        mine.filter((envelope) => envelope.event.kind === "run.finished"),
        host,
      ).toHaveLength(1);
      // Every step this host started has exactly one final result.
      const stepIds = new Set(mine.flatMap((envelope) => stepIdOf(envelope) ?? []));
      for (const stepId of stepIds) expect(finals(mine, stepId), `${host} ${stepId}`).toHaveLength(1);
    }

    // node2's agent started the plan twice: before the reboot and when its unit started at boot.
    const node2 = events.filter((envelope) => envelope.host === "node2");
    const runStarts = node2.filter((envelope) => envelope.event.kind === "run.started");
    expect(runStarts).toHaveLength(2);
    const resumedAt = runStarts[1]?.seq ?? 0;
    const beforeBoot = node2.filter((envelope) => envelope.seq < resumedAt);
    const afterBoot = node2.filter((envelope) => envelope.seq > resumedAt);
    // Before the boot: the steps up to gpu.driver finished; gpu.driver started and never finished.
    const completedBefore = new Set(
      beforeBoot.filter((envelope) => FINAL_KINDS.has(envelope.event.kind)).flatMap((e) => stepIdOf(e) ?? []),
    );
    expect(completedBefore).toContain("gpu.nouveau");
    expect(completedBefore).not.toContain("gpu.driver");
    const startedBefore = beforeBoot.filter((envelope) => envelope.event.kind === "step.started");
    expect(startedBefore.at(-1)?.event).toMatchObject({ kind: "step.started", stepId: "gpu.driver" });
    // After the boot: the run resumed at gpu.driver; no completed step ran again.
    const startedAfter = afterBoot.flatMap((envelope) =>
      envelope.event.kind === "step.started" ? [envelope.event.stepId] : [],
    );
    expect(startedAfter[0]).toBe("gpu.driver");
    expect(startedAfter.filter((stepId) => completedBefore.has(stepId))).toEqual([]);
    expect(finals(afterBoot, "gpu.driver").map((envelope) => envelope.event.kind)).toEqual([
      "step.succeeded",
    ]);
    // run.finished counts this invocation only: the steps from gpu.driver on.
    const total = runStarts[0]?.event.kind === "run.started" ? runStarts[0].event.steps : 0;
    const finished = node2.at(-1)?.event;
    if (finished?.kind !== "run.finished") throw new Error("node2's last event is not run.finished");
    expect(finished.failed).toBe(0);
    expect(finished.succeeded + finished.skipped).toBe(total - completedBefore.size);

    // The status: node2 succeeded, every step done, never marked lost (the boot took less than the grace).
    const after = await status();
    expect(after?.run).toMatchObject({ id: runId, outcome: "succeeded" });
    const node2Status = after?.hosts.find((host) => host.host === "node2");
    expect(node2Status).toMatchObject({
      state: "succeeded",
      lost: null,
      stepsDone: total,
      stepsTotal: total,
    });

    // The driver the resumed install put there works, on the GPU the boot unit brought back.
    expect(
      await fleet.asRoot("node2", ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"]),
    ).toBe(`NVIDIA H200, ${NVIDIA_DRIVER_VERSION}\n`);
    expect(await fleet.asRoot("node2", ["nvidia-smi"])).toContain(FAKE_GPU);
    const log = await fleet.asRoot("node2", ["cat", INSTALLER_LOG]);
    expect(log).not.toContain(RUNFILE_HOLDING);
    expect(log).toContain("is now complete");
  }, 420_000);

  it("reset after the rebooted run leaves every host as it was", async () => {
    const reset = await fleet.groundcrew("reset", "-i", inventory, "--yes");
    expect(reset.code, reset.stdout + reset.stderr).toBe(0);
    expect(await fleet.asRoot("node2", ["sh", "-c", "ls /usr/bin/nvidia-* 2>/dev/null || echo none"])).toBe(
      "none\n",
    );
    for (const host of ["node1", "node2"]) {
      const { added, removed } = snapshotDiff(before.get(host) ?? [], await snapshot(host));
      expect(added, `${host}: left behind`).toEqual([]);
      expect(removed, `${host}: removed`).toEqual([]);
    }
  }, 300_000);
});
