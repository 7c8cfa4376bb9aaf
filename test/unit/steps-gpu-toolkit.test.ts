import { describe, expect, it } from "vitest";
import { gpuToolkitStep } from "../../agent/steps/gpu-toolkit.js";
import {
  CAS,
  CONTAINERD_CONFIG,
  debRef,
  fakeGpuHost,
  startK3sUnit,
  TOOLKIT_DEBS,
} from "../fakes/gpu-host.js";
import { hostTree, stepHarness } from "../fakes/step-harness.js";

const PARAMS = { debs: TOOLKIT_DEBS.map(debRef) };
const NAMES = TOOLKIT_DEBS.map((d) => d.name);
const DPKG_ALL = `dpkg --install --force-confold ${TOOLKIT_DEBS.map((d) => `${CAS}/${d.sha256}`).join(" ")}`;
const LATE = `k3s runs without the nvidia runtime in ${CONTAINERD_CONFIG} (it detects the toolkit only when it starts)`;

describe("gpu.toolkit", () => {
  it("installs the four packages in one dpkg call before k3s starts; k3s then finds the runtime; undo restores the host exactly", async () => {
    const host = fakeGpuHost({ nouveau: "absent", driver: { by: "runfile", loaded: true } });
    const before = hostTree(host.fs);
    const step = stepHarness(gpuToolkitStep, host, PARAMS);
    expect(await step.check()).toEqual({ done: false, reason: `not installed: ${NAMES.join(", ")}` });
    expect(await step.apply()).toEqual({
      changes: [`installed ${TOOLKIT_DEBS.map((d) => `${d.name} 1.0`).join(", ")}`],
    });
    await step.verify();
    expect(step.logs).toEqual(["NVIDIA Container Toolkit CLI version 1.17.4"]);
    expect(host.exec.commandLines().filter((line) => line.startsWith("dpkg --"))).toEqual([DPKG_ALL]);
    const dpkg = host.exec.calls.find((call) => call.argv[0] === "dpkg");
    expect(dpkg?.options?.env).toEqual({ DEBIAN_FRONTEND: "noninteractive" });
    expect((await step.ledger.read())?.packages).toEqual(NAMES);
    expect(await step.check()).toEqual({
      done: true,
      reason: `the NVIDIA container toolkit is installed (${NAMES.join(", ")})`,
    });
    expect(await step.apply()).toEqual({ changes: [] });
    expect(host.exec.commandLines().filter((line) => line.startsWith("systemctl restart"))).toEqual([]);

    expect(await step.undo()).toEqual({ changes: [`purged ${NAMES.join(", ")}`] });
    expect(hostTree(host.fs)).toEqual(before);
    expect(host.state.installed.size).toBe(0);
  });

  it("needs no restart when k3s starts after it (the plan's order): k3s finds the runtime itself", async () => {
    const host = fakeGpuHost({ nouveau: "absent" });
    const step = stepHarness(gpuToolkitStep, host, PARAMS);
    await step.apply();
    await startK3sUnit(host, "k3s.service");
    expect(await host.fs.readText(CONTAINERD_CONFIG)).toContain("runtimes.'nvidia'");
    expect(await step.check()).toMatchObject({ done: true });
    expect(host.systemd.restarts.get("k3s.service")).toBeUndefined();
  });

  it("restarts a k3s that already runs (late toolkit) until its containerd config names nvidia; undo restarts it again", async () => {
    const host = fakeGpuHost({ nouveau: "absent" });
    await startK3sUnit(host, "k3s.service");
    expect(await host.fs.readText(CONTAINERD_CONFIG)).not.toContain("nvidia");
    const step = stepHarness(gpuToolkitStep, host, PARAMS);
    expect(await step.check()).toEqual({
      done: false,
      reason: `not installed: ${NAMES.join(", ")}; ${LATE}`,
    });
    expect((await step.apply()).changes).toEqual([
      `installed ${TOOLKIT_DEBS.map((d) => `${d.name} 1.0`).join(", ")}`,
      "restarted k3s.service so that its containerd config is regenerated",
    ]);
    expect(step.logs).toEqual([`${LATE}: restarting k3s.service`]);
    const lines = host.exec.commandLines();
    expect(lines.indexOf("systemctl restart k3s.service")).toBeGreaterThan(lines.indexOf(DPKG_ALL));
    expect(await host.fs.readText(CONTAINERD_CONFIG)).toContain("nvidia");
    expect(host.systemd.restarts.get("k3s.service")).toBe(1);
    await step.verify();
    expect(await step.check()).toMatchObject({ done: true });

    expect((await step.undo()).changes).toEqual([
      `purged ${NAMES.join(", ")}`,
      "restarted k3s.service so that its containerd config is regenerated",
    ]);
    expect(await host.fs.readText(CONTAINERD_CONFIG)).not.toContain("nvidia");
  });

  it("only restarts k3s-agent when the toolkit was installed already but k3s started before it", async () => {
    const host = fakeGpuHost({ nouveau: "absent" });
    await startK3sUnit(host, "k3s-agent.service");
    for (const d of TOOLKIT_DEBS) host.state.installed.add(d.name);
    await host.fs.writeFileAtomic("/usr/bin/nvidia-ctk", "elf", 0o755);
    await host.fs.writeFileAtomic("/usr/bin/nvidia-container-runtime", "elf", 0o755);
    const step = stepHarness(gpuToolkitStep, host, PARAMS);
    expect(await step.check()).toEqual({ done: false, reason: LATE });
    expect((await step.apply()).changes).toEqual([
      "restarted k3s-agent.service so that its containerd config is regenerated",
    ]);
    expect(host.exec.commandLines().filter((line) => line.startsWith("dpkg --"))).toEqual([]);
    expect(await step.check()).toEqual({
      done: true,
      reason: `the NVIDIA container toolkit was already installed (${NAMES.join(", ")}), not by groundcrew: left alone by reset`,
    });
    // Nothing recorded: reset leaves the toolkit and k3s alone.
    expect(await step.ledger.read()).toBeUndefined();
    expect(await step.undo()).toEqual({ changes: [] });
  });

  it("records only the packages it installs", async () => {
    const host = fakeGpuHost({ nouveau: "absent", installed: ["libnvidia-container1"] });
    const step = stepHarness(gpuToolkitStep, host, PARAMS);
    await step.apply();
    expect((await step.ledger.read())?.packages).toEqual(NAMES.slice(1));
    expect(await step.undo()).toEqual({ changes: [`purged ${NAMES.slice(1).join(", ")}`] });
    expect([...host.state.installed]).toEqual(["libnvidia-container1"]);
  });

  it("fails naming k3s's containerd config when the restarted k3s does not find the runtime", async () => {
    const host = fakeGpuHost({ nouveau: "absent" });
    await startK3sUnit(host, "k3s.service");
    host.exec.answer("systemctl restart k3s.service", {});
    const step = stepHarness(gpuToolkitStep, host, { ...PARAMS, runtimeTimeoutSec: 1 });
    await expect(step.apply()).rejects.toMatchObject({
      code: "NVIDIA_RUNTIME_MISSING",
      message: `${CONTAINERD_CONFIG} has no nvidia runtime 1 s after restarting k3s.service: is nvidia-container-runtime on k3s's PATH (/usr/bin)?`,
    });
    await expect(step.verify()).rejects.toMatchObject({ code: "NVIDIA_RUNTIME_MISSING" });
  });

  it("verify names the packages that are not installed", async () => {
    const host = fakeGpuHost({ nouveau: "absent" });
    await expect(stepHarness(gpuToolkitStep, host, PARAMS).verify()).rejects.toThrow(
      `not installed after dpkg: ${NAMES.join(", ")}`,
    );
  });

  it("validates its params; a reset plan carries no packages and undo works from the ledger", async () => {
    expect(() => gpuToolkitStep.bind({ debs: [{ ...debRef(TOOLKIT_DEBS[0]), kind: "deb" }] })).toThrow(
      /gpu.toolkit are not valid at debs.0: an nvidia-toolkit artifact/,
    );
    expect(() => gpuToolkitStep.bind({ debs: [], runtimeTimeoutSec: 0 })).toThrow(/runtimeTimeoutSec/);
    const host = fakeGpuHost({ nouveau: "absent" });
    expect(await stepHarness(gpuToolkitStep, host, { debs: [] }).undo()).toEqual({ changes: [] });
    expect(host.exec.commandLines()).toEqual([]);
  });
});
