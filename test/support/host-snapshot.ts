import type { LabFleet } from "./lab-fleet.js";

/** A line a snapshot may differ in after `up` + `reset`, with the reason it is allowed to. */
export interface Allowed {
  readonly pattern: RegExp;
  readonly reason: string;
}

/**
 * What may differ on a lab host after `up` + `reset` of a fleet that ran
 * dpkg and groupadd (Docker), each with its reason. Everything else must be
 * as it was before `up`.
 */
export const RESET_ALLOWED: readonly Allowed[] = [
  {
    pattern: /^\/home\/ops\/\.cache /,
    reason:
      "the login user's cache folder: the agent is pushed below it; it may have existed before, so it stays",
  },
  {
    pattern: /^\/etc\/(group|gshadow)- /,
    reason: "shadow's backup of the previous group file, rewritten by groupadd and groupdel",
  },
  { pattern: /^[0-9a-f]{64} {2}\/etc\/(group|gshadow)-$/, reason: "the same backups' content" },
  {
    pattern: /^\/var\/lib\/dpkg\/(status-old|triggers\/\S+|lock\S*) /,
    reason: "dpkg's own bookkeeping: the previous status and trigger files it rewrites on every run",
  },
];

/**
 * What `reset` must leave as it found it on a machine: every path under
 * /etc, /var/lib, /usr/local, /root and /home with its type, mode and (for
 * non-directories) size, the content hash of every file under /etc, the unit
 * files, the kernel parameters host preparation sets, the network links and
 * routes, and the iptables rules (without counters; a table holding only
 * built-in chains with policy ACCEPT and no rule is left out, as it filters
 * nothing and equals an absent one — iptables-save lists a table once any
 * program has loaded it, and the kernel offers no way to unload it again
 * inside a container). Lines matching an `allowed` pattern are left out.
 * Sorted lines.
 */
export async function snapshotHost(
  fleet: LabFleet,
  machine: string,
  allowed: readonly Allowed[],
): Promise<string[]> {
  const script = [
    "find /etc /var/lib /usr/local /root /home -xdev \\( -type d -printf '%p d %m\\n' \\) -o \\( ! -type d -printf '%p %y %m %s\\n' \\)",
    "find /etc -xdev -type f -exec sha256sum {} +",
    "systemctl list-unit-files --no-legend --no-pager",
    "sysctl net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables",
    "ip -o link show | awk -F': ' '{print \"link \" $2}' | sed 's/@.*//'",
    "ip route show | sed 's/^/route /'",
    "iptables-save | grep -v '^#' | sed -e 's/\\[[0-9]*:[0-9]*\\]//' -e 's/^/iptables /'",
  ].join("; ");
  const lines = withoutEmptyTables((await fleet.asRoot(machine, ["sh", "-c", script])).split("\n"));
  return lines.filter((line) => line !== "" && !allowed.some(({ pattern }) => pattern.test(line))).sort();
}

/** Drops "iptables *table ... COMMIT" blocks that only declare chains with policy ACCEPT. */
function withoutEmptyTables(lines: readonly string[]): string[] {
  const kept: string[] = [];
  let table: string[] | undefined;
  for (const line of lines) {
    if (line.startsWith("iptables *")) {
      table = [line];
    } else if (table !== undefined) {
      table.push(line);
      if (line.trim() === "iptables COMMIT") {
        const body = table.slice(1, -1);
        if (!body.every((entry) => /^iptables :[A-Z]+ ACCEPT\s*$/.test(entry))) kept.push(...table);
        table = undefined;
      }
    } else {
      kept.push(line);
    }
  }
  return kept.concat(table ?? []);
}

/** Lines only in `after` (left behind) and only in `before` (removed). */
export function snapshotDiff(
  before: readonly string[],
  after: readonly string[],
): { added: string[]; removed: string[] } {
  const was = new Set(before);
  const is = new Set(after);
  return { added: after.filter((line) => !was.has(line)), removed: before.filter((line) => !is.has(line)) };
}
