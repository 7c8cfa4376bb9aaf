import { z } from "zod";
import type { Exec, ReadonlyFs } from "../../shared/host-io.js";
import { writeOwnedFile } from "../ledger/owned-files.js";
import { undoRecorded } from "../ledger/undo.js";
import { describeResult, mustRun, tryCommand } from "../runner/host-calls.js";
import { defineStep } from "../runner/step.js";
import { StepError } from "../runner/step-error.js";

export const DEFAULT_ROUTE_UNIT = "groundcrew-default-route.service";
export const DEFAULT_ROUTE_UNIT_FILE = `/etc/systemd/system/${DEFAULT_ROUTE_UNIT}`;
/** The k3s air-gap docs' black-hole route: a /31 on a dummy link, the default via its peer. */
const DUMMY = { link: "dummy0", address: "203.0.113.254/31", via: "203.0.113.255" } as const;
const METRIC = "1000";
const IP_CANDIDATES = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"] as const;

const paramsSchema = z
  .object({
    /** The cluster interface (inventory `iface`); without it, the interface of the host's first IPv4 address. */
    iface: z
      .string()
      .regex(/^[A-Za-z0-9_.:@-]{1,15}$/)
      .optional(),
  })
  .strict();

export type RouteMode = { readonly kind: "dummy" } | { readonly kind: "on-link"; readonly iface: string };

async function ipPath(fs: ReadonlyFs): Promise<string> {
  for (const candidate of IP_CANDIDATES) if ((await fs.stat(candidate)) !== undefined) return candidate;
  throw new StepError("HOST_COMMAND_FAILED", "the `ip` command (iproute2) is not installed", {
    context: { command: "ip" },
  });
}

/** The unit that (re)creates the route at every boot; stopping it removes the route again. */
export function renderRouteUnit(ip: string, mode: RouteMode): string {
  const commands =
    mode.kind === "dummy"
      ? [
          `ExecStart=-${ip} link add ${DUMMY.link} type dummy`,
          `ExecStart=${ip} address replace ${DUMMY.address} dev ${DUMMY.link}`,
          `ExecStart=${ip} link set ${DUMMY.link} up`,
          `ExecStart=${ip} route replace default via ${DUMMY.via} dev ${DUMMY.link} metric ${METRIC}`,
          `ExecStop=-${ip} link delete ${DUMMY.link}`,
        ]
      : [
          `ExecStart=${ip} route replace default dev ${mode.iface} metric ${METRIC}`,
          `ExecStop=-${ip} route delete default dev ${mode.iface} metric ${METRIC}`,
        ];
  return [
    "# Written by groundcrew (host.default-route): k3s needs a default route to pick the node",
    "# address and route ClusterIPs; this air-gapped host had none. Reset removes it.",
    "[Unit]",
    "Description=groundcrew: default route for an air-gapped k3s node",
    "After=network.target",
    "",
    "[Service]",
    "Type=oneshot",
    "RemainAfterExit=yes",
    ...commands,
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

async function defaultRoute(exec: Exec, ip: string): Promise<string> {
  const argv = [ip, "route", "show", "default"] as const;
  const result = await tryCommand(exec, argv);
  if (result.code !== 0) throw new StepError("HOST_COMMAND_FAILED", describeResult(argv, result));
  return result.stdout.trim();
}

/** The interface carrying the host's first global IPv4 address, for the on-link route. */
async function primaryIface(exec: Exec, ip: string): Promise<string> {
  const result = await mustRun(exec, [ip, "-o", "-4", "address", "show", "scope", "global"]);
  const iface = /^\d+:\s+([^\s@]+)/m.exec(result.stdout)?.[1];
  if (iface === undefined) {
    throw new StepError(
      "HOST_COMMAND_FAILED",
      "no interface with a global IPv4 address for the default route",
    );
  }
  return iface;
}

/** Dummy links need the `dummy` driver; kernels without it get an on-link route on the cluster interface. */
async function chooseMode(exec: Exec, ip: string, iface: string | undefined): Promise<RouteMode> {
  const probe = await tryCommand(exec, [ip, "link", "add", "groundcrew-probe", "type", "dummy"]);
  if (probe.code === 0) {
    await mustRun(exec, [ip, "link", "delete", "groundcrew-probe"]);
    return { kind: "dummy" };
  }
  return { kind: "on-link", iface: iface ?? (await primaryIface(exec, ip)) };
}

/**
 * H8: a default route where an air-gapped host has none. A host that has one
 * is left alone. Otherwise a oneshot unit adds the k3s docs' black-hole
 * route (dummy0, 203.0.113.254/31, metric 1000), or, on kernels without the
 * dummy driver, an on-link default route on the cluster interface; the unit
 * makes it survive reboots. Undo stops and disables the unit (which removes
 * the route) and deletes it.
 */
export const defaultRouteStep = defineStep({
  id: "host.default-route",
  params: paramsSchema,
  probes: [
    ["/usr/sbin/ip", "route", "show"],
    ["/sbin/ip", "route", "show"],
    ["/usr/bin/ip", "route", "show"],
    ["/bin/ip", "route", "show"],
    ["systemctl", "is-active"],
  ],
  title: () => "Make sure there is a default route (k3s needs one)",

  async check({ exec, fs }) {
    const ip = await ipPath(fs);
    const route = await defaultRoute(exec, ip);
    if (route === "") return { done: false, reason: "no default route" };
    const ours = (await fs.stat(DEFAULT_ROUTE_UNIT_FILE)) !== undefined;
    return {
      done: true,
      reason: ours ? `default route from ${DEFAULT_ROUTE_UNIT}: ${route}` : `has a default route: ${route}`,
    };
  },

  async apply({ exec, fs, ledger, params }) {
    const ip = await ipPath(fs);
    const mode = await chooseMode(exec, ip, params.iface);
    const unit = renderRouteUnit(ip, mode);
    const changes: string[] = [];
    if (await writeOwnedFile({ fs, ledger }, DEFAULT_ROUTE_UNIT_FILE, unit, 0o644)) {
      changes.push(`wrote ${DEFAULT_ROUTE_UNIT_FILE}`);
    }
    await mustRun(exec, ["systemctl", "daemon-reload"]);
    await mustRun(exec, ["systemctl", "enable", DEFAULT_ROUTE_UNIT]);
    await mustRun(exec, ["systemctl", "restart", DEFAULT_ROUTE_UNIT]);
    changes.push(
      mode.kind === "dummy"
        ? `added a black-hole default route via ${DUMMY.link} (metric ${METRIC})`
        : `added an on-link default route on ${mode.iface} (metric ${METRIC}; no dummy driver in this kernel)`,
    );
    return { changes };
  },

  async verify({ exec, fs }) {
    const route = await defaultRoute(exec, await ipPath(fs));
    if (route === "") {
      throw new StepError(
        "STEP_VERIFY_FAILED",
        `still no default route after starting ${DEFAULT_ROUTE_UNIT}`,
        {
          context: { unit: DEFAULT_ROUTE_UNIT },
        },
      );
    }
  },

  async undo({ exec, fs, ledger }) {
    const record = await ledger.read();
    const changes: string[] = [];
    if (record?.files.some((file) => file.path === DEFAULT_ROUTE_UNIT_FILE) === true) {
      await tryCommand(exec, ["systemctl", "disable", "--now", DEFAULT_ROUTE_UNIT]);
      changes.push(`stopped and disabled ${DEFAULT_ROUTE_UNIT} (its route is gone)`);
    }
    changes.push(...(await undoRecorded({ exec, fs, ledger })));
    await tryCommand(exec, ["systemctl", "daemon-reload"]);
    return { changes };
  },
});
