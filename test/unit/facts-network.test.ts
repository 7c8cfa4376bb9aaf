import { describe, expect, it } from "vitest";
import { parseIpAddressJson, readNetwork } from "../../agent/facts/network.js";
import { isGroundcrewError } from "../../shared/errors.js";
import { fakeExec } from "../fakes/fake-exec.js";

/** `ip -j address show` as iproute2 6.x prints it: lo, and eth0 with an inet and an inet6 address. */
const LO_AND_ETH0 = JSON.stringify([
  {
    ifindex: 1,
    ifname: "lo",
    flags: ["LOOPBACK", "UP", "LOWER_UP"],
    mtu: 65536,
    qdisc: "noqueue",
    operstate: "UNKNOWN",
    group: "default",
    txqlen: 1000,
    link_type: "loopback",
    address: "00:00:00:00:00:00",
    broadcast: "00:00:00:00:00:00",
    addr_info: [
      { family: "inet", local: "127.0.0.1", prefixlen: 8, scope: "host", label: "lo" },
      { family: "inet6", local: "::1", prefixlen: 128, scope: "host", noprefixroute: true },
    ],
  },
  {
    ifindex: 2,
    ifname: "eth0",
    flags: ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
    mtu: 9000,
    qdisc: "mq",
    operstate: "UP",
    link_type: "ether",
    address: "3c:ec:ef:01:02:03",
    altnames: ["enp59s0f0"],
    addr_info: [
      { family: "inet", local: "192.168.10.21", prefixlen: 23, broadcast: "192.168.11.255", dynamic: true },
      { family: "inet6", local: "fe80::3eec:efff:fe01:203", prefixlen: 64, scope: "link" },
    ],
  },
]);

function factsUnreadable(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(isGroundcrewError(error, "FACTS_UNREADABLE")).toBe(true);
    return error instanceof Error ? error.message : String(error);
  }
  return expect.fail("expected FACTS_UNREADABLE");
}

describe("interfaces from `ip -j address show`", () => {
  it("maps lo and eth0 exactly, ignoring keys it does not use", async () => {
    const exec = fakeExec({ "ip -j address show": { stdout: `${LO_AND_ETH0}\n` } });
    expect(await readNetwork(exec)).toEqual([
      {
        name: "lo",
        mac: "00:00:00:00:00:00",
        up: true,
        mtu: 65536,
        addresses: [
          { family: "inet", address: "127.0.0.1", prefixLength: 8 },
          { family: "inet6", address: "::1", prefixLength: 128 },
        ],
      },
      {
        name: "eth0",
        mac: "3c:ec:ef:01:02:03",
        up: true,
        mtu: 9000,
        addresses: [
          { family: "inet", address: "192.168.10.21", prefixLength: 23 },
          { family: "inet6", address: "fe80::3eec:efff:fe01:203", prefixLength: 64 },
        ],
      },
    ]);
    expect(exec.commandLines()).toEqual(["ip -j address show"]);
  });

  it("tolerates links without a MAC or flags, and drops empty or non-IP address entries", () => {
    const text = JSON.stringify([
      { ifname: "wg0", mtu: 1420, flags: ["POINTOPOINT", "NOARP"], addr_info: [{}, { family: "link" }] },
      { ifname: "tun0", addr_info: [{ family: "inet", local: "10.8.0.1" }] },
    ]);
    expect(parseIpAddressJson(text)).toEqual([
      { name: "wg0", mac: "", up: false, mtu: 1420, addresses: [] },
      {
        name: "tun0",
        mac: "",
        up: false,
        mtu: 0,
        addresses: [{ family: "inet", address: "10.8.0.1", prefixLength: 0 }],
      },
    ]);
  });

  it("says what is wrong with malformed output", () => {
    expect(factsUnreadable(() => parseIpAddressJson(""))).toBe("`ip -j address show` did not print JSON");
    expect(factsUnreadable(() => parseIpAddressJson('[{"ifname": "eth0",'))).toMatch(/did not print JSON/);
    expect(factsUnreadable(() => parseIpAddressJson('{"ifname": "eth0"}'))).toMatch(
      /unexpected `ip -j address show` output at top level: Expected array, received object/,
    );
    expect(
      factsUnreadable(() =>
        parseIpAddressJson('[{"ifname": "eth0", "addr_info": [{"family": "inet", "prefixlen": 200}]}]'),
      ),
    ).toMatch(/at 0\.addr_info\.0\.prefixlen/);
  });

  it("names the command and its stderr when ip fails", async () => {
    const exec = fakeExec({ "ip -j address show": { code: 255, stderr: "Cannot open netlink socket\n" } });
    await expect(readNetwork(exec)).rejects.toThrow(/exited with 255: Cannot open netlink socket/);
  });

  it("lets a missing ip binary (spawn failure) through unchanged", async () => {
    const enoent = Object.assign(new Error("spawn ip ENOENT"), { code: "ENOENT" });
    await expect(readNetwork(fakeExec({ "ip -j address show": enoent }))).rejects.toBe(enoent);
  });
});
