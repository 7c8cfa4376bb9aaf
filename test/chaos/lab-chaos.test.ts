import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { agentConfigSchema } from "../../shared/agent-config.js";
import type { EventEnvelope } from "../../shared/protocol.js";
import { AGENT_BINARY, AGENT_CONFIG } from "../../server/deploy/layout.js";
import { AGENT_TLS_FILES } from "../../server/deploy/install-agent.js";
import { writeRecord } from "../support/chaos-figures.js";
import { ChaosLab, HOLD_MARKER, eventsOf, finalsOf, waitUntil } from "../support/chaos-lab.js";
import { rebootLabMachine } from "../support/lab-reboot.js";
import type { CliProcess } from "../support/up-process.js";

/**
 * The lab chaos suite (`npm run chaos`): one 3-machine lab, one `up` run
 * per scenario, each run hit by one fault while a host is in the middle of
 * host.sysctl (held there by test/doubles/hold/sysctl.sh). Every scenario
 * ends with the run succeeded and delivery exact: per host, what its agent
 * emitted (counted in its outbox on the host) is in the journal once, in
 * order, with one final result per step. Each writes its figures for
 * docs/reliability.md (test/support/chaos-figures.ts).
 */

/** How long `up` may take to reach a held host.sysctl (checks, agent pushes, node1's phase). */
const HOLD_DEADLINE_MS = 180_000;
const SYSCTL = "host.sysctl";

const seconds = (ms: number): string => (ms / 1000).toFixed(1);

/**
 * `host`'s agent ran the plan twice (a restart in between): the second run
 * started at `stepId`, the step in flight, and ran none of the steps the
 * first one had finished. Returns those steps.
 */
function expectResumedAt(events: readonly EventEnvelope[], host: string, stepId: string): string[] {
  const restartedAt = eventsOf(events, host, "run.started")[1]?.seq ?? 0;
  expect(restartedAt, `${host}: a second run.started`).toBeGreaterThan(0);
  const stepOf = ({ event }: EventEnvelope): string[] => ("stepId" in event ? [event.stepId] : []);
  const mine = events.filter((envelope) => envelope.host === host);
  const done = mine
    .filter(
      (envelope) =>
        envelope.seq < restartedAt && ["step.succeeded", "step.skipped"].includes(envelope.event.kind),
    )
    .flatMap(stepOf);
  const startedAfter = mine
    .filter((envelope) => envelope.seq > restartedAt && envelope.event.kind === "step.started")
    .flatMap(stepOf);
  expect(startedAfter[0], host).toBe(stepId);
  expect(
    startedAfter.filter((id) => done.includes(id)),
    host,
  ).toEqual([]);
  return done;
}

describe("lab chaos: faults in the middle of up, nothing lost, nothing doubled", () => {
  let chaos: ChaosLab;
  const running: CliProcess[] = [];

  const up = (...extra: string[]): CliProcess => {
    const child = chaos.up(...extra);
    running.push(child);
    return child;
  };

  const runIdOf = async (): Promise<string> => (await chaos.status()).run.id;

  beforeAll(async () => {
    chaos = await ChaosLab.start();
  });

  // A failed scenario must not hold up the next: its provisioner goes, holds and cuts are undone.
  afterEach(async () => {
    for (const child of running.splice(0)) await child.kill9();
    await chaos.undoFaults();
  });

  afterAll(async () => {
    for (const child of running) await child.kill9();
    await chaos.stop();
  });

  it("1: the provisioner is killed (kill -9) mid-run; up again resumes the same run; the journal is exact", async () => {
    const started = Date.now();
    await chaos.armHold("node2");
    const first = up();
    await first.until(
      "node2 held in host.sysctl with node3 done",
      async () => (await chaos.held("node2")) && (await chaos.hostStatus("node3"))?.state === "succeeded",
      HOLD_DEADLINE_MS,
      1000,
    );
    const runId = await runIdOf();
    expect((await first.kill9()).signal).toBe("SIGKILL");
    const killedAt = Date.now();

    // With no provisioner, node2's agent finishes its plan: the events wait in its outbox on disk.
    await chaos.releaseHold("node2");
    await waitUntil("node2's agent finished", () => chaos.finishedOnHost("node2", runId), 60_000);
    const buffered = await chaos.outbox("node2", runId);
    expect(buffered.waiting.length).toBeGreaterThan(0);
    expect((await chaos.status()).run).toEqual({ id: runId, outcome: null });

    const second = up();
    const end = await second.ended;
    expect(end.code, end.stdout + end.stderr).toBe(0);
    expect(end.stderr).toContain(`resuming run ${runId}`);
    expect(end.stdout).toContain(`run ${runId}: all 3 host(s) succeeded`);
    const downFor = Date.now() - killedAt;

    const { figures, events } = await chaos.expectExact(runId);
    // node2's agent ran once, start to end: the provisioner's death did not touch it.
    expect(eventsOf(events, "node2", "run.started")).toHaveLength(1);
    expect(finalsOf(events, "node2", SYSCTL).map(({ event }) => event.kind)).toEqual(["step.succeeded"]);

    await writeRecord({
      kind: "lab",
      id: "1-provisioner-kill",
      scenario: "Provisioner killed (`kill -9`) mid-run, then `up` again",
      happened:
        `\`up\` SIGKILLed while node2 was inside host.sysctl and node3 had finished; node2's agent finished ` +
        `its plan alone with ${buffered.waiting.length} events waiting in its outbox; the second \`up\` ` +
        `(${seconds(downFor)} s after the kill, checks included) resumed run ${runId}; node2's agent redialed ` +
        `and resent the ${buffered.waiting.length} events; it had run its plan once; all 3 hosts succeeded`,
      promises: [1, 3],
      faults: [1],
      runId,
      seconds: (Date.now() - started) / 1000,
      hosts: figures,
    });
  });

  it("2: the agent is killed (kill -9) mid-step; systemd restarts it; the step's check decides; one final result per step", async () => {
    const started = Date.now();
    await chaos.armHold("node2");
    const run = up();
    await run.until("node2 held in host.sysctl", () => chaos.held("node2"), HOLD_DEADLINE_MS, 1000);
    const runId = await runIdOf();
    const before = await chaos.agentUnit("node2");
    expect(before.pid).toBeGreaterThan(0);
    // The kill and the release in one command: the restarted agent must not find the hold again.
    await chaos.sh("node2", `kill -9 ${before.pid} && rm -f ${HOLD_MARKER}`);

    const end = await run.ended;
    expect(end.code, end.stdout + end.stderr).toBe(0);
    expect(end.stdout).toContain(`run ${runId}: all 3 host(s) succeeded`);
    const after = await chaos.agentUnit("node2");
    expect(after.restarts).toBe(before.restarts + 1);

    const { figures, events } = await chaos.expectExact(runId);
    // Two agent processes ran the plan; the second resumed at host.sysctl, which ran again from its check.
    expect(eventsOf(events, "node2", "run.started")).toHaveLength(2);
    expect(eventsOf(events, "node2", "step.started", SYSCTL)).toHaveLength(2);
    const finals = finalsOf(events, "node2", SYSCTL);
    expect(finals.map(({ event }) => event.kind)).toEqual(["step.succeeded"]);
    const changes = finals[0]?.event.kind === "step.succeeded" ? finals[0].event.changes : [];
    // The killed apply had written the file already: the check saw it in place, the running value not.
    expect(changes).toContain("set net.ipv4.ip_forward=1 (was 0)");
    expect(changes.some((change) => change.startsWith("wrote "))).toBe(false);
    const completedBefore = expectResumedAt(events, "node2", SYSCTL);

    await writeRecord({
      kind: "lab",
      id: "2-agent-kill",
      scenario: "Agent killed (`kill -9`) mid-step",
      happened:
        `node2's agent SIGKILLed inside host.sysctl (file written, \`sysctl -p\` not yet run); systemd restarted ` +
        `it (NRestarts ${before.restarts} → ${after.restarts}); it resent its outbox, skipped the ` +
        `${completedBefore.length} step(s) already done, ran host.sysctl again from its check, which found the file ` +
        `in place and ip_forward still 0; one final result (${changes.join("; ")})`,
      promises: [1, 3],
      faults: [2],
      runId,
      seconds: (Date.now() - started) / 1000,
      hosts: figures,
    });
  });

  it("3: a machine reboots mid-run; its agent comes back at boot and the run continues", async () => {
    const started = Date.now();
    await chaos.armHold("node3");
    const run = up();
    await run.until("node3 held in host.sysctl", () => chaos.held("node3"), HOLD_DEADLINE_MS, 1000);
    const runId = await runIdOf();
    const rebootStart = Date.now();
    const reboot = await rebootLabMachine(chaos.fleet, "node3");
    const rebootMs = Date.now() - rebootStart;
    expect(reboot.startedAfter).not.toBe(reboot.startedBefore);
    expect(reboot.address).toBe(chaos.address("node3"));

    const end = await run.ended;
    expect(end.code, end.stdout + end.stderr).toBe(0);
    expect(end.stdout).toContain(`run ${runId}: all 3 host(s) succeeded`);

    const { figures, events } = await chaos.expectExact(runId);
    expect(eventsOf(events, "node3", "run.started")).toHaveLength(2);
    expectResumedAt(events, "node3", SYSCTL);
    const finals = finalsOf(events, "node3", SYSCTL);
    expect(finals).toHaveLength(1);
    const outcome = finals[0]?.event;
    const decided =
      outcome?.kind === "step.skipped"
        ? `skipped it (${outcome.reason})`
        : outcome?.kind === "step.succeeded"
          ? `applied it (${outcome.changes.join("; ")})`
          : "failed it";
    const node3 = (await chaos.status()).hosts.find((host) => host.host === "node3");
    expect(node3).toMatchObject({ state: "succeeded", lost: null });

    await writeRecord({
      kind: "lab",
      id: "3-reboot",
      scenario: "Machine rebooted mid-run",
      happened:
        `node3 rebooted (systemd halt, container start; ${seconds(rebootMs)} s to sshd) while inside host.sysctl; ` +
        `the agent unit started at boot, resent its outbox and resumed at host.sysctl, whose check ${decided}; ` +
        "never marked lost; all 3 hosts succeeded",
      promises: [1, 3, 4],
      faults: [3],
      runId,
      seconds: (Date.now() - started) / 1000,
      hosts: figures,
    });
  });

  it("4: a host is cut off past the ping deadline, then reconnected: marked lost meanwhile, buffered events arrive once", async () => {
    const started = Date.now();
    await chaos.armHold("node3");
    const run = up("--host-grace", "120");
    await run.until("node3 held in host.sysctl", () => chaos.held("node3"), HOLD_DEADLINE_MS, 1000);
    const runId = await runIdOf();
    const since = await chaos.now("node3");
    await chaos.cut("node3");
    const cutAt = Date.now();
    // Cut off, node3's agent finishes its plan: every event from here on waits in its outbox.
    await chaos.releaseHold("node3");
    await waitUntil("node3's agent finished", () => chaos.finishedOnHost("node3", runId), 60_000);

    // The provisioner drops the silent connection at its ping deadline and marks node3 lost.
    const lostLine =
      /^node3 +connection lost: silent for more than 15 s \(ping deadline\); waiting up to 120 s/m;
    await run.until("node3 reported lost", () => lostLine.test(run.stdout), 60_000);
    const lostAfter = Date.now() - cutAt;
    const whileCut = await chaos.hostStatus("node3");
    expect(whileCut?.state).toBe("lost");
    expect(whileCut?.lost?.reason).toMatch(/^connection lost: silent for more than 15 s/);
    const buffered = await chaos.outbox("node3", runId);
    expect(buffered.waiting.length).toBeGreaterThan(0);
    expect(whileCut?.lastSeq).toBe(buffered.ackedSeq);
    // The agent saw the silence too, dropped its end and keeps redialing.
    await waitUntil(
      "node3's agent dropped the silent connection",
      async () =>
        (await chaos.agentLog("node3", since)).includes("the provisioner was silent for more than 15000 ms"),
      30_000,
    );

    await chaos.heal("node3");
    const healedAt = Date.now();
    await run.until("node3 back in contact", () => /^node3 +back in contact/m.test(run.stdout), 60_000);
    const backAfter = Date.now() - healedAt;
    const end = await run.ended;
    expect(end.code, end.stdout + end.stderr).toBe(0);
    expect(end.stdout).toContain(`run ${runId}: all 3 host(s) succeeded`);
    const { figures, events } = await chaos.expectExact(runId);
    // One agent process, one plan run: the events were buffered, not re-made.
    expect(eventsOf(events, "node3", "run.started")).toHaveLength(1);
    // The journal keeps the lost mark as a record; node3's state follows what it delivered.
    const after = await chaos.hostStatus("node3");
    expect(after?.state).toBe("succeeded");
    expect(after?.lost?.reason).toMatch(/^connection lost/);

    await writeRecord({
      kind: "lab",
      id: "4-network-cut",
      scenario: "Host cut off the network past the ping deadline, then reconnected",
      happened:
        `every packet between node3 and the provisioner dropped (no RST) for ${seconds(healedAt - cutAt)} s ` +
        `while node3's agent finished its plan with ${buffered.waiting.length} events waiting in its outbox; ` +
        `${seconds(lostAfter)} s after the cut the provisioner dropped the silent connection, reported ` +
        '"connection lost" and marked node3 lost in the journal (`status`: lost); the agent dropped its end ' +
        `after its own deadline and redialed with backoff; ${seconds(backAfter)} s after the network came back ` +
        "it was welcomed, resent, and the run succeeded (within `--host-grace` 120 s)",
      promises: [1, 4],
      faults: [4, 5],
      runId,
      seconds: (Date.now() - started) / 1000,
      hosts: figures,
    });
  });

  it("5: a second agent presents node2's certificate; it is refused and reported; the first keeps working", async () => {
    const started = Date.now();
    await chaos.armHold("node2");
    const run = up();
    await run.until("node2 held in host.sysctl", () => chaos.held("node2"), HOLD_DEADLINE_MS, 1000);
    const runId = await runIdOf();
    const node2Before = await chaos.agentUnit("node2");

    // node2's identity (config, CA, certificate and key) copied onto node3, as a cloned disk would carry it.
    const clone = "/root/groundcrew-clone";
    const config = agentConfigSchema.parse(JSON.parse(await chaos.sh("node2", `cat ${AGENT_CONFIG}`)));
    const tls = {
      ca: `${clone}/tls/ca.pem`,
      cert: `${clone}/tls/host.pem`,
      key: `${clone}/tls/host-key.pem`,
    };
    await chaos.sh("node3", `mkdir -p -m 0700 ${clone}/tls`);
    for (const which of ["ca", "cert", "key"] as const) {
      const pem = await chaos.sh("node2", `cat ${AGENT_TLS_FILES[which]}`);
      await chaos.sh("node3", `umask 077 && cat >${tls[which]}`, pem);
    }
    const cloned = { ...config, tls, stateDir: `${clone}/state` };
    await chaos.sh("node3", `umask 077 && cat >${clone}/config.json`, JSON.stringify(cloned));
    const cloneUnit = "groundcrew-test-clone";
    const since = await chaos.now("node3");
    await chaos.sh(
      "node3",
      `systemd-run --quiet --unit=${cloneUnit} ${AGENT_BINARY} serve --config ${clone}/config.json`,
    );
    const refusal = `agent error: node2: a second agent connected from ${chaos.address("node3")}`;
    await run.until("the clone refused", () => run.stderr.includes(refusal), 60_000);
    // The clone retries (its own dead connection could be the live one) and then gives up for good: exit 3.
    await waitUntil(
      "the clone gave up",
      async () =>
        /ActiveState=(failed|inactive)/.test(
          await chaos.sh("node3", `systemctl show -p ActiveState ${cloneUnit}`),
        ),
      150_000,
    );
    const exit = await chaos.sh("node3", `systemctl show -p ExecMainStatus ${cloneUnit}`);
    expect(exit.trim()).toBe("ExecMainStatus=3");
    const cloneLog = await chaos.agentLog("node3", since, cloneUnit);
    expect(cloneLog).toContain("refused by the provisioner (DUPLICATE_AGENT)");
    const refusals = run.stderr.split("\n").filter((line) => line.includes(refusal)).length;
    const cloneEvents = (await chaos.sh("node3", `find ${clone}/state -name '*.json' | wc -l`)).trim();
    await chaos.sh("node3", `systemctl reset-failed ${cloneUnit} 2>/dev/null; rm -rf ${clone}`);

    await chaos.releaseHold("node2");
    const end = await run.ended;
    expect(end.code, end.stdout + end.stderr).toBe(0);
    expect(end.stdout).toContain(`run ${runId}: all 3 host(s) succeeded`);
    const { figures, events } = await chaos.expectExact(runId);
    // The first agent was never disturbed: one process, one plan run, one connection.
    expect(end.stdout).not.toMatch(/^node2 +connection lost/m);
    expect(await chaos.agentUnit("node2")).toMatchObject({ restarts: node2Before.restarts });
    expect(eventsOf(events, "node2", "run.started")).toHaveLength(1);
    expect(cloneEvents).toBe("0");

    await writeRecord({
      kind: "lab",
      id: "5-cloned-identity",
      scenario: "Two agents with one host's certificate",
      happened:
        `node2's config, certificate and key copied to node3 and a second agent started there while node2's ` +
        `was live inside host.sysctl; the provisioner refused it ${refusals} time(s) (DUPLICATE_AGENT), each ` +
        `reported on the terminal ("${refusal} while ... is live; refused"); the clone gave up (exit 3, ` +
        "no restart), journaled nothing and ran nothing; node2's agent kept its connection and succeeded",
      promises: [1, 5],
      faults: [7],
      runId,
      seconds: (Date.now() - started) / 1000,
      hosts: figures,
    });
  });
});
