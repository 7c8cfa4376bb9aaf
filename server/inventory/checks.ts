import { isIP, isIPv4 } from "node:net";

/**
 * Pure value checks. Each returns why the value is unacceptable, or undefined
 * when it is fine. Messages quote values with JSON.stringify (never secrets).
 */

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/i;
const K8S_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

function isDnsSubdomain(text: string, label: RegExp): boolean {
  return text.length <= 253 && text.split(".").every((part) => part.length <= 63 && label.test(part));
}

/** Host names become k3s node names: lowercase RFC 1123 subdomains. */
export function nodeNameProblem(name: string): string | undefined {
  if (isDnsSubdomain(name, LABEL)) return undefined;
  return (
    `host name ${JSON.stringify(name)} cannot be a node name: use lowercase letters, digits, "-" and ".", ` +
    `starting and ending with a letter or digit (at most 63 between dots)`
  );
}

/** An IPv4/IPv6 address or a DNS name. */
export function addressProblem(address: string): string | undefined {
  if (isIP(address) !== 0 || isDnsSubdomain(address, DNS_LABEL)) return undefined;
  return `address ${JSON.stringify(address)} is neither an IP address nor a DNS name`;
}

/** An environment variable name, as a shell accepts it. */
export function envNameProblem(name: string): string | undefined {
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return undefined;
  return `${JSON.stringify(name)} is not an environment variable name`;
}

/** A network interface name as Linux accepts it. */
export function ifaceProblem(name: string): string | undefined {
  if (name.length <= 15 && /^[^\s/:]+$/.test(name) && name !== "." && name !== "..") return undefined;
  return `iface ${JSON.stringify(name)} is not a network interface name`;
}

/** A registry host as containerd mirrors name it: a DNS name with an optional :port. */
export function mirrorProblem(mirror: string): string | undefined {
  const match = /^([^:]+)(?::(\d{1,5}))?$/.exec(mirror);
  const host = match?.[1];
  const port = Number(match?.[2] ?? "443");
  if (host !== undefined && isDnsSubdomain(host, DNS_LABEL) && port >= 1 && port <= 65535) return undefined;
  return `mirror ${JSON.stringify(mirror)} is not a registry host name (like "docker.io" or "registry.lan:5000")`;
}

/** One CIDR or a comma-separated dual-stack pair, like k3s's --cluster-cidr. */
export function cidrProblem(text: string): string | undefined {
  const bad = text.split(",").find((cidr) => {
    const [address = "", prefix = "", ...rest] = cidr.trim().split("/");
    const family = isIP(address);
    const max = family === 4 ? 32 : 128;
    return rest.length > 0 || family === 0 || !/^\d{1,3}$/.test(prefix) || Number(prefix) > max;
  });
  return bad === undefined ? undefined : `${JSON.stringify(bad.trim())} is not a CIDR (like "10.42.0.0/16")`;
}

function ipv4Range(cidr: string): readonly [number, number] | undefined {
  const [address = "", prefix = ""] = cidr.trim().split("/");
  if (!isIPv4(address)) return undefined;
  const start = address.split(".").reduce((value, octet) => value * 256 + Number(octet), 0);
  const size = 2 ** (32 - Number(prefix));
  const first = Math.floor(start / size) * size;
  return [first, first + size - 1];
}

/** Whether the IPv4 parts of two (valid) CIDR lists share any address. */
export function cidrsOverlap(a: string, b: string): boolean {
  const ranges = (text: string): (readonly [number, number])[] =>
    text.split(",").flatMap((cidr) => {
      const range = ipv4Range(cidr);
      return range === undefined ? [] : [range];
    });
  return ranges(a).some(([a0, a1]) => ranges(b).some(([b0, b1]) => a0 <= b1 && b0 <= a1));
}

/** A Kubernetes label key: an optional DNS-subdomain prefix and "/", then a name of at most 63. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf("/");
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = key.slice(slash + 1);
  const prefixOk = prefix === undefined || isDnsSubdomain(prefix, LABEL);
  if (prefixOk && name.length <= 63 && K8S_NAME.test(name)) return undefined;
  return `label key ${JSON.stringify(key)} is not a Kubernetes label key`;
}

/** A Kubernetes label value: empty, or at most 63 of letters, digits, "-", "_", ".". */
export function labelValueProblem(value: string): string | undefined {
  if (value === "" || (value.length <= 63 && K8S_NAME.test(value))) return undefined;
  return `label value ${JSON.stringify(value)} is not a Kubernetes label value`;
}

const EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

/** A node taint as k3s's --node-taint takes it: key=value:Effect (the =value may be left out). */
export function taintProblem(taint: string): string | undefined {
  const match = /^([^=:]+)(?:=([^:]*))?:([A-Za-z]+)$/.exec(taint);
  const [, key = "", value = "", effect = ""] = match ?? [];
  if (
    match !== null &&
    labelKeyProblem(key) === undefined &&
    labelValueProblem(value) === undefined &&
    EFFECTS.includes(effect)
  ) {
    return undefined;
  }
  return `taint ${JSON.stringify(taint)} is not key=value:Effect with Effect ${EFFECTS.join(", ")}`;
}
