import { createHash } from "node:crypto";

/** The user every lab machine has: non-root, passwordless sudo, logs in with the lab's key. */
export const LAB_USER = "ops";
/** One file for every account's lab key; root-owned, so sshd's StrictModes accepts it for any user. */
export const LAB_AUTHORIZED_KEYS = "/etc/ssh/groundcrew_lab_authorized_keys";

export interface OverlayFile {
  readonly content: string;
  readonly mode: number;
}

/**
 * What a lab machine image is made of. Everything that can change the image
 * is in here, because the image is cached under a hash of this value: edit
 * the recipe and the next lab run builds a new image.
 */
export interface MachineImageRecipe {
  /** Bump to force a rebuild when something outside this object changes the result. */
  readonly revision: number;
  readonly suite: string;
  readonly packages: readonly string[];
  /** Files written into the root file system before the hooks run. */
  readonly overlay: Readonly<Record<string, OverlayFile>>;
  /** mmdebstrap customize hooks; "$1" is the root file system being built. */
  readonly hooks: readonly string[];
}

export const MACHINE_RECIPE: MachineImageRecipe = {
  revision: 1,
  suite: "bookworm",
  // What a minimal server install has, and nothing the product must bring itself (no Node.js).
  packages: [
    "openssh-server",
    "systemd",
    "systemd-sysv",
    "dbus",
    "iproute2",
    "procps",
    "kmod",
    "iptables",
    "sudo",
    "ca-certificates",
  ],
  overlay: {
    [`/etc/sudoers.d/groundcrew-lab`]: { content: `${LAB_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n`, mode: 0o440 },
    "/etc/ssh/sshd_config.d/10-groundcrew-lab.conf": {
      content: [
        `AuthorizedKeysFile .ssh/authorized_keys ${LAB_AUTHORIZED_KEYS}`,
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UseDNS no",
        "",
      ].join("\n"),
      mode: 0o644,
    },
    // Host keys are made at first boot, so every machine has its own.
    "/etc/systemd/system/ssh.service.d/10-host-keys.conf": {
      content: [
        "[Service]",
        "ExecStartPre=",
        "ExecStartPre=/usr/bin/ssh-keygen -A",
        "ExecStartPre=/usr/sbin/sshd -t",
        "",
      ].join("\n"),
      mode: 0o644,
    },
  },
  hooks: [
    `chroot "$1" useradd --create-home --shell /bin/bash ${LAB_USER}`,
    `rm -f "$1"/etc/ssh/ssh_host_*`,
    // An empty machine-id makes systemd generate a unique one at each machine's first boot.
    `: > "$1/etc/machine-id"`,
    `rm -f "$1/var/lib/dbus/machine-id"`,
    `rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin`,
  ],
};

/** Stable hash of a recipe: the cache key of the image built from it. */
export function recipeHash(recipe: MachineImageRecipe): string {
  const overlay = Object.keys(recipe.overlay)
    .sort()
    .map((path) => [path, recipe.overlay[path]]);
  const canonical = JSON.stringify([recipe.revision, recipe.suite, recipe.packages, overlay, recipe.hooks]);
  return createHash("sha256").update(canonical).digest("hex");
}

export function machineImageTag(recipe: MachineImageRecipe): string {
  return `groundcrew-lab-machine:${recipeHash(recipe).slice(0, 16)}`;
}
