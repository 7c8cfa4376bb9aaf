import { LineCounter, parseDocument } from "yaml";
import { withDefaults, type ClusterFields, type ClusterValues, type HostDraft } from "./draft.js";
import type { BundleValues, HostFields, HostValues, InventoryDraft, ProvisionerValues } from "./draft.js";
import type { Problems } from "./problems.js";
import type { HostRole } from "./types.js";
import { asChoice, asText } from "./values.js";
import { bool, labels, mirrors, port, readFields, strings, sudo, taints, text } from "./yaml-fields.js";
import type { Decoders } from "./yaml-fields.js";
import { YamlNodes, type Entry } from "./yaml-nodes.js";
import { readAddons } from "./yaml-addons.js";
import { readStorage } from "./yaml-storage.js";
import { token } from "./yaml-token.js";

/**
 * Reads groundcrew's native YAML inventory: top-level `hosts` (list),
 * `defaults` (settings every host starts from), `cluster` and `provisioner`
 * (maps), `addons` (list, yaml-addons.ts), `storage` (map, yaml-storage.ts).
 * Reports every problem found, each at the line of its node; undefined when
 * the text cannot be read as an inventory at all.
 */
export function readYaml(source: string, problems: Problems): InventoryDraft | undefined {
  const lines = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lines, prettyErrors: false });
  for (const error of doc.errors) {
    problems.add(lines.linePos(error.pos[0]).line, `not valid YAML: ${syntaxProblem(error.message)}`);
  }
  if (doc.errors.length > 0) return undefined;
  // An empty file is an inventory without hosts; validation says so.
  if (doc.contents === null) return { hostsLine: 1, hosts: [], cluster: {}, provisioner: {}, bundle: {} };
  const y = new YamlNodes(doc, lines, problems);
  const raw = y.raw(doc.contents);
  if (raw !== null && typeof raw === "object" && "all" in raw && !("hosts" in raw)) {
    problems.add(y.line(doc.contents), ANSIBLE_YAML);
    return undefined;
  }
  const top = y.entries(doc.contents, "the inventory", TOP_KEYS) ?? [];
  const find = (key: string): Entry | undefined => top.find((entry) => entry.key === key);
  const hosts = find("hosts");
  const defaults = readDefaults(y, find("defaults"));
  const items = hosts === undefined ? [] : (y.items(hosts.node, "hosts", hosts.line) ?? []);
  const cluster = entriesOf(y, find("cluster"), "cluster", CLUSTER_KEYS);
  const provisioner = entriesOf(y, find("provisioner"), "provisioner", ["address", "port"]);
  const bundle = entriesOf(y, find("bundle"), "bundle", ["trust"]);
  return {
    hostsLine: hosts?.line ?? 1,
    hosts: items.flatMap((item) => readHost(y, item, defaults) ?? []),
    cluster: { ...readFields(y, cluster, CLUSTER), ...readRegistry(y, cluster) },
    provisioner: readFields(y, provisioner, PROVISIONER),
    bundle: readFields(y, bundle, BUNDLE),
    addons: readAddons(y, find("addons")),
    storage: readStorage(y, find("storage")),
  };
}

/**
 * What the YAML parser says is wrong, without the source text it quotes
 * after a ": " ("Unexpected double-quoted-scalar token in YAML stream: "..."").
 * That text may be a password or a token whose line is broken.
 */
function syntaxProblem(message: string): string {
  const colon = message.indexOf(": ");
  return colon === -1 ? message : message.slice(0, colon);
}

const ANSIBLE_YAML =
  "this looks like an Ansible YAML inventory (top-level all:); groundcrew reads Ansible INI " +
  "inventories and its own YAML format (see inventory/README.md)";
const TOP_KEYS = ["hosts", "defaults", "cluster", "provisioner", "bundle", "addons", "storage"];
const CLUSTER_KEYS = ["token", "clusterCidr", "serviceCidr", "httpPort", "httpsPort", "registry"];

const HOST: Decoders<HostValues> = {
  address: text("address"),
  user: text("user"),
  port: port("port"),
  key: text("key"),
  sudo,
  role: (y, node, line) =>
    asChoice<HostRole>(y.raw(node), ["server", "worker"], "role", (message) => {
      y.problems.add(line, message);
    }),
  depot: bool("depot"),
  iface: text("iface"),
  gpu: bool("gpu"),
  labels,
  taints,
  installDocker: bool("installDocker"),
  installNvidiaDriver: bool("installNvidiaDriver"),
  groups: strings("groups"),
};
const HOST_KEYS = ["name", ...Object.keys(HOST)];

const CLUSTER: Decoders<Omit<ClusterValues, "registryPort" | "registryTls" | "mirrors">> = {
  token,
  clusterCidr: text("clusterCidr"),
  serviceCidr: text("serviceCidr"),
  httpPort: port("httpPort"),
  httpsPort: port("httpsPort"),
};
const REGISTRY = { port: port("registry.port"), tls: bool("registry.tls"), mirrors };
const PROVISIONER: Decoders<ProvisionerValues> = {
  address: text("provisioner.address"),
  port: port("provisioner.port"),
};

const BUNDLE: Decoders<BundleValues> = { trust: strings("bundle.trust") };

/** The entries of an optional top-level map (none when it is absent). */
function entriesOf(y: YamlNodes, entry: Entry | undefined, what: string, known: readonly string[]): Entry[] {
  if (entry === undefined || y.raw(entry.node) === null) return []; // absent or empty: all defaults
  return y.entries(entry.node, what, known, entry.line) ?? [];
}

function readRegistry(y: YamlNodes, cluster: readonly Entry[]): ClusterFields {
  const registry = cluster.find((entry) => entry.key === "registry");
  const fields = readFields(y, entriesOf(y, registry, "cluster.registry", Object.keys(REGISTRY)), REGISTRY);
  return { registryPort: fields.port, registryTls: fields.tls, mirrors: fields.mirrors };
}

function readDefaults(y: YamlNodes, entry: Entry | undefined): HostFields {
  const entries = entriesOf(y, entry, "defaults", HOST_KEYS).filter((item) => {
    if (item.key !== "name" && item.key !== "address") return true;
    y.problems.add(item.line, `defaults cannot set ${item.key}: every host has its own`);
    return false;
  });
  return readFields(y, entries, HOST);
}

function readHost(y: YamlNodes, item: Entry, defaults: HostFields): HostDraft | undefined {
  const entries = y.entries(item.node, "host", HOST_KEYS, item.line);
  if (entries === undefined) return undefined;
  const own = readFields(y, entries, HOST);
  const nameEntry = entries.find((entry) => entry.key === "name");
  if (nameEntry === undefined) {
    y.problems.add(item.line, "host has no name");
    return undefined;
  }
  const name = asText(y.raw(nameEntry.node), "name", (message) => {
    y.problems.add(nameEntry.line, message);
  });
  if (name === undefined) return undefined;
  return { name: { value: name, line: nameEntry.line }, fields: withDefaults(defaults, own) };
}
