import { describe, expect, it } from "vitest";
import { renderSysctlFile, SYSCTL_FILE, sysctlStep } from "../../agent/steps/sysctl.js";
import { fakePrepHost } from "../fakes/prep-host.js";
import { hostTree, stepHarness, TEST_STATE_DIR } from "../fakes/step-harness.js";

const bridgeHost = () => fakePrepHost({ builtIn: { overlay: true, brNetfilter: true } });

describe("host.sysctl", () => {
  it("records the previous values before any change, writes the file, applies it, and is done afterwards", async () => {
    const host = bridgeHost();
    const step = stepHarness(sysctlStep, host);
    expect(step.bound.title).toBe("Set kernel parameters for k3s");
    expect((await step.check()).reason).toBe(
      `${SYSCTL_FILE} is missing or differs; net.ipv4.ip_forward is 0, wanted 1; ` +
        "net.bridge.bridge-nf-call-iptables is 0, wanted 1; net.bridge.bridge-nf-call-ip6tables is 0, wanted 1",
    );
    expect(await step.apply()).toEqual({
      changes: [
        `wrote ${SYSCTL_FILE}`,
        "set net.ipv4.ip_forward=1 (was 0)",
        "set net.bridge.bridge-nf-call-iptables=1 (was 0)",
        "set net.bridge.bridge-nf-call-ip6tables=1 (was 0)",
      ],
    });
    await step.verify();
    // The ledger (with the previous values) is written before the file and before `sysctl -p`.
    const ledgerWrite = host.fs.writes.indexOf(`writeFileAtomic ${TEST_STATE_DIR}/ledger/host.sysctl.json`);
    expect(ledgerWrite).toBeGreaterThanOrEqual(0);
    expect(ledgerWrite).toBeLessThan(host.fs.writes.indexOf(`writeFileAtomic ${SYSCTL_FILE}`));
    expect(host.exec.commandLines()).toEqual([`sysctl -p ${SYSCTL_FILE}`]);
    expect((await step.ledger.read())?.sysctls).toEqual([
      { key: "net.ipv4.ip_forward", previous: "0", applied: "1" },
      { key: "net.bridge.bridge-nf-call-iptables", previous: "0", applied: "1" },
      { key: "net.bridge.bridge-nf-call-ip6tables", previous: "0", applied: "1" },
    ]);
    expect(await host.fs.readText(SYSCTL_FILE)).toBe(
      "# Written by groundcrew (host.sysctl): kernel parameters for k3s.\n" +
        "net.ipv4.ip_forward = 1\nnet.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\n",
    );
    expect(await step.check()).toEqual({
      done: true,
      reason: `${SYSCTL_FILE} is in place and every value is set`,
    });
  });

  it("adds IPv6 forwarding when params.ipv6 is true, and validates params", async () => {
    const host = bridgeHost();
    const step = stepHarness(sysctlStep, host, { ipv6: true });
    await step.apply();
    await step.verify();
    expect(await host.fs.readText("/proc/sys/net/ipv6/conf/all/forwarding")).toBe("1\n");
    expect(renderSysctlFile({ ipv6: true })).toContain("net.ipv6.conf.all.forwarding = 1\n");
    expect(() => sysctlStep.bind({ ipv6: "yes" })).toThrowError(
      /parameters of host.sysctl are not valid at ipv6: Expected boolean, received string/,
    );
    expect(() => sysctlStep.bind({ extra: 1 })).toThrow(/parameters of host.sysctl are not valid/);
  });

  it("undo deletes the file and writes the previous values back", async () => {
    const host = bridgeHost();
    const before = hostTree(host.fs);
    const step = stepHarness(sysctlStep, host);
    await step.apply();
    expect(await step.undo()).toEqual({
      changes: [
        `removed ${SYSCTL_FILE}`,
        "restored net.ipv4.ip_forward=0",
        "restored net.bridge.bridge-nf-call-iptables=0",
        "restored net.bridge.bridge-nf-call-ip6tables=0",
      ],
    });
    expect(hostTree(host.fs)).toEqual(before);
  });

  it("does not record values that were already right, so undo leaves them", async () => {
    const host = bridgeHost();
    await host.fs.writeFileAtomic("/proc/sys/net/ipv4/ip_forward", "1\n", 0o644);
    const step = stepHarness(sysctlStep, host);
    await step.apply();
    expect((await step.ledger.read())?.sysctls.map((entry) => entry.key)).not.toContain(
      "net.ipv4.ip_forward",
    );
    await step.undo();
    expect(await host.fs.readText("/proc/sys/net/ipv4/ip_forward")).toBe("1\n");
  });

  it("fails with SYSCTL_UNAVAILABLE, changing nothing, when br_netfilter is not loaded", async () => {
    const host = fakePrepHost();
    const step = stepHarness(sysctlStep, host);
    await expect(step.apply()).rejects.toMatchObject({
      code: "SYSCTL_UNAVAILABLE",
      message:
        "net.bridge.bridge-nf-call-iptables does not exist on this host: no /proc/sys/net/bridge/bridge-nf-call-iptables " +
        "(br_netfilter is not loaded: run host.kernel-modules first)",
    });
    expect(host.fs.writes).toEqual([]);
    expect(host.exec.calls).toEqual([]);
  });

  it("verify fails with SYSCTL_MISMATCH when a value did not take", async () => {
    const host = bridgeHost();
    host.exec.answer(`sysctl -p ${SYSCTL_FILE}`, {});
    const step = stepHarness(sysctlStep, host);
    await step.apply();
    await expect(step.verify()).rejects.toMatchObject({
      code: "SYSCTL_MISMATCH",
      message: "net.ipv4.ip_forward is 0, wanted 1 (/proc/sys/net/ipv4/ip_forward)",
    });
  });

  it("a failing sysctl -p is HOST_COMMAND_FAILED, and undo still restores what was recorded", async () => {
    const host = bridgeHost();
    const before = hostTree(host.fs);
    host.exec.answer(`sysctl -p ${SYSCTL_FILE}`, {
      code: 255,
      stderr: 'sysctl: permission denied on key "net.ipv4.ip_forward"\n',
    });
    const step = stepHarness(sysctlStep, host);
    await expect(step.apply()).rejects.toMatchObject({ code: "HOST_COMMAND_FAILED" });
    expect(await step.undo()).toEqual({ changes: [`removed ${SYSCTL_FILE}`] });
    expect(hostTree(host.fs)).toEqual(before);
  });
});
