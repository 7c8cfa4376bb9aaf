import { addressProblem, cidrProblem, cidrsOverlap } from "./checks.js";
import type { ClusterFields, InventoryDraft, Located } from "./draft.js";
import { finishAddons } from "./validate-addons.js";
import { existingFile, finishHost, type CheckContext } from "./validate-host.js";
import { CLUSTER_DEFAULTS, type ClusterVars, type Inventory, type InventoryHost } from "./types.js";

/**
 * Turns a draft into an Inventory: applies defaults, checks every value and
 * the fleet as a whole (unique names and addresses, an odd number of
 * servers, at most one depot), and throws one InventoryInvalidError listing
 * every problem found, the readers' included.
 */
export function finishInventory(draft: InventoryDraft, context: CheckContext): Inventory {
  const hosts = draft.hosts.map((host) => finishHost(host, context));
  const lines = draft.hosts.map((host) => ({
    name: host.name.line,
    address: (host.fields.address ?? host.fields.port ?? host.name).line,
    role: host.fields.role?.line ?? host.name.line,
    depot: host.fields.depot?.line ?? host.name.line,
  }));
  checkUnique(hosts, lines, context);
  checkRoles(hosts, lines, draft.hostsLine, context);
  const cluster = finishCluster(draft.cluster, draft.hostsLine, context);
  const { address, port } = draft.provisioner;
  const trust = (draft.bundle.trust?.value ?? []).flatMap((written) => {
    const line = draft.bundle.trust?.line ?? 1;
    return existingFile({ value: written, line }, "bundle.trust key", context) ?? [];
  });
  const addons = finishAddons(draft.addons ?? [], context);
  const addressIssue = address === undefined ? undefined : addressProblem(address.value);
  if (address !== undefined && addressIssue !== undefined) context.problems.add(address.line, addressIssue);
  context.problems.throwIfAny();
  return {
    file: context.file,
    format: context.format,
    hosts,
    cluster,
    provisioner: {
      ...(address === undefined ? {} : { address: address.value }),
      ...(port === undefined ? {} : { port: port.value }),
    },
    bundle: { trust },
    addons,
    storage: draft.storage ?? {},
  };
}

type HostLines = readonly { name: number; address: number; role: number; depot: number }[];

function checkUnique(hosts: readonly InventoryHost[], lines: HostLines, { problems }: CheckContext): void {
  const names = new Map<string, number>();
  const addresses = new Map<string, { name: string; line: number }>();
  hosts.forEach((host, index) => {
    const line = lines[index] ?? { name: 1, address: 1 };
    const sameName = names.get(host.name);
    if (sameName === undefined) names.set(host.name, line.name);
    else
      problems.add(line.name, `host name ${JSON.stringify(host.name)} is already used at line ${sameName}`);
    const endpoint = `${host.address.toLowerCase()} port ${host.ssh.port}`;
    const sameAddress = addresses.get(endpoint);
    if (sameAddress === undefined) addresses.set(endpoint, { name: host.name, line: line.address });
    else if (sameName === undefined) {
      problems.add(
        line.address,
        `${endpoint} is already the address of host ${JSON.stringify(sameAddress.name)} (line ${sameAddress.line})`,
      );
    }
  });
}

function checkRoles(
  hosts: readonly InventoryHost[],
  lines: HostLines,
  hostsLine: number,
  { problems, format }: CheckContext,
): void {
  const servers = hosts.flatMap((host, index) => (host.role === "server" ? [{ host, index }] : []));
  const last = servers.at(-1);
  if (hosts.length === 0) {
    // Said only when nothing else is wrong: hosts that could not be read are reported already.
    if (problems.count === 0) problems.add(hostsLine, "the inventory lists no hosts");
  } else if (servers.length === 0) {
    const how = format === "ini" ? "list it under [driver]" : "set role: server on it";
    problems.add(
      hostsLine,
      `no host has role server: k3s needs one (or three, for high availability); ${how}`,
    );
  } else if (last !== undefined && servers.length % 2 === 0) {
    const n = servers.length;
    const tolerated = (n - 1) >> 1;
    problems.add(
      lines[last.index]?.role ?? hostsLine,
      `${n} servers (${servers.map(({ host }) => host.name).join(", ")}): embedded etcd needs an odd number ` +
        `of servers for quorum: ${n} servers tolerate ` +
        (tolerated === 0 ? "no failure" : `${tolerated} failure${tolerated > 1 ? "s" : ""}, as ${n - 1} do`),
    );
  }
  const depots = hosts.flatMap((host, index) => (host.depot ? [{ host, index }] : []));
  const [first, ...others] = depots;
  for (const other of others) {
    problems.add(
      lines[other.index]?.depot ?? hostsLine,
      `host ${JSON.stringify(other.host.name)} is a depot, but so is ${JSON.stringify(first?.host.name)} ` +
        `(line ${lines[first?.index ?? 0]?.depot ?? hostsLine}): an inventory has one depot`,
    );
  }
}

function finishCluster(fields: ClusterFields, hostsLine: number, context: CheckContext): ClusterVars {
  const cidr = (located: Located<string> | undefined, fallback: string): string => {
    const problem = located === undefined ? undefined : cidrProblem(located.value);
    if (located !== undefined && problem !== undefined) context.problems.add(located.line, problem);
    return located?.value ?? fallback;
  };
  const clusterCidr = cidr(fields.clusterCidr, CLUSTER_DEFAULTS.clusterCidr);
  const serviceCidr = cidr(fields.serviceCidr, CLUSTER_DEFAULTS.serviceCidr);
  if (cidrProblem(clusterCidr) === undefined && cidrProblem(serviceCidr) === undefined) {
    if (cidrsOverlap(clusterCidr, serviceCidr)) {
      const line = (fields.serviceCidr ?? fields.clusterCidr)?.line ?? hostsLine;
      context.problems.add(line, `clusterCidr ${clusterCidr} and serviceCidr ${serviceCidr} overlap`);
    }
  }
  const httpPort = fields.httpPort?.value ?? CLUSTER_DEFAULTS.httpPort;
  const httpsPort = fields.httpsPort?.value ?? CLUSTER_DEFAULTS.httpsPort;
  if (httpPort === httpsPort) {
    const line = (fields.httpsPort ?? fields.httpPort)?.line ?? hostsLine;
    context.problems.add(line, `httpPort and httpsPort are both ${httpPort}`);
  }
  const token = fields.token;
  const tokenPath =
    token?.value.source === "file" ? { value: token.value.path, line: token.line } : undefined;
  const resolved = tokenPath === undefined ? undefined : existingFile(tokenPath, "token file", context);
  return {
    token:
      resolved !== undefined ? { source: "file", path: resolved } : (token?.value ?? { source: "generate" }),
    clusterCidr,
    serviceCidr,
    httpPort,
    httpsPort,
    registry: {
      port: fields.registryPort?.value ?? CLUSTER_DEFAULTS.registryPort,
      tls: fields.registryTls?.value ?? CLUSTER_DEFAULTS.registryTls,
      mirrors: fields.mirrors?.value ?? [...CLUSTER_DEFAULTS.mirrors],
    },
  };
}
