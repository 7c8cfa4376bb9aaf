import { describe, expect, it } from "vitest";
import {
  DEFAULT_ROUTE_UNIT,
  DEFAULT_ROUTE_UNIT_FILE,
  defaultRouteStep,
  renderRouteUnit,
} from "../../agent/steps/default-route.js";
import { fakeSystemd } from "../fakes/fake-systemd.js";
import { fakePrepHost } from "../fakes/prep-host.js";
import { hostTree, stepHarness } from "../fakes/step-harness.js";

const ENABLE_LINK = `/etc/systemd/system/multi-user.target.wants/${DEFAULT_ROUTE_UNIT}`;

/**
 * A host's links and routes as iproute2 changes them: `link add … type
 * dummy` (only with the dummy driver), `link delete` (with its routes),
 * `address replace`, `link set up`, `route replace/delete default …`,
 * `route show default`. The unit's ExecStart/ExecStop lines run here when
 * systemd starts or stops it, the way systemd would run them.
 */
function networkHost(
  options: { defaultRoute?: string; dummy?: boolean; ip?: string; globalIpv4?: boolean } = {},
) {
  const ip = options.ip ?? "/usr/sbin/ip";
  const host = fakePrepHost({ swap: false, extra: { [ip]: "(iproute2)" } });
  const links = new Set(["lo", "eth0"]);
  const routes: string[] = options.defaultRoute === undefined ? [] : [options.defaultRoute];

  const run = (args: readonly string[]): { code?: number; stdout?: string; stderr?: string } => {
    const line = args.join(" ");
    let match: RegExpExecArray | null;
    if (line === "route show default") return { stdout: routes.map((route) => `${route}\n`).join("") };
    if ((match = /^link add (\S+) type dummy$/.exec(line)) !== null) {
      if (options.dummy === false) return { code: 2, stderr: "Error: Unknown device type.\n" };
      if (links.has(match[1]!)) return { code: 2, stderr: "RTNETLINK answers: File exists\n" };
      links.add(match[1]!);
      return {};
    }
    if ((match = /^link delete (\S+)$/.exec(line)) !== null) {
      const link = match[1]!;
      if (!links.delete(link)) return { code: 1, stderr: `Cannot find device "${link}"\n` };
      routes.splice(0, routes.length, ...routes.filter((route) => !route.includes(` dev ${link} `)));
      return {};
    }
    if (/^address replace \S+ dev (\S+)$/.test(line) || /^link set (\S+) up$/.test(line)) return {};
    if ((match = /^route replace default (via \S+ )?dev (\S+) metric (\d+)$/.exec(line)) !== null) {
      const route = `default ${match[1] ?? ""}dev ${match[2]!} ${match[1] === undefined ? "scope link " : ""}metric ${match[3]!}`;
      routes.splice(
        0,
        routes.length,
        ...routes.filter((other) => !other.endsWith(`metric ${match![3]!}`)),
        route,
      );
      return {};
    }
    if ((match = /^route delete default dev (\S+) metric (\d+)$/.exec(line)) !== null) {
      const before = routes.length;
      routes.splice(
        0,
        routes.length,
        ...routes.filter((route) => !route.startsWith(`default dev ${match![1]!} `)),
      );
      return routes.length < before ? {} : { code: 2, stderr: "RTNETLINK answers: No such process\n" };
    }
    if (line === "-o -4 address show scope global") {
      return {
        stdout:
          options.globalIpv4 === false
            ? ""
            : "2: eth0    inet 10.0.0.5/24 brd 10.0.0.255 scope global eth0\\       valid_lft forever preferred_lft forever\n",
      };
    }
    return { code: 1, stderr: `fake ip does not know: ${line}\n` };
  };
  for (const line of [
    "route show default",
    "link add groundcrew-probe type dummy",
    "link delete groundcrew-probe",
    "-o -4 address show scope global",
  ]) {
    host.exec.answer(`${ip} ${line}`, (argv) => run(argv.slice(1)));
  }

  /** Runs the unit's ExecStart= (or ExecStop=) lines as systemd would; a "-" prefix ignores failure. */
  const runUnit = async (key: "ExecStart" | "ExecStop"): Promise<Error | undefined> => {
    const unit = await host.fs.readText(DEFAULT_ROUTE_UNIT_FILE);
    for (const entry of unit.split("\n").filter((text) => text.startsWith(`${key}=`))) {
      const command = entry.slice(key.length + 1);
      const [binary, ...args] = command.replace(/^-/, "").split(" ");
      const result = binary === ip ? run(args) : { code: 203 };
      if ((result.code ?? 0) !== 0 && !command.startsWith("-")) return new Error(`${command} failed`);
    }
    return undefined;
  };
  const systemd = fakeSystemd(host.exec, host.fs, {
    [DEFAULT_ROUTE_UNIT]: {
      start: () => runUnit("ExecStart"),
      stop: async () => {
        await runUnit("ExecStop");
      },
    },
  });
  return { ...host, links, routes, systemd };
}

describe("host.default-route", () => {
  it("leaves a host that has a default route alone: done, nothing written, nothing to undo", async () => {
    const host = networkHost({ defaultRoute: "default via 10.0.0.1 dev eth0 proto static" });
    const before = hostTree(host.fs);
    const step = stepHarness(defaultRouteStep, host);
    expect(step.bound.title).toBe("Make sure there is a default route (k3s needs one)");
    expect(await step.check()).toEqual({
      done: true,
      reason: "has a default route: default via 10.0.0.1 dev eth0 proto static",
    });
    await step.verify();
    expect(await step.undo()).toEqual({ changes: [] });
    expect(host.fs.writes).toEqual([]);
    expect(host.exec.commandLines().filter((line) => !line.startsWith("/usr/sbin/ip route show"))).toEqual([
      "systemctl daemon-reload",
    ]);
    expect(host.routes).toEqual(["default via 10.0.0.1 dev eth0 proto static"]);
    expect(hostTree(host.fs)).toEqual(before);
  });

  it("adds the black-hole route through dummy0 with a oneshot unit, is done afterwards; undo removes both", async () => {
    const host = networkHost();
    const before = hostTree(host.fs);
    const step = stepHarness(defaultRouteStep, host);
    expect(await step.check()).toEqual({ done: false, reason: "no default route" });
    expect(await step.apply()).toEqual({
      changes: [
        `wrote ${DEFAULT_ROUTE_UNIT_FILE}`,
        "added a black-hole default route via dummy0 (metric 1000)",
      ],
    });
    await step.verify();
    expect(host.exec.commandLines()).toEqual([
      "/usr/sbin/ip route show default",
      "/usr/sbin/ip link add groundcrew-probe type dummy",
      "/usr/sbin/ip link delete groundcrew-probe",
      "systemctl daemon-reload",
      `systemctl enable ${DEFAULT_ROUTE_UNIT}`,
      `systemctl restart ${DEFAULT_ROUTE_UNIT}`,
      "/usr/sbin/ip route show default",
    ]);
    const unit = await host.fs.readText(DEFAULT_ROUTE_UNIT_FILE);
    expect(unit).toBe(renderRouteUnit("/usr/sbin/ip", { kind: "dummy" }));
    expect(unit).toContain("Type=oneshot\nRemainAfterExit=yes\n");
    expect(unit.split("\n").filter((line) => line.startsWith("Exec"))).toEqual([
      "ExecStart=-/usr/sbin/ip link add dummy0 type dummy",
      "ExecStart=/usr/sbin/ip address replace 203.0.113.254/31 dev dummy0",
      "ExecStart=/usr/sbin/ip link set dummy0 up",
      "ExecStart=/usr/sbin/ip route replace default via 203.0.113.255 dev dummy0 metric 1000",
      "ExecStop=-/usr/sbin/ip link delete dummy0",
    ]);
    expect(host.fs.modeOf(DEFAULT_ROUTE_UNIT_FILE)).toBe(0o644);
    expect(await host.fs.readText(ENABLE_LINK)).toBe(`(link to ${DEFAULT_ROUTE_UNIT_FILE})`);
    expect(host.routes).toEqual(["default via 203.0.113.255 dev dummy0 metric 1000"]);
    expect([...host.links]).toEqual(["lo", "eth0", "dummy0"]);
    expect((await step.ledger.read())?.files).toEqual([
      expect.objectContaining({ path: DEFAULT_ROUTE_UNIT_FILE, mode: 0o644, previous: null }),
    ]);
    expect(await step.check()).toEqual({
      done: true,
      reason: `default route from ${DEFAULT_ROUTE_UNIT}: default via 203.0.113.255 dev dummy0 metric 1000`,
    });

    // Applying again rewrites nothing.
    const writes = host.fs.writes.length;
    expect((await step.apply()).changes).not.toContain(`wrote ${DEFAULT_ROUTE_UNIT_FILE}`);
    expect(host.fs.writes.slice(writes).filter((write) => write.includes(DEFAULT_ROUTE_UNIT_FILE))).toEqual(
      [],
    );

    expect(await step.undo()).toEqual({
      changes: [
        `stopped and disabled ${DEFAULT_ROUTE_UNIT} (its route is gone)`,
        `removed ${DEFAULT_ROUTE_UNIT_FILE}`,
      ],
    });
    expect(host.routes).toEqual([]);
    expect([...host.links]).toEqual(["lo", "eth0"]);
    expect(host.systemd.active.size).toBe(0);
    expect(hostTree(host.fs)).toEqual(before);
    expect(await step.ledger.read()).toMatchObject({ files: [], directories: [] });
  });

  it("falls back to an on-link route on the interface of the first global IPv4 address when there is no dummy driver", async () => {
    const host = networkHost({ dummy: false });
    const before = hostTree(host.fs);
    const step = stepHarness(defaultRouteStep, host);
    expect((await step.apply()).changes).toEqual([
      `wrote ${DEFAULT_ROUTE_UNIT_FILE}`,
      "added an on-link default route on eth0 (metric 1000; no dummy driver in this kernel)",
    ]);
    await step.verify();
    expect(host.exec.commandLines().slice(0, 2)).toEqual([
      "/usr/sbin/ip link add groundcrew-probe type dummy",
      "/usr/sbin/ip -o -4 address show scope global",
    ]);
    expect(
      (await host.fs.readText(DEFAULT_ROUTE_UNIT_FILE)).split("\n").filter((line) => line.startsWith("Exec")),
    ).toEqual([
      "ExecStart=/usr/sbin/ip route replace default dev eth0 metric 1000",
      "ExecStop=-/usr/sbin/ip route delete default dev eth0 metric 1000",
    ]);
    expect(host.routes).toEqual(["default dev eth0 scope link metric 1000"]);
    expect((await step.check()).done).toBe(true);

    await step.undo();
    expect(host.routes).toEqual([]);
    expect(hostTree(host.fs)).toEqual(before);
  });

  it("uses params.iface for the on-link route, and whichever ip binary the host has", async () => {
    const host = networkHost({ dummy: false, ip: "/sbin/ip" });
    const step = stepHarness(defaultRouteStep, host, { iface: "bond0.100" });
    await step.apply();
    expect(host.exec.commandLines()).not.toContain("/sbin/ip -o -4 address show scope global");
    expect(await host.fs.readText(DEFAULT_ROUTE_UNIT_FILE)).toBe(
      renderRouteUnit("/sbin/ip", { kind: "on-link", iface: "bond0.100" }),
    );
    expect(host.routes).toEqual(["default dev bond0.100 scope link metric 1000"]);
  });

  it("fails with HOST_COMMAND_FAILED, writing nothing, without a global IPv4 address for the fallback", async () => {
    const host = networkHost({ dummy: false, globalIpv4: false });
    const step = stepHarness(defaultRouteStep, host);
    await expect(step.apply()).rejects.toMatchObject({
      code: "HOST_COMMAND_FAILED",
      message: "no interface with a global IPv4 address for the default route",
    });
    expect(host.fs.writes).toEqual([]);
  });

  it("fails with HOST_COMMAND_FAILED when iproute2 is not installed", async () => {
    const host = fakePrepHost({ swap: false });
    const step = stepHarness(defaultRouteStep, host);
    await expect(step.check()).rejects.toMatchObject({
      code: "HOST_COMMAND_FAILED",
      message: "the `ip` command (iproute2) is not installed",
    });
    expect(host.exec.calls).toEqual([]);
  });

  it("verify fails with STEP_VERIFY_FAILED when the unit left no default route", async () => {
    const host = networkHost();
    host.exec.answer(`systemctl restart ${DEFAULT_ROUTE_UNIT}`, {});
    const step = stepHarness(defaultRouteStep, host);
    await step.apply();
    await expect(step.verify()).rejects.toMatchObject({
      code: "STEP_VERIFY_FAILED",
      message: `still no default route after starting ${DEFAULT_ROUTE_UNIT}`,
    });
  });

  it("a unit that fails to start is HOST_COMMAND_FAILED, and undo still removes the unit", async () => {
    const host = networkHost();
    const before = hostTree(host.fs);
    host.exec.answer(`systemctl restart ${DEFAULT_ROUTE_UNIT}`, {
      code: 1,
      stderr: `Job for ${DEFAULT_ROUTE_UNIT} failed because the control process exited with error code.\n`,
    });
    const step = stepHarness(defaultRouteStep, host);
    await expect(step.apply()).rejects.toMatchObject({ code: "HOST_COMMAND_FAILED" });
    expect((await step.undo()).changes).toContain(`removed ${DEFAULT_ROUTE_UNIT_FILE}`);
    expect(hostTree(host.fs)).toEqual(before);
  });

  it("validates params.iface", () => {
    expect(() => defaultRouteStep.bind({ iface: "eth0; reboot" })).toThrow(
      /parameters of host.default-route are not valid at iface/,
    );
    expect(() => defaultRouteStep.bind({ iface: "a-very-long-interface" })).toThrow(/not valid at iface/);
    expect(() => defaultRouteStep.bind({ via: "10.0.0.1" })).toThrow(
      /not valid at \(params\): Unrecognized key/,
    );
  });
});
