import { describe, expect, it } from "vitest";
import { firewallStep, ufwAddedRule, ufwRule, type WantedRule } from "../../agent/steps/firewall.js";
import { fakeExec, type FakeExec } from "../fakes/fake-exec.js";
import { fakeFs } from "../fakes/fake-fs.js";
import { hostTree, stepHarness } from "../fakes/step-harness.js";

/** Each rule with the line `ufw show added` prints for it (ufw's own canonical spelling, not ours). */
const RULES: readonly { rule: WantedRule; added: string; firewalld: string }[] = [
  {
    rule: { port: "6443", protocol: "tcp" },
    added: "ufw allow 6443/tcp",
    firewalld: "--query-port 6443/tcp",
  },
  {
    rule: { port: "8472", protocol: "udp" },
    added: "ufw allow 8472/udp",
    firewalld: "--query-port 8472/udp",
  },
  {
    rule: { port: "2379-2380", protocol: "tcp" },
    added: "ufw allow 2379:2380/tcp",
    firewalld: "--query-port 2379-2380/tcp",
  },
  {
    rule: { port: "any", protocol: "tcp", source: "10.42.0.0/16" },
    added: "ufw allow from 10.42.0.0/16",
    firewalld: "--zone=trusted --query-source 10.42.0.0/16",
  },
];
const PARAMS = { rules: RULES.map((entry) => entry.rule) };
const ADDED_HEADER = "Added user rules (see 'ufw status' for running firewall):";

/**
 * ufw as its commands show it: `ufw status` says active or inactive, `ufw
 * show added` lists the user rules in ufw's canonical spelling, `ufw allow
 * …` and `ufw delete allow …` (in groundcrew's spelling) add and remove them.
 */
function ufwHost(options: { active?: boolean; rules?: readonly string[] } = {}) {
  const rules: string[] = [...(options.rules ?? ["ufw allow 22/tcp"])];
  const exec: FakeExec = fakeExec({
    "ufw status": () => ({
      stdout:
        options.active === false
          ? "Status: inactive\n"
          : "Status: active\n\nTo   Action   From\n--   ------   ----\n",
    }),
    "ufw show added": () => ({
      stdout: `${ADDED_HEADER}\n${rules.length === 0 ? "(None)" : rules.join("\n")}\n`,
    }),
    "firewall-cmd --state": new Error("spawn firewall-cmd ENOENT"),
  });
  for (const { rule, added } of [
    ...RULES,
    { rule: { port: "22", protocol: "tcp" as const }, added: "ufw allow 22/tcp" },
  ]) {
    exec.answer(`ufw ${ufwRule(rule).join(" ")}`, () => {
      if (rules.includes(added)) return { stdout: "Skipping adding existing rule\n" };
      rules.push(added);
      return { stdout: "Rule added\nRule added (v6)\n" };
    });
    exec.answer(`ufw delete ${ufwRule(rule).join(" ")}`, () => {
      if (!rules.includes(added)) return { stdout: "Could not delete non-existent rule\n" };
      rules.splice(rules.indexOf(added), 1);
      return { stdout: "Rule deleted\nRule deleted (v6)\n" };
    });
  }
  return { fs: fakeFs({ "/etc/hostname": "node1\n" }), exec, rules };
}

/** firewalld running, its runtime and permanent configuration as sets of "6443/tcp" and "source 10.42.0.0/16". */
function firewalldHost(options: { open?: readonly string[] } = {}) {
  const runtime = new Set(options.open ?? []);
  const permanent = new Set(options.open ?? []);
  const exec: FakeExec = fakeExec({
    "ufw status": { code: 127, stderr: "ufw: command not found" },
    "firewall-cmd --state": { stdout: "running\n" },
  });
  const items = RULES.map(({ rule }) =>
    rule.port === "any"
      ? {
          key: `source ${rule.source ?? ""}`,
          args: (verb: string) => `--zone=trusted --${verb}-source ${rule.source ?? ""}`,
        }
      : {
          key: `${rule.port}/${rule.protocol}`,
          args: (verb: string) => `--${verb}-port ${rule.port}/${rule.protocol}`,
        },
  );
  for (const { key, args } of items) {
    exec.answer(`firewall-cmd ${args("query")}`, () =>
      runtime.has(key) ? { stdout: "yes\n" } : { code: 1, stdout: "no\n" },
    );
    for (const [prefix, set] of [
      ["firewall-cmd", runtime],
      ["firewall-cmd --permanent", permanent],
    ] as const) {
      exec.answer(`${prefix} ${args("add")}`, () => {
        set.add(key);
        return { stdout: "success\n" };
      });
      exec.answer(`${prefix} ${args("remove")}`, () => {
        set.delete(key);
        return { stdout: "success\n" };
      });
    }
  }
  return { fs: fakeFs({ "/etc/hostname": "node1\n" }), exec, runtime, permanent };
}

describe("host.firewall", () => {
  it("spells each rule the way `ufw show added` prints it", () => {
    for (const { rule, added } of RULES) expect(`ufw ${ufwAddedRule(rule)}`).toBe(added);
    expect(ufwAddedRule({ port: "6443", protocol: "tcp", source: "10.0.0.0/8" })).toBe(
      "allow from 10.0.0.0/8 to any port 6443 proto tcp",
    );
    expect(ufwRule({ port: "2379-2380", protocol: "tcp" })).toEqual([
      "allow",
      "proto",
      "tcp",
      "from",
      "any",
      "to",
      "any",
      "port",
      "2379:2380",
    ]);
  });

  it("with ufw active: records each missing rule, adds it, is done afterwards; undo deletes exactly those", async () => {
    const host = ufwHost();
    const step = stepHarness(firewallStep, host, PARAMS);
    expect(step.bound.title).toBe("Open 4 port rule(s) in the host firewall, if one is active");
    expect(await step.check()).toEqual({
      done: false,
      reason: "ufw does not allow 6443/tcp, 8472/udp, 2379-2380/tcp, all ports from 10.42.0.0/16",
    });
    expect(await step.apply()).toEqual({
      changes: [
        "ufw: allowed 6443/tcp",
        "ufw: allowed 8472/udp",
        "ufw: allowed 2379-2380/tcp",
        "ufw: allowed all ports from 10.42.0.0/16",
      ],
    });
    await step.verify();
    expect(host.exec.commandLines().filter((line) => !line.startsWith("ufw s"))).toEqual([
      "ufw allow proto tcp from any to any port 6443",
      "ufw allow proto udp from any to any port 8472",
      "ufw allow proto tcp from any to any port 2379:2380",
      "ufw allow from 10.42.0.0/16",
    ]);
    expect(host.rules).toEqual(["ufw allow 22/tcp", ...RULES.map((entry) => entry.added)]);
    expect((await step.ledger.read())?.firewallRules).toEqual(
      RULES.map(({ rule }) => ({ tool: "ufw", ...rule })),
    );
    expect(await step.check()).toEqual({ done: true, reason: "ufw allows every port the cluster needs" });

    // A second apply adds nothing and records nothing twice.
    const before = host.exec.calls.length;
    expect(await step.apply()).toEqual({ changes: [] });
    expect(
      host.exec
        .commandLines()
        .slice(before)
        .filter((line) => !line.startsWith("ufw s")),
    ).toEqual([]);
    expect((await step.ledger.read())?.firewallRules).toHaveLength(4);

    expect(await step.undo()).toEqual({
      changes: [
        "ufw: deleted the rule for 6443/tcp",
        "ufw: deleted the rule for 8472/udp",
        "ufw: deleted the rule for 2379-2380/tcp",
        "ufw: deleted the rule for all ports from 10.42.0.0/16",
      ],
    });
    expect(host.rules).toEqual(["ufw allow 22/tcp"]);
    expect((await step.ledger.read())?.firewallRules).toEqual([]);
  });

  it("leaves a rule the operator had (6443/tcp) out of the ledger, so undo keeps it", async () => {
    const host = ufwHost({ rules: ["ufw allow 22/tcp", "ufw allow 6443/tcp"] });
    const step = stepHarness(firewallStep, host, PARAMS);
    expect((await step.check()).reason).toBe(
      "ufw does not allow 8472/udp, 2379-2380/tcp, all ports from 10.42.0.0/16",
    );
    expect((await step.apply()).changes).not.toContain("ufw: allowed 6443/tcp");
    expect(host.exec.commandLines()).not.toContain("ufw allow proto tcp from any to any port 6443");
    expect((await step.ledger.read())?.firewallRules.map((rule) => rule.port)).toEqual([
      "8472",
      "2379-2380",
      "any",
    ]);
    await step.undo();
    expect(host.rules).toEqual(["ufw allow 22/tcp", "ufw allow 6443/tcp"]);
    expect(host.exec.commandLines().filter((line) => line.includes("6443"))).toEqual([]);
  });

  it("with ufw installed but inactive and no firewalld: done, nothing run that changes anything", async () => {
    const host = ufwHost({ active: false });
    const before = hostTree(host.fs);
    const step = stepHarness(firewallStep, host, PARAMS);
    expect(await step.check()).toEqual({ done: true, reason: "no host firewall (ufw, firewalld) is active" });
    expect(await step.apply()).toEqual({ changes: [] });
    await step.verify();
    expect(await step.undo()).toEqual({ changes: [] });
    expect(host.exec.commandLines()).toEqual([
      "ufw status",
      "firewall-cmd --state",
      "ufw status",
      "firewall-cmd --state",
      "ufw status",
      "firewall-cmd --state",
    ]);
    expect(await step.ledger.read()).toBeUndefined();
    expect(hostTree(host.fs)).toEqual(before);
  });

  it("with firewalld running: adds each rule permanently and at run time, then undo removes both", async () => {
    const host = firewalldHost({ open: ["8472/udp"] });
    const step = stepHarness(firewallStep, host, PARAMS);
    expect(await step.check()).toEqual({
      done: false,
      reason: "firewalld does not allow 6443/tcp, 2379-2380/tcp, all ports from 10.42.0.0/16",
    });
    expect((await step.apply()).changes).toEqual([
      "firewalld: allowed 6443/tcp",
      "firewalld: allowed 2379-2380/tcp",
      "firewalld: allowed all ports from 10.42.0.0/16",
    ]);
    expect(host.exec.commandLines().filter((line) => /--(add|remove)-/.test(line))).toEqual([
      "firewall-cmd --permanent --add-port 6443/tcp",
      "firewall-cmd --add-port 6443/tcp",
      "firewall-cmd --permanent --add-port 2379-2380/tcp",
      "firewall-cmd --add-port 2379-2380/tcp",
      "firewall-cmd --permanent --zone=trusted --add-source 10.42.0.0/16",
      "firewall-cmd --zone=trusted --add-source 10.42.0.0/16",
    ]);
    await step.verify();
    expect(await step.check()).toEqual({
      done: true,
      reason: "firewalld allows every port the cluster needs",
    });
    expect((await step.ledger.read())?.firewallRules).toEqual([
      { tool: "firewalld", port: "6443", protocol: "tcp" },
      { tool: "firewalld", port: "2379-2380", protocol: "tcp" },
      { tool: "firewalld", port: "any", protocol: "tcp", source: "10.42.0.0/16" },
    ]);

    expect((await step.undo()).changes).toEqual([
      "firewalld: deleted the rule for 6443/tcp",
      "firewalld: deleted the rule for 2379-2380/tcp",
      "firewalld: deleted the rule for all ports from 10.42.0.0/16",
    ]);
    // The operator's 8472/udp stays, at run time and in the permanent configuration.
    expect([...host.runtime]).toEqual(["8472/udp"]);
    expect([...host.permanent]).toEqual(["8472/udp"]);
  });

  it("verify fails with STEP_VERIFY_FAILED when a rule did not take", async () => {
    const host = firewalldHost();
    host.exec.answer("firewall-cmd --add-port 6443/tcp", { stdout: "success\n" });
    const step = stepHarness(firewallStep, host, PARAMS);
    await step.apply();
    await expect(step.verify()).rejects.toMatchObject({
      code: "STEP_VERIFY_FAILED",
      message: "firewalld still does not allow 6443/tcp",
    });
  });

  it("a failing ufw is HOST_COMMAND_FAILED, and the rule recorded before it is still deleted by undo", async () => {
    const host = ufwHost({ rules: [] });
    host.exec.answer("ufw allow proto tcp from any to any port 6443", {
      code: 1,
      stderr: "ERROR: Couldn't determine iptables version\n",
    });
    const step = stepHarness(firewallStep, host, PARAMS);
    await expect(step.apply()).rejects.toMatchObject({
      code: "HOST_COMMAND_FAILED",
      message:
        "`ufw allow proto tcp from any to any port 6443` exited 1: ERROR: Couldn't determine iptables version",
    });
    expect((await step.ledger.read())?.firewallRules).toEqual([
      { tool: "ufw", port: "6443", protocol: "tcp" },
    ]);
    expect((await step.undo()).changes).toEqual(["ufw: deleted the rule for 6443/tcp"]);
    expect(host.exec.commandLines().at(-1)).toBe("ufw delete allow proto tcp from any to any port 6443");
  });

  it("validates params: ports, protocols, sources and unknown keys", () => {
    expect(() => firewallStep.bind({ rules: [{ port: "http", protocol: "tcp" }] })).toThrow(
      /parameters of host.firewall are not valid at rules.0.port/,
    );
    expect(() => firewallStep.bind({ rules: [{ port: "80", protocol: "icmp" }] })).toThrow(
      /not valid at rules.0.protocol/,
    );
    expect(() =>
      firewallStep.bind({ rules: [{ port: "any", protocol: "tcp", source: "10.42.0.0" }] }),
    ).toThrow(/not valid at rules.0.source/);
    expect(() => firewallStep.bind({ rules: [{ port: "80", protocol: "tcp", tool: "ufw" }] })).toThrow(
      /not valid at rules.0/,
    );
    expect(() => firewallStep.bind({})).toThrow(/not valid at rules: Required/);
    expect(() => firewallStep.bind({ rules: [], extra: 1 })).toThrow(
      /not valid at \(params\): Unrecognized key/,
    );
  });
});
