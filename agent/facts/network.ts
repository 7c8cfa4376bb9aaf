import { z } from "zod";
import { GroundcrewError } from "../../shared/errors.js";
import type { NetworkInterfaceFacts } from "../../shared/facts.js";
import type { Exec } from "../../shared/host-io.js";

export const IP_ADDRESS_COMMAND = ["ip", "-j", "address", "show"] as const;
const COMMAND_TEXT = IP_ADDRESS_COMMAND.join(" ");

/**
 * The part of `ip -j address show` we rely on; unknown keys pass through and
 * are ignored. Some iproute2 versions print empty `{}` entries in addr_info,
 * so an entry's family and local are optional (such entries are dropped).
 */
const ipAddressOutputSchema = z.array(
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
              family: z.string().optional(),
              local: z.string().optional(),
              prefixlen: z.number().int().min(0).max(128).optional(),
            })
            .passthrough(),
        )
        .default([]),
    })
    .passthrough(),
);

/**
 * Maps the JSON `ip -j address show` prints to interface facts: mac is the
 * link address ("" when it has none), up means the UP flag is set, and only
 * inet/inet6 addresses are kept. Throws GroundcrewError FACTS_UNREADABLE when
 * the text is not JSON or not shaped like iproute2's output.
 */
export function parseIpAddressJson(text: string): NetworkInterfaceFacts[] {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (cause) {
    throw new GroundcrewError("FACTS_UNREADABLE", `\`${COMMAND_TEXT}\` did not print JSON`, {
      cause,
      context: { command: COMMAND_TEXT },
    });
  }
  const parsed = ipAddressOutputSchema.safeParse(document);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue === undefined || issue.path.length === 0 ? "top level" : issue.path.join(".");
    throw new GroundcrewError(
      "FACTS_UNREADABLE",
      `unexpected \`${COMMAND_TEXT}\` output at ${where}: ${issue?.message ?? "invalid"}`,
      { cause: parsed.error, context: { command: COMMAND_TEXT } },
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
  })) satisfies NetworkInterfaceFacts[];
}

/**
 * Interfaces and their addresses from iproute2 (present on every supported
 * distribution). A non-zero exit throws FACTS_UNREADABLE naming the command
 * and its stderr.
 */
export async function readNetwork(exec: Exec): Promise<NetworkInterfaceFacts[]> {
  const result = await exec.run(IP_ADDRESS_COMMAND);
  if (result.code !== 0) {
    throw new GroundcrewError(
      "FACTS_UNREADABLE",
      `\`${COMMAND_TEXT}\` exited with ${result.code}: ${result.stderr.trim()}`,
      { context: { command: COMMAND_TEXT, exitCode: result.code } },
    );
  }
  return parseIpAddressJson(result.stdout);
}
