import { access } from "node:fs/promises";
import { parse } from "yaml";
import { z } from "zod";
import { FatalError, messageOf } from "./fatal.js";
import { readOptional } from "./files.js";
import { info, warn } from "./log.js";

export const DEFAULT_REGISTRIES_FILE = "/etc/rancher/k3s/registries.yaml";

const mirrorSchema = z.object({
  endpoint: z.array(z.string()).optional(),
  rewrite: z.record(z.string()).optional(),
});
const tlsSchema = z.object({
  ca_file: z.string().optional(),
  cert_file: z.string().optional(),
  key_file: z.string().optional(),
  insecure_skip_verify: z.boolean().optional(),
});
const authSchema = z.object({
  username: z.string().optional(),
  password: z.string().optional(),
  auth: z.string().optional(),
  identitytoken: z.string().optional(),
  token: z.string().optional(),
});
const registryConfigSchema = z.object({ auth: authSchema.optional(), tls: tlsSchema.optional() });
const registriesSchema = z
  .object({
    mirrors: z.record(mirrorSchema.nullable()).nullable().optional(),
    configs: z.record(registryConfigSchema.nullable()).nullable().optional(),
  })
  .nullable();

export type TlsConfig = z.infer<typeof tlsSchema>;

/** registries.yaml, validated: endpoints are absolute URLs (https:// when no scheme was given). */
export interface Registries {
  readonly mirrors: ReadonlyMap<
    string,
    { readonly endpoints: readonly URL[]; readonly rewrite: Readonly<Record<string, string>> }
  >;
  readonly configs: ReadonlyMap<string, { readonly tls?: TlsConfig; readonly hasAuth: boolean }>;
}

/** The keys k3s reads at each level; others are ignored by k3s, and logged here. */
const KNOWN_KEYS = {
  top: ["mirrors", "configs"],
  mirror: ["endpoint", "rewrite"],
  config: ["auth", "tls"],
  auth: ["username", "password", "auth", "identitytoken", "token"],
  tls: ["ca_file", "cert_file", "key_file", "insecure_skip_verify"],
} as const;

/**
 * Reads the private registry file (absent: no registries). A file of the
 * wrong shape, an endpoint that is not a URL, or a ca_file / cert_file /
 * key_file that does not exist stops k3s (FatalError). Each mirror and
 * config is logged (never credentials); unknown keys are logged and ignored.
 */
export async function loadRegistries(file: string): Promise<Registries> {
  const text = await readOptional(file);
  if (text === undefined) return { mirrors: new Map(), configs: new Map() };
  info(`Using private registry config file at ${file}`);
  let raw: unknown;
  try {
    raw = parse(text, { version: "1.1" });
  } catch (error) {
    throw new FatalError(`failed to load private registry configuration from ${file}: ${messageOf(error)}`);
  }
  const parsed = registriesSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new FatalError(
      `failed to load private registry configuration from ${file}: ${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid"}`,
    );
  }
  warnUnknownKeys(raw);
  const mirrors = new Map<string, { endpoints: URL[]; rewrite: Record<string, string> }>();
  for (const [name, mirror] of Object.entries(parsed.data?.mirrors ?? {})) {
    const endpoints = (mirror?.endpoint ?? []).map((endpoint) => endpointUrl(file, name, endpoint));
    mirrors.set(name, { endpoints, rewrite: mirror?.rewrite ?? {} });
    info(`Registry mirror ${name}: ${endpoints.map((url) => url.href).join(", ") || "(no endpoints)"}`);
  }
  const configs = new Map<string, { tls?: TlsConfig; hasAuth: boolean }>();
  for (const [host, config] of Object.entries(parsed.data?.configs ?? {})) {
    const tls = config?.tls;
    for (const [key, path] of [
      ["ca_file", tls?.ca_file],
      ["cert_file", tls?.cert_file],
      ["key_file", tls?.key_file],
    ] as const) {
      if (path === undefined) continue;
      await access(path).catch(() => {
        throw new FatalError(
          `failed to generate containerd registry config for ${host}: ${key} ${path} does not exist`,
        );
      });
    }
    configs.set(
      host,
      tls === undefined
        ? { hasAuth: config?.auth !== undefined }
        : { tls, hasAuth: config?.auth !== undefined },
    );
    const parts = [
      tls?.ca_file === undefined ? undefined : `ca_file=${tls.ca_file}`,
      tls?.cert_file === undefined ? undefined : `cert_file=${tls.cert_file}`,
      tls?.insecure_skip_verify === true ? "insecure_skip_verify=true" : undefined,
      config?.auth === undefined ? undefined : "auth=yes",
    ].filter((part) => part !== undefined);
    info(`Registry config ${host}: ${parts.join(" ") || "(empty)"}`);
  }
  return { mirrors, configs };
}

function endpointUrl(file: string, mirror: string, endpoint: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `https://${endpoint}`;
  try {
    const url = new URL(withScheme);
    if (url.protocol !== "http:" && url.protocol !== "https:")
      throw new Error(`unsupported scheme ${url.protocol}`);
    return url;
  } catch (error) {
    throw new FatalError(
      `failed to load private registry configuration from ${file}: mirrors.${mirror}.endpoint: invalid URL ${endpoint}: ${messageOf(error)}`,
    );
  }
}

function warnUnknownKeys(raw: unknown): void {
  const check = (value: unknown, allowed: readonly string[], where: string): void => {
    if (value === null || typeof value !== "object") return;
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) warn(`Ignoring unknown key ${where}${key} in registries.yaml`);
    }
  };
  check(raw, KNOWN_KEYS.top, "");
  const record = (value: unknown): Record<string, unknown> =>
    value !== null && typeof value === "object" ? { ...value } : {};
  const top = record(raw);
  for (const [name, mirror] of Object.entries(record(top["mirrors"]))) {
    check(mirror, KNOWN_KEYS.mirror, `mirrors.${name}.`);
  }
  for (const [host, config] of Object.entries(record(top["configs"]))) {
    check(config, KNOWN_KEYS.config, `configs.${host}.`);
    check(record(config)["auth"], KNOWN_KEYS.auth, `configs.${host}.auth.`);
    check(record(config)["tls"], KNOWN_KEYS.tls, `configs.${host}.tls.`);
  }
}
