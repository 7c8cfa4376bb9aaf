import { z } from "zod";
import { GroundcrewError } from "../../shared/errors.js";
import type { NetworkInterfaceFacts } from "../../shared/facts.js";
import type { Exec } from "../../shared/host-io.js";

/** The part of `ip -j address show` we rely on; other keys are allowed and ignored. */
const ipAddressOutput = z.array(
  z
    .object({
      ifname: z.string(),
      address: z.string().optional(),
      flags: z.array(z.string()).default([]),
      mtu: z.number().int().nonnegative().default(0),
      addr_info: z
        .array(
          z
            .object({
              family: z.string(),
              local: z.string().optional(),
              prefixlen: z.number().int().min(0).max(128).optional(),
            })
            .passthrough(),
        )
        .default([]),
    })
    .passthrough(),
);

/** Throws GroundcrewError FACTS_UNREADABLE when the text is not the JSON `ip -j address show` prints. */
export function parseIpAddressJson(text: string): NetworkInterfaceFacts[] {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (cause) {
    throw new GroundcrewError("FACTS_UNREADABLE", "`ip -j address show` did not print JSON", { cause });
  }
  const parsed = ipAddressOutput.safeParse(document);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new GroundcrewError(
      "FACTS_UNREADABLE",
      `unexpected \`ip -j address show\` output at ${issue?.path.join(".") ?? "?"}: ${issue?.message ?? "?"}`,
    );
  }
  return parsed.data.map((link) => ({
    name: link.ifname,
    mac: link.address ?? "",
    up: link.flags.includes("UP"),
    mtu: link.mtu,
    addresses: link.addr_info.flatMap((info) =>
      (info.family === "inet" || info.family === "inet6") && info.local !== undefined
        ? [{ family: info.family, address: info.local, prefixLength: info.prefixlen ?? 0 }]
        : [],
    ),
  }));
}

/** Interfaces and their addresses from iproute2 (present on every supported distribution). */
export async function readNetwork(exec: Exec): Promise<NetworkInterfaceFacts[]> {
  const result = await exec.run(["ip", "-j", "address", "show"]);
  if (result.code !== 0) {
    throw new GroundcrewError(
      "FACTS_UNREADABLE",
      `\`ip -j address show\` exited with ${result.code}: ${result.stderr.trim()}`,
    );
  }
  return parseIpAddressJson(result.stdout);
}
