import { z } from "zod";
import type { Exec, ReadonlyFs } from "../../shared/host-io.js";
import { describeResult, fileOp, tryCommand } from "../runner/host-calls.js";
import { StepError } from "../runner/step-error.js";

export const DAEMON_JSON = "/etc/docker/daemon.json";

/** The depot registry as Docker reaches it. */
export const dockerRegistrySchema = z
  .object({
    /** host:port, as clients name it ("10.0.0.5:5000"). */
    endpoint: z.string().regex(/^[A-Za-z0-9.[\]:-]+:\d{1,5}$/),
    /** groundcrew's CA (PEM file on this host) when the registry serves TLS; plain HTTP without. */
    caFile: z.string().startsWith("/").optional(),
  })
  .strict();
export type DockerRegistry = z.infer<typeof dockerRegistrySchema>;

/** An image reference with an explicit tag ("10.0.0.5:5000/library/busybox:1.36"), as verify pulls it. */
export const verifyImageSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._/:[\]-]*:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/);

const daemonJsonSchema = z.record(z.string(), z.unknown());

export interface ConfigFile {
  readonly path: string;
  readonly content: string;
  readonly mode: number;
}

function union(existing: unknown, added: string): string[] {
  const list = Array.isArray(existing)
    ? existing.filter((item): item is string => typeof item === "string")
    : [];
  return list.includes(added) ? list : [...list, added];
}

/**
 * D2: daemon.json with the depot as docker.io's mirror (and, for a plain-HTTP
 * registry, among the insecure registries), the operator's other keys kept;
 * for a TLS registry, groundcrew's CA at /etc/docker/certs.d/<host:port>/ca.crt
 * so Docker trusts it without "insecure" settings. No registry: no files.
 */
export async function dockerConfigFiles(
  fs: ReadonlyFs,
  registry: DockerRegistry | undefined,
): Promise<ConfigFile[]> {
  if (registry === undefined) return [];
  const text = await fileOp("read", DAEMON_JSON, () => fs.readTextIfExists(DAEMON_JSON));
  let current: Record<string, unknown> = {};
  if (text !== undefined && text.trim() !== "") {
    const parsed = daemonJsonSchema.safeParse(safeJson(text));
    if (!parsed.success) {
      throw new StepError("HOST_IO_FAILED", `${DAEMON_JSON} is not a JSON object: fix or remove it`, {
        context: { path: DAEMON_JSON },
      });
    }
    current = parsed.data;
  }
  const tls = registry.caFile !== undefined;
  const daemon = {
    ...current,
    "registry-mirrors": union(
      current["registry-mirrors"],
      `${tls ? "https" : "http"}://${registry.endpoint}`,
    ),
    ...(tls ? {} : { "insecure-registries": union(current["insecure-registries"], registry.endpoint) }),
  };
  const files: ConfigFile[] = [
    { path: DAEMON_JSON, content: `${JSON.stringify(daemon, null, 2)}\n`, mode: 0o644 },
  ];
  if (registry.caFile !== undefined) {
    const caFile = registry.caFile;
    const ca = await fileOp("read", caFile, () => fs.readText(caFile));
    files.push({ path: `/etc/docker/certs.d/${registry.endpoint}/ca.crt`, content: ca, mode: 0o644 });
  }
  return files;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Pulls `image` (a docker.io name, so through the depot mirror) and, when it
 * has no entrypoint of its own, runs `true` in it with no network. Never
 * hello-world from the internet. Resolves a line for the log; throws
 * STEP_VERIFY_FAILED naming the image and Docker's answer.
 */
export async function verifyWithImage(exec: Exec, image: string): Promise<string> {
  const pull = ["docker", "pull", "--quiet", image] as const;
  const pulled = await tryCommand(exec, pull, { timeoutMs: 180_000 });
  if (pulled.code !== 0) {
    throw new StepError(
      "STEP_VERIFY_FAILED",
      `Docker cannot pull ${image} through the depot: ${describeResult(pull, pulled)}`,
    );
  }
  const inspect = ["docker", "image", "inspect", "--format", "{{json .Config.Entrypoint}}", image] as const;
  const entrypoint = (await tryCommand(exec, inspect)).stdout.trim();
  if (entrypoint !== "null" && entrypoint !== "[]") return `pulled ${image} through the depot registry`;
  const run = ["docker", "run", "--rm", "--network", "none", image, "true"] as const;
  const ran = await tryCommand(exec, run, { timeoutMs: 60_000 });
  if (ran.code !== 0) {
    throw new StepError(
      "STEP_VERIFY_FAILED",
      `a container of ${image} did not run: ${describeResult(run, ran)}`,
    );
  }
  return `pulled ${image} through the depot registry and ran a container of it`;
}
