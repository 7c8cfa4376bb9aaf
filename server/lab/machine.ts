import { GenericContainer, Wait, type StartedNetwork, type StartedTestContainer } from "testcontainers";
import { GroundcrewError } from "../../shared/errors.js";
import { LAB_AUTHORIZED_KEYS } from "./image-recipe.js";

/**
 * A container that boots systemd as PID 1, the way LAB.md found to work on
 * hosts where `--privileged` is refused: every capability but SYS_RESOURCE,
 * no seccomp/AppArmor confinement, writable /proc/sys, the host's cgroup
 * namespace with /sys/fs/cgroup bound read-write, and tmpfs on /run.
 */
class SystemdContainer extends GenericContainer {
  constructor(image: string) {
    super(image);
    // `--cgroupns host` and `--security-opt systempaths=unconfined` exist only
    // in the docker CLI; the Engine API spells them as these HostConfig fields
    // (empty path lists: nothing masked, nothing read-only under /proc and /sys).
    Object.assign(this.hostConfig, { CgroupnsMode: "host", MaskedPaths: [], ReadonlyPaths: [] });
    this.withAddedCapabilities("ALL")
      .withDroppedCapabilities("SYS_RESOURCE")
      .withSecurityOpt("seccomp=unconfined", "apparmor=unconfined")
      .withBindMounts([{ source: "/sys/fs/cgroup", target: "/sys/fs/cgroup", mode: "rw" }])
      .withTmpFs({ "/run": "rw,mode=755", "/run/lock": "rw" })
      .withCommand(["/sbin/init"]);
  }
}

export interface MachineSpec {
  readonly image: string;
  readonly network: StartedNetwork;
  readonly containerName: string;
  readonly hostname: string;
  readonly labels: Readonly<Record<string, string>>;
  /** authorized_keys lines accepted for every account. */
  readonly authorizedKeys: string;
}

export interface StartedMachine {
  readonly container: StartedTestContainer;
  readonly address: string;
  /** The machine's SSH host public keys, as "type base64" lines (made at its first boot). */
  readonly hostKeys: readonly string[];
}

/** Boots one machine and resolves once sshd is active and its host keys exist. */
export async function startMachine(spec: MachineSpec): Promise<StartedMachine> {
  const container = await new SystemdContainer(spec.image)
    .withName(spec.containerName)
    .withHostname(spec.hostname)
    .withLabels({ ...spec.labels })
    .withNetwork(spec.network)
    .withCopyContentToContainer([{ content: spec.authorizedKeys, target: LAB_AUTHORIZED_KEYS, mode: 0o644 }])
    .withWaitStrategy(Wait.forSuccessfulCommand("systemctl is-active --quiet ssh.service"))
    .withStartupTimeout(90_000)
    .start();
  const address = container.getIpAddress(spec.network.getName());
  const keys = await container.exec(["sh", "-c", "cat /etc/ssh/ssh_host_*_key.pub"]);
  if (keys.exitCode !== 0) {
    throw new GroundcrewError("LAB_MACHINE_NOT_READY", `${spec.hostname}: no SSH host keys: ${keys.output}`);
  }
  const hostKeys = keys.stdout
    .split("\n")
    .map((line) => line.trim().split(/\s+/).slice(0, 2).join(" "))
    .filter((line) => line !== "");
  return { container, address, hostKeys };
}
