import { z } from "zod";
import { artifactRefSchema, casPath, HOST_CAS_DIR } from "../../shared/artifacts.js";
import type { Exec, ReadonlyFs } from "../../shared/host-io.js";
import { holdsContent } from "../ledger/hash.js";
import { writeOwnedFile } from "../ledger/owned-files.js";
import { withTree } from "../ledger/record.js";
import { undoRecorded } from "../ledger/undo.js";
import { registryAnswers } from "../registry/registry-client.js";
import { fileOp, mustRun, tryCommand } from "../runner/host-calls.js";
import { defineStep } from "../runner/step.js";
import { StepError } from "../runner/step-error.js";
import { localRegistryTarget, waitFor } from "./registry-target.js";

export const REGISTRY_UNIT = "groundcrew-registry.service";
export const REGISTRY_PATHS = {
  binary: "/usr/local/bin/groundcrew-registry",
  unit: `/etc/systemd/system/${REGISTRY_UNIT}`,
  dir: "/etc/groundcrew/registry",
  config: "/etc/groundcrew/registry/config.yml",
  source: "/etc/groundcrew/registry/binary.sha256",
  cert: "/etc/groundcrew/registry/tls.crt",
  key: "/etc/groundcrew/registry/tls.key",
  storage: "/var/lib/groundcrew-registry",
} as const;

const cleanPath = z.string().regex(/^(\/[A-Za-z0-9._@+-]+)+$/, "an absolute path");

const paramsSchema = z
  .object({
    /** The registry binary: Debian's docker-registry package (/usr/bin/docker-registry) or distribution's release tarball (`registry`). */
    binary: z.object({ artifact: artifactRefSchema, from: z.enum(["deb", "tarball"]) }).strict(),
    port: z.number().int().min(1).max(65535),
    /** The depot registry's certificate and key and groundcrew's CA (PEM files the provisioner delivered); plain HTTP when absent. */
    tls: z.object({ cert: cleanPath, key: cleanPath, ca: cleanPath }).strict().optional(),
    casDir: z.string().startsWith("/").default(HOST_CAS_DIR),
  })
  .strict();
type RegistryParams = z.infer<typeof paramsSchema>;

/** distribution's config (keys from its example config); OTEL export is switched off in the unit. */
export function renderRegistryConfig(params: Pick<RegistryParams, "port" | "tls">): string {
  return [
    "# Written by groundcrew (registry.install): the depot registry.",
    "version: 0.1",
    "log:",
    "  level: info",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${REGISTRY_PATHS.storage}`,
    "  delete:",
    "    enabled: true",
    "http:",
    `  addr: :${params.port}`,
    ...(params.tls === undefined
      ? []
      : ["  tls:", `    certificate: ${REGISTRY_PATHS.cert}`, `    key: ${REGISTRY_PATHS.key}`]),
    "  headers:",
    "    X-Content-Type-Options: [nosniff]",
    "health:",
    "  storagedriver:",
    "    enabled: true",
    "    interval: 10s",
    "    threshold: 3",
    "",
  ].join("\n");
}

export function renderRegistryUnit(): string {
  return [
    "# Written by groundcrew (registry.install).",
    "[Unit]",
    "Description=groundcrew depot registry (CNCF distribution)",
    "After=network-online.target",
    "",
    "[Service]",
    `ExecStart=${REGISTRY_PATHS.binary} serve ${REGISTRY_PATHS.config}`,
    "Environment=OTEL_TRACES_EXPORTER=none",
    "Restart=always",
    "RestartSec=2",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

async function readSecretPair(fs: ReadonlyFs, tls: NonNullable<RegistryParams["tls"]>) {
  const cert = await fileOp("read", tls.cert, () => fs.readText(tls.cert));
  const key = await fileOp("read", tls.key, () => fs.readText(tls.key));
  return { cert, key };
}

/** Every file the step wants, with its content and mode. */
async function wantedFiles(fs: ReadonlyFs, params: RegistryParams) {
  const files: { path: string; content: string; mode: number }[] = [
    { path: REGISTRY_PATHS.config, content: renderRegistryConfig(params), mode: 0o644 },
    { path: REGISTRY_PATHS.source, content: `${params.binary.artifact.sha256}\n`, mode: 0o644 },
    { path: REGISTRY_PATHS.unit, content: renderRegistryUnit(), mode: 0o644 },
  ];
  if (params.tls !== undefined) {
    const { cert, key } = await readSecretPair(fs, params.tls);
    files.push({ path: REGISTRY_PATHS.cert, content: cert, mode: 0o644 });
    files.push({ path: REGISTRY_PATHS.key, content: key, mode: 0o600 });
  }
  return files;
}

async function active(exec: Exec): Promise<boolean> {
  return (await tryCommand(exec, ["systemctl", "is-active", "--quiet", REGISTRY_UNIT])).code === 0;
}

/** Unpacks the registry binary from its artifact into a scratch directory and installs it. */
async function installBinary(exec: Exec, params: RegistryParams): Promise<void> {
  const artifact = casPath(params.binary.artifact.sha256, params.casDir);
  const scratch = (await mustRun(exec, ["mktemp", "-d", "/tmp/groundcrew-registry.XXXXXX"])).stdout.trim();
  try {
    const inside =
      params.binary.from === "deb"
        ? (await mustRun(exec, ["dpkg-deb", "-x", artifact, scratch]), `${scratch}/usr/bin/docker-registry`)
        : (await mustRun(exec, ["tar", "-xzf", artifact, "-C", scratch, "registry"]), `${scratch}/registry`);
    await mustRun(exec, ["install", "-m", "0755", inside, REGISTRY_PATHS.binary]);
  } finally {
    await tryCommand(exec, ["rm", "-rf", "--", scratch]);
  }
}

/**
 * R1/R2: the depot's registry, CNCF distribution from the bundle (Debian's
 * docker-registry package or distribution's release tarball; unpacked, never
 * dpkg-installed, so no packaged unit or config starts), run by groundcrew's
 * own unit with its own config and storage, serving TLS with the depot
 * certificate from groundcrew's CA (so Docker and k3s trust it without
 * "insecure" settings) or plain HTTP when asked. Undo stops and deletes the
 * unit, the binary, the config and the storage.
 */
export const registryInstallStep = defineStep({
  id: "registry.install",
  params: paramsSchema,
  probes: [["systemctl", "is-active"]],
  title: (params) =>
    `Run the depot registry on port ${params.port}${params.tls === undefined ? " (plain HTTP)" : ""}`,

  async check({ exec, fs, params }) {
    const reasons: string[] = [];
    if ((await fs.stat(REGISTRY_PATHS.binary)) === undefined)
      reasons.push(`${REGISTRY_PATHS.binary} is missing`);
    for (const file of await wantedFiles(fs, params)) {
      if (!(await holdsContent(fs, file.path, file.content)))
        reasons.push(`${file.path} is missing or differs`);
    }
    if (!(await active(exec))) reasons.push(`${REGISTRY_UNIT} is not active`);
    else if (!(await registryAnswers(await localRegistryTarget(fs, params.port, params.tls?.ca))))
      reasons.push("the registry does not answer /v2/");
    const done = reasons.length === 0;
    return { done, reason: done ? `${REGISTRY_UNIT} serves on port ${params.port}` : reasons.join("; ") };
  },

  async apply({ exec, fs, ledger, params }) {
    const changes: string[] = [];
    const absent: string[] = [];
    for (const path of [REGISTRY_PATHS.storage, REGISTRY_PATHS.binary]) {
      if ((await fs.stat(path)) === undefined) absent.push(path);
    }
    await ledger.update((record) => absent.reduce((next, path) => withTree(next, path), record));
    const sourceCurrent = await holdsContent(fs, REGISTRY_PATHS.source, `${params.binary.artifact.sha256}\n`);
    if (!sourceCurrent || (await fs.stat(REGISTRY_PATHS.binary)) === undefined) {
      await installBinary(exec, params);
      changes.push(`installed ${REGISTRY_PATHS.binary} from ${params.binary.artifact.path}`);
    }
    await fileOp("create", REGISTRY_PATHS.storage, () => fs.mkdirp(REGISTRY_PATHS.storage, 0o700));
    let wrote = false;
    for (const file of await wantedFiles(fs, params)) {
      if (await writeOwnedFile({ fs, ledger }, file.path, file.content, file.mode)) {
        wrote = true;
        changes.push(`wrote ${file.path}`);
      }
    }
    await mustRun(exec, ["systemctl", "daemon-reload"]);
    await mustRun(exec, ["systemctl", "enable", REGISTRY_UNIT]);
    await mustRun(exec, ["systemctl", wrote || changes.length > 0 ? "restart" : "start", REGISTRY_UNIT]);
    changes.push(`started ${REGISTRY_UNIT} on port ${params.port}`);
    const target = await localRegistryTarget(fs, params.port, params.tls?.ca);
    await waitFor(() => registryAnswers(target), 30_000);
    return { changes };
  },

  async verify({ exec, fs, params }) {
    if (!(await active(exec))) {
      throw new StepError("STEP_VERIFY_FAILED", `${REGISTRY_UNIT} is not active`, {
        context: { unit: REGISTRY_UNIT },
      });
    }
    if (!(await registryAnswers(await localRegistryTarget(fs, params.port, params.tls?.ca)))) {
      throw new StepError(
        "REGISTRY_UNREACHABLE",
        `the registry on port ${params.port} does not answer /v2/`,
        {
          context: { port: params.port },
        },
      );
    }
  },

  async undo({ exec, fs, ledger }) {
    const record = await ledger.read();
    const changes: string[] = [];
    if (record?.files.some((file) => file.path === REGISTRY_PATHS.unit) === true) {
      await tryCommand(exec, ["systemctl", "disable", "--now", REGISTRY_UNIT]);
      changes.push(`stopped and disabled ${REGISTRY_UNIT}`);
    }
    changes.push(...(await undoRecorded({ exec, fs, ledger })));
    await tryCommand(exec, ["systemctl", "daemon-reload"]);
    return { changes };
  },
});
