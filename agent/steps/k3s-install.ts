import path from "node:path";
import { z } from "zod";
import { artifactRefSchema, casPath, HOST_CAS_DIR } from "../../shared/artifacts.js";
import type { Exec, ReadonlyFs } from "../../shared/host-io.js";
import { holdsContent } from "../ledger/hash.js";
import { writeOwnedFile } from "../ledger/owned-files.js";
import { withTree, type LedgerRecord } from "../ledger/record.js";
import { undoRecorded } from "../ledger/undo.js";
import { fileOp, mustRun, tryCommand } from "../runner/host-calls.js";
import { defineStep, type StepContext } from "../runner/step.js";
import { StepError } from "../runner/step-error.js";
import { cleanUpK3sRuntime } from "./k3s-cleanup.js";
import {
  K3S,
  K3S_RUNTIME_TREES,
  k3sConfigSchema,
  registryMirrorSchema,
  renderConfig,
  renderRegistries,
  renderUnit,
  unitName,
  unitPath,
} from "./k3s-files.js";
import { clusterNodes, isReady } from "./k3s-nodes.js";
import { waitFor } from "./registry-target.js";

const paramsSchema = z
  .object({
    role: z.enum(["server", "agent"]),
    binary: artifactRefSchema,
    /** Airgap image archives (.tar, .tar.gz, .tar.zst), placed where k3s imports them at start. */
    images: z.array(artifactRefSchema).max(64).default([]),
    config: k3sConfigSchema,
    /** File (0600, delivered by the provisioner over SSH) holding the join token: never a plan parameter. */
    tokenFile: z.string().startsWith("/"),
    registry: registryMirrorSchema.optional(),
    casDir: z.string().startsWith("/").default(HOST_CAS_DIR),
    readyTimeoutSec: z.number().int().min(5).max(3600).default(300),
  })
  .strict();
type K3sParams = z.infer<typeof paramsSchema>;

function imagePath(ref: { readonly path: string }): string {
  return `${K3S.imagesDir}/${path.posix.basename(ref.path)}`;
}

async function readToken(fs: ReadonlyFs, file: string): Promise<string> {
  const token = (await fileOp("read", file, () => fs.readText(file))).trim();
  if (token === "") throw new StepError("STEP_PARAMS_INVALID", `the join token file ${file} is empty`);
  return token;
}

/** Every file groundcrew owns for k3s, with content and mode. */
async function wantedFiles(fs: ReadonlyFs, params: K3sParams) {
  const token = await readToken(fs, params.tokenFile);
  const files = [
    { path: K3S.config, content: renderConfig(params.config, token), mode: 0o600 },
    { path: unitPath(params.role), content: renderUnit(params.role), mode: 0o644 },
  ];
  if (params.registry !== undefined) {
    files.push({ path: K3S.registries, content: renderRegistries(params.registry), mode: 0o600 });
    const caFile = params.registry.caFile;
    if (caFile !== undefined) {
      files.push({
        path: K3S.registryCa,
        content: await fileOp("read", caFile, () => fs.readText(caFile)),
        mode: 0o644,
      });
    }
  }
  return files;
}

/**
 * A k3s someone else installed (the upstream install script, a package):
 * its binary or unit file is there and the ledger does not say groundcrew
 * created it. groundcrew never takes such a k3s over. Names what it found.
 */
async function foreignK3s(fs: ReadonlyFs, record: LedgerRecord | undefined): Promise<string | undefined> {
  const ownTrees = new Set(record?.trees ?? []);
  const ownFiles = new Set(record?.files.map((file) => file.path) ?? []);
  if ((await fs.stat(K3S.binary)) !== undefined && !ownTrees.has(K3S.binary)) return K3S.binary;
  for (const role of ["server", "agent"] as const) {
    const unit = unitPath(role);
    if ((await fs.stat(unit)) !== undefined && !ownFiles.has(unit)) return unit;
  }
  return undefined;
}

function foreignMessage(found: string): string {
  return `k3s is already installed here, not by groundcrew (${found}): groundcrew does not take it over; uninstall it (k3s-uninstall.sh) or leave this host out`;
}

async function binaryCurrent(exec: Exec, sha256: string): Promise<boolean> {
  const result = await tryCommand(exec, ["sha256sum", K3S.binary]);
  return result.code === 0 && result.stdout.startsWith(sha256);
}

async function missingImages(fs: ReadonlyFs, params: K3sParams): Promise<string[]> {
  const missing: string[] = [];
  for (const ref of params.images) {
    const stats = await fileOp("stat", imagePath(ref), () => fs.stat(imagePath(ref)));
    if (stats?.size !== ref.size) missing.push(imagePath(ref));
  }
  return missing;
}

async function unitActive(exec: Exec, params: K3sParams): Promise<boolean> {
  return (await tryCommand(exec, ["systemctl", "is-active", "--quiet", unitName(params.role)])).code === 0;
}

/** A server is ready when the API lists its node Ready; an agent when its unit stays up without restarting. */
async function ready(exec: Exec, params: K3sParams): Promise<boolean> {
  if (params.role === "server") {
    const node = (await clusterNodes(exec))?.items.find(
      (item) => item.metadata.name === params.config["node-name"],
    );
    return node !== undefined && isReady(node);
  }
  const restarts = async () =>
    (
      await tryCommand(exec, [
        "systemctl",
        "show",
        "--property",
        "NRestarts",
        "--value",
        unitName(params.role),
      ])
    ).stdout.trim();
  const before = await restarts();
  if (!(await unitActive(exec, params))) return false;
  await new Promise((resolve) => setTimeout(resolve, 6_000));
  return (await unitActive(exec, params)) && (await restarts()) === before;
}

async function installArtifacts(ctx: StepContext<K3sParams>): Promise<string[]> {
  const { exec, fs, params } = ctx;
  const changes: string[] = [];
  if (!(await binaryCurrent(exec, params.binary.sha256))) {
    await mustRun(exec, ["install", "-m", "0755", casPath(params.binary.sha256, params.casDir), K3S.binary]);
    changes.push(`installed ${K3S.binary} from ${params.binary.path}`);
  }
  for (const link of K3S.symlinks) {
    if ((await fs.stat(link)) === undefined) await mustRun(exec, ["ln", "-s", "k3s", link]);
  }
  await fileOp("create", K3S.imagesDir, () => fs.mkdirp(K3S.imagesDir, 0o755));
  const missing = new Set(await missingImages(fs, params));
  for (const ref of params.images.filter((image) => missing.has(imagePath(image)))) {
    const partial = `${imagePath(ref)}.partial`;
    await mustRun(exec, ["cp", casPath(ref.sha256, params.casDir), partial]);
    await fileOp("rename", partial, () => fs.rename(partial, imagePath(ref)));
    changes.push(`placed ${imagePath(ref)}`);
  }
  // Conditional import (k3s ≥ 2025-01): restarts skip archives whose size and mtime did not change.
  const cache = `${K3S.imagesDir}/.cache.json`;
  if ((await fs.stat(cache)) === undefined)
    await fileOp("write", cache, () => fs.writeFileAtomic(cache, "", 0o644));
  return changes;
}

/**
 * K1–K7: k3s from the bundle, as a server (the first one with cluster-init
 * in HA, the others and single servers joining through `server`) or an
 * agent. The binary at /usr/local/bin/k3s (kubectl/crictl/ctr links only
 * where no such command exists), airgap images in agent/images with an empty
 * .cache.json, config.yaml (token from the provisioner's file, mode 0600) as
 * the one source of settings, registries.yaml mirroring every listed
 * registry to the depot, and groundcrew's own unit. k3s restarts only when a
 * file changed. Ready when a server lists its own node Ready, or an agent's
 * unit stays up without restarting (a refused join makes it restart); the
 * provisioner then waits for every node Ready. Undo: stop and disable the
 * unit, what k3s-killall.sh cleans (processes, mounts, CNI links, iptables
 * rules), then the files and every k3s tree that was not there before.
 */
export const k3sInstallStep = defineStep({
  id: "k3s.install",
  params: paramsSchema,
  probes: [
    ["sha256sum", K3S.binary],
    ["systemctl", "is-active"],
    ["systemctl", "show"],
    [K3S.binary, "kubectl", "get", "nodes"],
  ],
  title: (params) =>
    `Install k3s (${params.role}${params.config["cluster-init"] === true ? ", cluster-init" : ""})`,

  async check({ exec, fs, ledger, params }) {
    const foreign = await foreignK3s(fs, await ledger.read());
    if (foreign !== undefined) return { done: false, reason: foreignMessage(foreign) };
    const reasons: string[] = [];
    if (!(await binaryCurrent(exec, params.binary.sha256)))
      reasons.push(`${K3S.binary} is missing or another build`);
    reasons.push(...(await missingImages(fs, params)).map((file) => `${file} is missing`));
    for (const file of await wantedFiles(fs, params)) {
      if (!(await holdsContent(fs, file.path, file.content)))
        reasons.push(`${file.path} is missing or differs`);
    }
    if (!(await unitActive(exec, params))) reasons.push(`${unitName(params.role)} is not active`);
    else if (params.role === "server" && !(await ready(exec, params))) reasons.push("this node is not Ready");
    const done = reasons.length === 0;
    return { done, reason: done ? `k3s ${params.role} runs with the wanted files` : reasons.join("; ") };
  },

  async apply(ctx) {
    const { exec, fs, ledger, params } = ctx;
    const foreign = await foreignK3s(fs, await ledger.read());
    if (foreign !== undefined)
      throw new StepError("K3S_PRESENT", foreignMessage(foreign), { context: { path: foreign } });
    const absent: string[] = [];
    for (const tree of [...K3S_RUNTIME_TREES, K3S.binary, ...K3S.symlinks]) {
      if ((await fs.stat(tree)) === undefined) absent.push(tree);
    }
    await ledger.update((record) => absent.reduce((next, tree) => withTree(next, tree), record));
    const changes = await installArtifacts(ctx);
    for (const file of await wantedFiles(fs, params)) {
      if (await writeOwnedFile({ fs, ledger }, file.path, file.content, file.mode, 0o755)) {
        changes.push(`wrote ${file.path}`);
      }
    }
    const unit = unitName(params.role);
    await mustRun(exec, ["systemctl", "daemon-reload"]);
    await mustRun(exec, ["systemctl", "enable", unit]);
    const restart = changes.length > 0 || !(await unitActive(exec, params));
    if (restart) {
      await mustRun(exec, ["systemctl", "restart", unit]);
      changes.push(`(re)started ${unit}`);
    }
    ctx.log(`waiting up to ${params.readyTimeoutSec} s for k3s to be ready`);
    if (!(await waitFor(() => ready(exec, params), params.readyTimeoutSec * 1000))) {
      const journal = await tryCommand(exec, [
        "journalctl",
        "-u",
        unit,
        "-n",
        "8",
        "--no-pager",
        "-o",
        "cat",
      ]);
      throw new StepError(
        "K3S_NOT_READY",
        `k3s ${params.role} is not ready after ${params.readyTimeoutSec} s; last lines of ${unit}: ${journal.stdout.trim().split("\n").join(" | ").slice(0, 1500)}`,
        { context: { unit } },
      );
    }
    return { changes };
  },

  async verify({ exec, params }) {
    if (!(await ready(exec, params))) {
      throw new StepError("K3S_NOT_READY", `k3s ${params.role} is not ready`, {
        context: { unit: unitName(params.role) },
      });
    }
  },

  async undo({ exec, fs, ledger }) {
    const changes: string[] = [];
    const owned = new Set((await ledger.read())?.files.map((file) => file.path) ?? []);
    for (const role of ["agent", "server"] as const) {
      if (!owned.has(unitPath(role))) continue;
      await tryCommand(exec, ["systemctl", "disable", "--now", unitName(role)]);
      changes.push(`stopped and disabled ${unitName(role)}`);
    }
    // Only a k3s groundcrew ran leaves processes, mounts, links and rules for us to clean; someone else's stays untouched.
    if (changes.length > 0) changes.push(...(await cleanUpK3sRuntime(exec, fs)));
    changes.push(...(await undoRecorded({ exec, fs, ledger })));
    await tryCommand(exec, ["systemctl", "daemon-reload"]);
    await tryCommand(exec, ["systemctl", "reset-failed"]);
    return { changes };
  },
});
