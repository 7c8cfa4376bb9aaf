import { readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { dockerClient } from "../lab/docker.js";
import { destroyLab, listLabs, startLab, type Lab } from "../lab/lab.js";
import { keyBlobFromLine } from "../ssh/host-key.js";
import { KnownHosts } from "../ssh/known-hosts.js";
import { ensurePrivateDir } from "../state-dir.js";

export interface DemoLab {
  readonly labId: string;
  readonly inventoryFile: string;
}

/** `<stateDir>/demo/`: the demo's lab id and the inventory it wrote. */
export function demoDir(stateDir: string): string {
  return path.join(stateDir, "demo");
}

/**
 * The demo's fleet: a detached 3-machine lab and an Ansible-style INI
 * inventory for it (the form existing airgap-k3s playbooks use, with the
 * lab's non-root sudo user). The lab's host keys are pinned directly: the
 * lab made them, so no first-contact consent is needed. Reuses a demo lab
 * that is still up.
 */
export async function ensureDemoLab(
  stateDir: string,
  machines: number,
  onProgress: (message: string) => void,
): Promise<DemoLab> {
  const dir = await ensurePrivateDir(demoDir(stateDir));
  const existing = await readFile(path.join(dir, "lab-id"), "utf8").catch(() => undefined);
  const inventoryFile = path.join(dir, "inventory.ini");
  if (existing !== undefined) {
    const labs = await listLabs(await dockerClient());
    if (labs.some((lab) => lab.id === existing.trim())) {
      onProgress(`reusing demo lab ${existing.trim()} (remove it with \`groundcrew demo --down\`)`);
      return { labId: existing.trim(), inventoryFile };
    }
  }
  const lab = await startLab({ machines, detached: true, stateDir, onProgress });
  const knownHosts = await KnownHosts.open(stateDir);
  for (const machine of lab.machines)
    await knownHosts.pin(machine.address, 22, machine.hostKeys.map(keyBlobFromLine));
  await writeFile(inventoryFile, demoInventory(lab), { mode: 0o600 });
  await writeFile(path.join(dir, "lab-id"), `${lab.id}\n`, { mode: 0o600 });
  return { labId: lab.id, inventoryFile };
}

/** Removes the demo lab and its inventory. Resolves false when there was none. */
export async function removeDemoLab(stateDir: string): Promise<boolean> {
  const dir = demoDir(stateDir);
  const id = await readFile(path.join(dir, "lab-id"), "utf8").catch(() => undefined);
  if (id === undefined) return false;
  await destroyLab(await dockerClient(), id.trim(), stateDir);
  await rm(dir, { recursive: true, force: true });
  return true;
}

/** node1 is the server and depot; the others are workers. */
export function demoInventory(lab: Lab): string {
  const hostLines = lab.machines.map(
    (machine) =>
      `${machine.name} ansible_host=${machine.address} ansible_user=${lab.user} ` +
      `ansible_ssh_private_key_file=${lab.privateKeyPath} my_iface=eth0`,
  );
  const [first, ...rest] = lab.machines.map((machine) => machine.name);
  return [
    "# groundcrew demo lab: Ansible INI inventory, read unchanged",
    ...hostLines,
    "[driver]",
    first ?? "",
    "[worker]",
    ...rest,
    "[registry]",
    first ?? "",
    "[all:vars]",
    "has_gpu=false",
    "install_docker=true",
    "install_nvidia_driver=false",
    "http_port=9000",
    "https_port=9443",
    "",
  ].join("\n");
}
