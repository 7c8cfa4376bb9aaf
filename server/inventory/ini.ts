import type { ClusterFields, HostDraft, HostFields, InventoryDraft } from "./draft.js";
import { lexIni, type IniHostLine } from "./ini-lexer.js";
import { readIniVars, type IniSettings } from "./ini-vars.js";
import type { Problems } from "./problems.js";
import type { TokenSource } from "./types.js";

/** Groups with a meaning: [driver] hosts are k3s servers, [worker] agents, the [registry] host the depot. */
const SERVER_GROUP = "driver";
const DEPOT_GROUP = "registry";
const IMPLICIT_GROUPS = new Set(["all", "ungrouped"]);

/**
 * Reads an Ansible INI inventory as the airgap-k3s playbooks use it. A host
 * is in every group it is listed under, and in their [parent:children]
 * parents. Its settings are, weakest first: [all:vars], the vars of its
 * groups (shallow groups first, then by name), then its own host lines in
 * file order. Cluster settings (http_port, https_port, the token) may appear
 * anywhere but must agree.
 */
export function readIni(text: string, problems: Problems): InventoryDraft {
  const ini = lexIni(text, problems);
  const parents = new Map<string, string[]>();
  for (const { parent, child } of ini.children) parents.set(child, [...(parents.get(child) ?? []), parent]);
  const ancestors = (group: string, seen = new Set<string>()): string[] =>
    (parents.get(group) ?? []).flatMap((parent) => {
      if (seen.has(parent)) return [];
      seen.add(parent);
      return [parent, ...ancestors(parent, seen)];
    });
  const depth = (group: string): number => ancestors(group).length;

  const byName = new Map<string, { lines: IniHostLine[]; groups: Map<string, number> }>();
  for (const hostLine of ini.hosts) {
    const host = byName.get(hostLine.name) ?? { lines: [], groups: new Map<string, number>() };
    byName.set(hostLine.name, host);
    host.lines.push(hostLine);
    const group = hostLine.group;
    if (group === undefined || IMPLICIT_GROUPS.has(group)) continue;
    for (const member of [group, ...ancestors(group)]) {
      if (!host.groups.has(member)) host.groups.set(member, hostLine.line);
    }
  }
  const groupSettings = ini.groupVars.map(({ group, vars }) => ({
    group,
    settings: readIniVars(vars, problems),
  }));
  const lineSettings = new Map(ini.hosts.map((line) => [line, readIniVars(line.vars, problems)]));

  const hosts: HostDraft[] = [];
  for (const [name, { lines, groups }] of byName) {
    const first = lines[0]?.line ?? 1;
    const rank = (group: string): [number, string] => (group === "all" ? [-1, ""] : [depth(group), group]);
    const contexts = [
      ...groupSettings
        .filter(({ group }) => group === "all" || groups.has(group))
        .sort((a, b) => compareRank(rank(a.group), rank(b.group)))
        .map(({ settings }) => settings),
      ...lines.flatMap((line) => lineSettings.get(line) ?? []),
    ];
    const fields = hostFields(contexts, problems);
    const serverLine = groups.get(SERVER_GROUP);
    const depotLine = groups.get(DEPOT_GROUP);
    fields.role =
      serverLine === undefined ? { value: "worker", line: first } : { value: "server", line: serverLine };
    if (depotLine !== undefined) fields.depot = { value: true, line: depotLine };
    const ordered = [...ini.groups.keys()].filter((group) => groups.has(group));
    if (ordered.length > 0) fields.groups = { value: ordered, line: first };
    hosts.push({ name: { value: name, line: first }, fields });
  }
  const everywhere = [...groupSettings.map(({ settings }) => settings), ...lineSettings.values()];
  return {
    hostsLine: ini.groups.get(SERVER_GROUP) ?? 1,
    hosts,
    cluster: clusterFields(everywhere, problems),
    provisioner: {},
    bundle: {},
  };
}

function compareRank(a: [number, string], b: [number, string]): number {
  return a[0] - b[0] || a[1].localeCompare(b[1]);
}

/** Later contexts win; a become password counts only with the plaintext opt-in in effect for the host. */
function hostFields(contexts: readonly IniSettings[], problems: Problems): HostFields {
  const fields = contexts.reduce<HostFields>((merged, settings) => ({ ...merged, ...settings.host }), {});
  const password = contexts.findLast((settings) => settings.password)?.password;
  const allowed = contexts.findLast((settings) => settings.allowPlaintextPassword)?.allowPlaintextPassword;
  if (password !== undefined && allowed?.value !== true) {
    problems.add(
      password.line,
      `${password.key} is a plaintext sudo password: add groundcrew_allow_plaintext_password=true ` +
        "to accept it, or convert to YAML and use sudo.passwordEnv",
    );
  } else if (password !== undefined) {
    fields.sudo = { value: { mode: "password", prompt: false, value: password.value }, line: password.line };
  }
  return fields;
}

const CLUSTER_VARS = { httpPort: "http_port", httpsPort: "https_port", token: "the cluster token" } as const;
const CLUSTER_KEYS = ["httpPort", "httpsPort", "token"] as const;
type ClusterVar = (typeof CLUSTER_KEYS)[number];

/** Cluster settings from every context; the first (by line) wins and any other must agree with it. */
function clusterFields(contexts: readonly IniSettings[], problems: Problems): ClusterFields {
  const merged: ClusterFields = {};
  const byLine = [...contexts].sort((a, b) => firstLine(a) - firstLine(b));
  for (const settings of byLine) {
    for (const key of CLUSTER_KEYS) mergeKey(merged, key, settings.cluster[key], problems);
  }
  return merged;
}

function firstLine(settings: IniSettings): number {
  return Math.min(...Object.values(settings.cluster).map((located) => located.line));
}

function mergeKey<K extends ClusterVar>(
  merged: ClusterFields,
  key: K,
  next: ClusterFields[K],
  problems: Problems,
): void {
  const previous = merged[key];
  if (next === undefined) return;
  if (previous === undefined) merged[key] = next;
  else if (!sameValue(previous.value, next.value)) {
    problems.add(
      next.line,
      `${CLUSTER_VARS[key]} differs from line ${previous.line}: cluster settings must agree`,
    );
  }
}

function sameValue(a: number | TokenSource, b: number | TokenSource): boolean {
  if (typeof a === "number" || typeof b === "number") return a === b;
  if (a.source === "value" && b.source === "value") return a.value.equals(b.value);
  return JSON.stringify(a) === JSON.stringify(b);
}
