import path from "node:path";
import { z } from "zod";
import { artifactRefSchema, casPath, HOST_CAS_DIR, type ArtifactRef } from "../../shared/artifacts.js";
import {
  K3S_MANIFESTS_DIR,
  K3S_STATIC_CHARTS_DIR,
  KEEP_RESOURCES_MARKER,
  MANIFEST_NAME,
  STATIC_CHART_FILE,
} from "../../shared/cluster-manifests.js";
import type { Exec, ReadonlyFs } from "../../shared/host-io.js";
import { holdsContent, sha256Hex } from "../ledger/hash.js";
import type { StepLedger } from "../ledger/ledger.js";
import { writeOwnedFile } from "../ledger/owned-files.js";
import { withDirectory, withTree } from "../ledger/record.js";
import { undoRecorded } from "../ledger/undo.js";
import { fileOp, mustRun, tryCommand } from "../runner/host-calls.js";
import { defineStep, type HostContext } from "../runner/step.js";
import { StepError } from "../runner/step-error.js";
import { K3S } from "./k3s-files.js";

const paramsSchema = z
  .object({
    /** Files for the auto-deploy directory: basename (without .yaml) and content. No secrets: they are plain files and plan text. */
    manifests: z
      .array(
        z.object({ name: z.string().regex(MANIFEST_NAME), content: z.string().max(768 * 1024) }).strict(),
      )
      .max(64),
    /** Charts too large to inline, placed under static/charts from the host's artifact store. */
    charts: z
      .array(z.object({ file: z.string().regex(STATIC_CHART_FILE), artifact: artifactRefSchema }).strict())
      .max(32)
      .default([]),
    casDir: z.string().startsWith("/").default(HOST_CAS_DIR),
  })
  .strict();
type ManifestParams = z.infer<typeof paramsSchema>;

const manifestPath = (name: string): string => `${K3S_MANIFESTS_DIR}/${name}.yaml`;
const chartPath = (file: string): string => `${K3S_STATIC_CHARTS_DIR}/${file}`;
const isManifestFile = (file: string): boolean => path.posix.dirname(file) === K3S_MANIFESTS_DIR;
const isChartFile = (file: string): boolean => path.posix.dirname(file) === K3S_STATIC_CHARTS_DIR;

async function chartInPlace(
  exec: Exec,
  fs: ReadonlyFs,
  file: string,
  artifact: ArtifactRef,
): Promise<boolean> {
  const stats = await fileOp("stat", file, () => fs.stat(file));
  if (stats?.size !== artifact.size) return false;
  const result = await tryCommand(exec, ["sha256sum", file]);
  return result.code === 0 && result.stdout.startsWith(artifact.sha256);
}

/** What differs from the wanted state, one reason per file (empty: done). */
async function differences(
  ctx: { readonly exec: Exec; readonly fs: ReadonlyFs; readonly ledger: Pick<StepLedger, "read"> },
  params: ManifestParams,
) {
  const { exec, fs } = ctx;
  const reasons: string[] = [];
  for (const chart of params.charts) {
    if (!(await chartInPlace(exec, fs, chartPath(chart.file), chart.artifact)))
      reasons.push(`${chartPath(chart.file)} is missing or differs`);
  }
  for (const manifest of params.manifests) {
    if (!(await holdsContent(fs, manifestPath(manifest.name), manifest.content)))
      reasons.push(`${manifestPath(manifest.name)} is missing or differs`);
  }
  for (const file of await staleFiles(ctx.ledger, params)) reasons.push(`${file} is no longer wanted`);
  return reasons;
}

/** Files this step wrote earlier that the plan no longer lists (an add-on removed, a chart replaced). */
async function staleFiles(ledger: Pick<StepLedger, "read">, params: ManifestParams): Promise<string[]> {
  const record = await ledger.read();
  const wanted = new Set([
    ...params.manifests.map((manifest) => manifestPath(manifest.name)),
    ...params.charts.map((chart) => chartPath(chart.file)),
  ]);
  const owned = [
    ...(record?.files.map((file) => file.path).filter(isManifestFile) ?? []),
    ...(record?.trees.filter(isChartFile) ?? []),
  ];
  return owned.filter((file) => !wanted.has(file));
}

/**
 * `k3s kubectl delete -f` for a manifest about to go (removing the file
 * deletes nothing), unless it carries KEEP_RESOURCES_MARKER. Best effort:
 * resolves what happened, for humans; an API that does not answer is said.
 */
async function deleteResources(exec: Exec, fs: ReadonlyFs, file: string): Promise<string> {
  const content = await fileOp("read", file, () => fs.readTextIfExists(file));
  if (content === undefined) return `${file} was already gone`;
  if (content.split("\n", 3).includes(KEEP_RESOURCES_MARKER))
    return `kept the objects of ${file} (k3s manages them too)`;
  const result = await tryCommand(
    exec,
    [K3S.binary, "kubectl", "delete", "-f", file, "--ignore-not-found", "--timeout=60s"],
    { timeoutMs: 90_000 },
  );
  return result.code === 0
    ? `deleted the objects of ${file}`
    : `could not delete the objects of ${file} (${result.stderr.trim().split("\n")[0]?.slice(0, 200) ?? ""}); removing the file anyway`;
}

/** Removes one stale file: its objects first for a manifest, then the file, then its ledger entry. */
async function removeStale(ctx: HostContext, file: string): Promise<string[]> {
  const { exec, fs, ledger } = ctx;
  const changes: string[] = [];
  if (isChartFile(file)) {
    await mustRun(exec, ["rm", "-f", "--", file]);
    await ledger.update((record) => ({ ...record, trees: record.trees.filter((entry) => entry !== file) }));
    return [`removed ${file}`];
  }
  changes.push(await deleteResources(exec, fs, file));
  const entry = (await ledger.read())?.files.find((owned) => owned.path === file);
  const current = await fileOp("read", file, () => fs.readTextIfExists(file));
  if (current !== undefined && entry !== undefined && sha256Hex(current) === entry.sha256) {
    await fileOp("remove", file, () => fs.remove(file));
    changes.push(`removed ${file}`);
  }
  await ledger.update((record) => ({
    ...record,
    files: record.files.filter((owned) => owned.path !== file),
  }));
  return changes;
}

/** Creates `dir` and its missing parents, each recorded (outermost first) before it is created. */
async function ensureDirectory(ctx: HostContext, dir: string): Promise<void> {
  const missing: string[] = [];
  for (
    let at = dir;
    (await fileOp("stat", at, () => ctx.fs.stat(at))) === undefined;
    at = path.posix.dirname(at)
  )
    missing.unshift(at);
  if (missing.length === 0) return;
  await ctx.ledger.update((record) =>
    missing.reduce((next, created) => withDirectory(next, created), record),
  );
  await fileOp("create", dir, () => ctx.fs.mkdirp(dir, 0o755));
}

/** Places one chart from the artifact store (copy, then rename), recorded before it is written. */
async function placeChart(ctx: HostContext, params: ManifestParams, chart: ManifestParams["charts"][number]) {
  const { exec, fs, ledger } = ctx;
  const target = chartPath(chart.file);
  const owned = (await ledger.read())?.trees.includes(target) === true;
  if (!owned && (await fileOp("stat", target, () => fs.stat(target))) !== undefined) {
    throw new StepError(
      "HOST_IO_FAILED",
      `${target} exists with other content and groundcrew did not write it: move it away`,
      { context: { path: target } },
    );
  }
  await ensureDirectory(ctx, K3S_STATIC_CHARTS_DIR);
  await ledger.update((record) => withTree(record, target));
  const partial = `${target}.partial`;
  await mustRun(exec, ["cp", casPath(chart.artifact.sha256, params.casDir), partial]);
  await fileOp("rename", partial, () => fs.rename(partial, target));
}

/**
 * K8 / G6–G7: writes the provisioner's rendered manifests (Traefik's ports,
 * the nvidia RuntimeClass and device plugin, add-on HelmCharts) into k3s's
 * auto-deploy directory on a server, after k3s.install; charts too large to
 * inline go to server/static/charts first, copied from the artifact store.
 * A file is written only when its content differs (sha256), so a re-run
 * leaves unchanged manifests alone and k3s does not re-apply them. Files
 * it wrote earlier that the plan no longer lists are removed, their objects
 * deleted first. Every server gets the same files (k3s does not sync them).
 * Undo: `k3s kubectl delete -f` each manifest it wrote (best effort; not for
 * ones marked keep-resources), then the files and directories it created.
 */
export const k3sManifestsStep = defineStep({
  id: "k3s.manifests",
  params: paramsSchema,
  probes: [["sha256sum"]],
  title: (params) =>
    `Place ${params.manifests.length} k3s auto-deploy manifest(s)` +
    (params.charts.length > 0 ? ` and ${params.charts.length} chart(s)` : ""),

  async check(ctx) {
    const reasons = await differences(ctx, ctx.params);
    const done = reasons.length === 0;
    return {
      done,
      reason: done ? `${ctx.params.manifests.length} manifest(s) in place` : reasons.join("; "),
    };
  },

  async apply(ctx) {
    const { exec, fs, ledger, params } = ctx;
    const changes: string[] = [];
    if ((await fileOp("stat", K3S_MANIFESTS_DIR, () => fs.stat(K3S_MANIFESTS_DIR))) === undefined) {
      throw new StepError(
        "STEP_VERIFY_FAILED",
        `${K3S_MANIFESTS_DIR} does not exist: k3s is not running as a server here`,
        { context: { path: K3S_MANIFESTS_DIR } },
      );
    }
    // Charts first: a HelmChart naming a static chart must find it when k3s applies it.
    for (const chart of params.charts) {
      if (await chartInPlace(exec, fs, chartPath(chart.file), chart.artifact)) continue;
      await placeChart(ctx, params, chart);
      changes.push(`placed ${chartPath(chart.file)}`);
    }
    for (const manifest of params.manifests) {
      if (await writeOwnedFile({ fs, ledger }, manifestPath(manifest.name), manifest.content, 0o600))
        changes.push(`wrote ${manifestPath(manifest.name)}`);
    }
    for (const file of await staleFiles(ledger, params)) changes.push(...(await removeStale(ctx, file)));
    return { changes };
  },

  async verify(ctx) {
    const reasons = await differences(ctx, ctx.params);
    if (reasons.length > 0) {
      throw new StepError("STEP_VERIFY_FAILED", reasons.join("; "), { context: { dir: K3S_MANIFESTS_DIR } });
    }
  },

  async undo(ctx) {
    const { exec, fs, ledger } = ctx;
    const changes: string[] = [];
    const record = await ledger.read();
    for (const file of [...(record?.files ?? [])].reverse()) {
      if (isManifestFile(file.path)) changes.push(await deleteResources(exec, fs, file.path));
    }
    // Charts before the recorded directories, so static/charts is empty when undoRecorded comes to it.
    for (const chart of (record?.trees ?? []).filter(isChartFile))
      changes.push(...(await removeStale(ctx, chart)));
    changes.push(...(await undoRecorded({ exec, fs, ledger })));
    return { changes };
  },
});
