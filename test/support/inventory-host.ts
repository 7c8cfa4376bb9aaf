import type { InventoryHost } from "../../server/inventory/types.js";

/** A validated inventory host for unit tests: passwordless sudo, SSH agent, no GPU, no labels, unless given. */
export function testHost(
  name: string,
  role: "server" | "worker",
  options: {
    address?: string;
    depot?: boolean;
    groups?: string[];
    vars?: Partial<InventoryHost["vars"]>;
  } = {},
): InventoryHost {
  return {
    name,
    address: options.address ?? name,
    ssh: { user: "ops", port: 22, useAgent: true },
    sudo: { mode: "passwordless" },
    role,
    depot: options.depot ?? false,
    vars: {
      gpu: false,
      labels: {},
      taints: [],
      installDocker: false,
      installNvidiaDriver: false,
      ...options.vars,
    },
    groups: options.groups ?? [],
    source: { file: "/etc/groundcrew/inventory.yaml", line: 1 },
  };
}
