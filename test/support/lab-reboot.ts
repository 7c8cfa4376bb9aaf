import { dockerClient } from "../../server/lab/docker.js";
import type { LabFleet } from "./lab-fleet.js";

/** How long systemd gets to halt (stop every unit) and how long the machine gets to boot to sshd. */
const HALT_TIMEOUT_MS = 60_000;
const BOOT_TIMEOUT_MS = 90_000;

export interface LabReboot {
  /** The container's State.StartedAt before and after: they differ when it really restarted. */
  readonly startedBefore: string;
  readonly startedAfter: string;
  /** The machine's address on the lab network after the boot. */
  readonly address: string;
}

/**
 * Reboots lab machine `name`: its container is halted the way systemd (PID 1)
 * wants to be, with SIGRTMIN+3 (systemd's "halt": every unit is stopped in
 * order, the groundcrew agent's included, as on `systemctl reboot`; a plain
 * `docker stop` sends SIGTERM, which systemd ignores, and SIGKILLs it 10 s
 * later, a power cut), then started again: systemd boots with a fresh /run
 * (a tmpfs) and starts the enabled units. Resolves once sshd is active again.
 *
 * Lab containers share the build host's kernel: /proc/sys/kernel/random/boot_id
 * does not change. The address comes back from the lab network's IPAM (the
 * lowest free one, which the container just gave back); callers check it.
 * Throws naming the machine when it does not halt or boot in time.
 */
export async function rebootLabMachine(fleet: LabFleet, name: string): Promise<LabReboot> {
  const machine = fleet.lab.machines.find((item) => item.name === name);
  if (machine === undefined) throw new Error(`no lab machine ${name}`);
  const docker = (await dockerClient()).container.dockerode;
  const container = docker.getContainer(machine.containerName);
  const startedBefore = (await container.inspect()).State.StartedAt;

  const halted = container.wait();
  await container.kill({ signal: "SIGRTMIN+3" });
  await withTimeout(halted, HALT_TIMEOUT_MS, `${name}: systemd did not halt`);
  await container.start();

  const deadline = Date.now() + BOOT_TIMEOUT_MS;
  for (;;) {
    const up = await fleet.asRoot(name, ["systemctl", "is-active", "--quiet", "ssh.service"]).then(
      () => true,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline)
      throw new Error(`${name}: sshd not active ${BOOT_TIMEOUT_MS / 1000} s after boot`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const after = await container.inspect();
  return {
    startedBefore,
    startedAfter: after.State.StartedAt,
    address: after.NetworkSettings.Networks[fleet.lab.network.name]?.IPAddress ?? "",
  };
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`${message} within ${ms / 1000} s`));
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
