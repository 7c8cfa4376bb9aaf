import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { inspect } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { generatedTokenPath, resolveToken } from "../../server/cluster/k3s-token.js";
import { labelArgs, nodeLabels } from "../../server/cluster/node-labels.js";
import type { InventoryHost } from "../../server/inventory/types.js";
import { Secret } from "../../shared/secret.js";

let stateDir: string;

beforeEach(async () => {
  stateDir = await mkdtemp(path.join(tmpdir(), "groundcrew-token-"));
});

afterEach(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

describe("resolveToken", () => {
  it("returns the inventory's plaintext value as it is", async () => {
    const value = new Secret("opted-in-plaintext");
    expect(await resolveToken({ source: "value", value }, stateDir)).toBe(value);
  });

  it("reads an environment variable (trimmed), and names the variable, never a value, when it is missing or empty", async () => {
    const token = await resolveToken({ source: "env", env: "K3S_TOKEN" }, stateDir, {
      K3S_TOKEN: " s3cret\n",
    });
    expect(token.reveal()).toBe("s3cret");
    for (const env of [{}, { K3S_TOKEN: "  \n" }]) {
      await expect(resolveToken({ source: "env", env: "K3S_TOKEN" }, stateDir, env)).rejects.toMatchObject({
        code: "INVENTORY_INVALID",
        message: "the k3s token variable K3S_TOKEN is not set or empty",
      });
    }
  });

  it("reads a file (trimmed), and names the file when it is missing or empty", async () => {
    const file = path.join(stateDir, "token.txt");
    await writeFile(file, "from-a-file\n");
    expect((await resolveToken({ source: "file", path: file }, stateDir)).reveal()).toBe("from-a-file");
    await writeFile(file, "\n");
    await expect(resolveToken({ source: "file", path: file }, stateDir)).rejects.toMatchObject({
      code: "INVENTORY_INVALID",
      message: `the k3s token file ${file} is missing or empty`,
    });
    const missing = path.join(stateDir, "nope");
    await expect(resolveToken({ source: "file", path: missing }, stateDir)).rejects.toMatchObject({
      code: "INVENTORY_INVALID",
      message: `the k3s token file ${missing} is missing or empty`,
    });
  });

  it("generates a token once, keeps it 0600 in the state directory, and returns the same one afterwards", async () => {
    const file = generatedTokenPath(stateDir);
    expect(file).toBe(path.join(stateDir, "k3s-token"));
    const first = await resolveToken({ source: "generate" }, stateDir);
    expect(first.reveal()).toMatch(/^[0-9a-f]{48}$/);
    expect(await readFile(file, "utf8")).toBe(`${first.reveal()}\n`);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const again = await resolveToken({ source: "generate" }, stateDir);
    expect(again.equals(first)).toBe(true);
    // A secret: nothing that prints it shows the value.
    expect(String(again)).toBe("[redacted]");
    expect(JSON.stringify({ token: again })).toBe('{"token":"[redacted]"}');
    expect(inspect(again)).toBe("[redacted]");
  });

  it("uses a token already kept (e.g. by an earlier provisioner run), and agrees with itself when asked twice at once", async () => {
    await writeFile(generatedTokenPath(stateDir), "kept-token\n", { mode: 0o600 });
    expect((await resolveToken({ source: "generate" }, stateDir)).reveal()).toBe("kept-token");

    const fresh = await mkdtemp(path.join(tmpdir(), "groundcrew-token-"));
    try {
      const [a, b] = await Promise.all([
        resolveToken({ source: "generate" }, fresh),
        resolveToken({ source: "generate" }, fresh),
      ]);
      expect(a.equals(b)).toBe(true);
    } finally {
      await rm(fresh, { recursive: true, force: true });
    }
  });
});

function labelled(groups: string[], labels: Record<string, string> = {}): InventoryHost {
  return {
    name: "node1",
    address: "10.0.0.5",
    ssh: { user: "ops", port: 22, useAgent: true },
    sudo: { mode: "passwordless" },
    role: "worker",
    depot: false,
    vars: { gpu: false, labels, taints: [], installDocker: false, installNvidiaDriver: false },
    groups,
    source: { file: "/inv.ini", line: 3 },
  };
}

describe("nodeLabels", () => {
  it("derives nodetype from the first group and a label per group", () => {
    expect(nodeLabels(labelled(["gpu", "rack-2"]))).toEqual({
      labels: { nodetype: "gpu", "groundcrew.io/group.gpu": "true", "groundcrew.io/group.rack-2": "true" },
      skippedGroups: [],
    });
  });

  it("skips groups that cannot be label names (returned for reporting); nodetype comes from the first valid one", () => {
    const long = `g${"x".repeat(49)}`;
    const result = nodeLabels(labelled(["all servers", "-dash", long, "workers", "x".repeat(49)]));
    expect(result.skippedGroups).toEqual(["all servers", "-dash", long]);
    expect(result.labels).toEqual({
      nodetype: "workers",
      "groundcrew.io/group.workers": "true",
      [`groundcrew.io/group.${"x".repeat(49)}`]: "true",
    });
  });

  it("lets the inventory's own labels win over derived ones", () => {
    expect(nodeLabels(labelled(["gpu"], { nodetype: "inference", zone: "b" })).labels).toEqual({
      nodetype: "inference",
      "groundcrew.io/group.gpu": "true",
      zone: "b",
    });
    expect(nodeLabels(labelled([])).labels).toEqual({});
  });

  it("labelArgs: key=value as k3s's node-label takes it, in order", () => {
    expect(labelArgs({ nodetype: "gpu", "groundcrew.io/group.gpu": "true", empty: "" })).toEqual([
      "nodetype=gpu",
      "groundcrew.io/group.gpu=true",
      "empty=",
    ]);
    expect(labelArgs({})).toEqual([]);
  });
});
