import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostFactsSchema, type HostFacts } from "../../shared/facts.js";
import { isGroundcrewError } from "../../shared/errors.js";
import { locateAgentBinary } from "../../server/agent-binary.js";
import { withSudo } from "../../shared/with-sudo.js";
import { gatherFacts } from "../../server/facts/gather.js";
import { dockerClient } from "../../server/lab/docker.js";
import { startLab, type Lab, type LabMachine } from "../../server/lab/lab.js";
import { keyBlobFromLine, pinnedKeys } from "../../server/ssh/host-key.js";
import type { AgentBinary } from "../../server/ssh/push-agent.js";
import { SshSession } from "../../server/ssh/session.js";

function connect(lab: Lab, machine: LabMachine, username = lab.user): Promise<SshSession> {
  return SshSession.connect({
    name: machine.name,
    host: machine.address,
    username,
    privateKey: lab.privateKey,
    hostKeys: pinnedKeys(machine.hostKeys.map(keyBlobFromLine)),
  });
}

describe("a 2-machine lab, the agent pushed over SSH and run through sudo", () => {
  let lab: Lab;
  let agent: AgentBinary;
  const facts = new Map<string, HostFacts>();

  beforeAll(async () => {
    agent = await locateAgentBinary();
    lab = await startLab({ machines: 2 });
  });

  afterAll(async () => {
    await lab.stop();
  });

  it("puts the machines on an internal (air-gapped) Docker network", async () => {
    const client = await dockerClient();
    const network = await client.container.dockerode.getNetwork(lab.network.name).inspect();
    expect(network.Internal).toBe(true);
    expect(lab.network.internal).toBe(true);
    expect(lab.machines.map((machine) => machine.name)).toEqual(["node1", "node2"]);
  });

  it("logs in as the non-root user, who has passwordless sudo, and as root with the same key", async () => {
    const machine = lab.machines[0]!;
    const user = await connect(lab, machine);
    try {
      expect((await user.run(["id", "-un"])).stdout.trim()).toBe("ops");
      const sudo = await user.run(["sudo", "-n", "id", "-u"]);
      expect(sudo).toMatchObject({ code: 0, stdout: "0\n" });
    } finally {
      user.close();
    }
    const root = await connect(lab, machine, "root");
    try {
      expect((await root.run(["id", "-u"])).stdout).toBe("0\n");
    } finally {
      root.close();
    }
  });

  it("reports each machine's real facts from the agent executable", async () => {
    for (const machine of lab.machines) {
      const session = await connect(lab, machine);
      try {
        const node = await session.run([
          "sh",
          "-c",
          "command -v node nodejs || ls /usr/bin/node* /usr/local/bin/node*",
        ]);
        expect(node.code, `Node.js must not be on ${machine.name}`).not.toBe(0);

        const gathered = await gatherFacts(session, withSudo(session), agent);
        expect(gathered.agent.uploaded).toBe(true);
        const result = gathered.facts;
        expect(hostFactsSchema.parse(result)).toEqual(result);
        facts.set(machine.name, result);

        expect(result.hostname).toBe(machine.name);
        const addresses = result.network.flatMap((iface) =>
          iface.addresses.map((address) => address.address),
        );
        expect(addresses).toContain(machine.address);
        const osRelease = await session.run(["sh", "-c", ". /etc/os-release && echo $ID $VERSION_ID"]);
        expect(`${result.os.id} ${result.os.versionId}\n`).toBe(osRelease.stdout);
        expect((await session.run(["uname", "-r"])).stdout.trim()).toBe(result.kernel.release);
        expect((await session.run(["cat", "/etc/machine-id"])).stdout.trim()).toBe(result.machineId);
        expect(result.machineId).toMatch(/^[0-9a-f]{32}$/);
        expect(result.systemd).toEqual({ pid1: true, booted: true });
        expect(result.gpus).toEqual([]);
        expect(result.cpu.count).toBeGreaterThan(0);
        expect(result.memory.totalBytes).toBeGreaterThan(0);
        expect(result.space.map((entry) => entry.path)).toContain("/");
      } finally {
        session.close();
      }
    }
    expect(facts.get("node1")?.machineId).not.toBe(facts.get("node2")?.machineId);
  });

  it("does not send the agent again when the host already has this build", async () => {
    const session = await connect(lab, lab.machines[1]!);
    try {
      const again = await gatherFacts(session, withSudo(session), agent);
      expect(again.agent).toMatchObject({ uploaded: false, bytesSent: 0 });
      expect(again.facts.hostname).toBe("node2");
    } finally {
      session.close();
    }
  });

  it("refuses a host whose SSH key is not the pinned one, naming both fingerprints", async () => {
    const [first, second] = lab.machines;
    const impostor = { ...second!, address: first!.address };
    const error: unknown = await connect(lab, impostor).then(
      (session) => {
        session.close();
        return undefined;
      },
      (caught: unknown) => caught,
    );
    expect(isGroundcrewError(error, "SSH_HOSTKEY_MISMATCH")).toBe(true);
    expect((error as Error).message).toMatch(/SHA256:.+ is not the pinned one \(SHA256:/);
  });
});
