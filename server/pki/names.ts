import { isIP } from "node:net";
import { GroundcrewError } from "../../shared/errors.js";

/** One subjectAltName entry of a server certificate. `value` is canonical (see `parseSubjectAltName`). */
export type SubjectAltName =
  { readonly kind: "ip"; readonly value: string } | { readonly kind: "dns"; readonly value: string };

const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Refuses a host name that cannot be a client certificate's CN as is: only
 * [A-Za-z0-9._-], 1..253 characters, so the CN an agent presents compares
 * byte for byte with inventory and envelope host names (no escaping rules).
 * Throws GroundcrewError PKI_NAME_INVALID.
 */
export function assertCertHostName(host: string): void {
  if (!HOST_NAME.test(host)) {
    throw new GroundcrewError(
      "PKI_NAME_INVALID",
      `not a host name a certificate can carry: ${JSON.stringify(host.slice(0, 80))}`,
    );
  }
}

/** An IP literal in one spelling per address: IPv4 as written, IPv6 compressed and lowercase. */
function canonicalIp(ip: string): string {
  return isIP(ip) === 6 ? new URL(`http://[${ip}]/`).hostname.slice(1, -1) : ip;
}

/**
 * Classifies an address agents dial: an IP literal (v4 or v6) or a DNS name
 * (lowercased; no wildcards). Throws GroundcrewError PKI_NAME_INVALID.
 */
export function parseSubjectAltName(text: string): SubjectAltName {
  if (isIP(text) !== 0) return { kind: "ip", value: canonicalIp(text) };
  const name = text.toLowerCase().replace(/\.$/, "");
  if (name.length > 0 && name.length <= 253 && name.split(".").every((label) => DNS_LABEL.test(label))) {
    return { kind: "dns", value: name };
  }
  throw new GroundcrewError(
    "PKI_NAME_INVALID",
    `not an IP address or DNS name: ${JSON.stringify(text.slice(0, 80))}`,
  );
}

/** A comparable key for a SAN ("ip:10.0.0.1", "dns:prov.lan"). */
export function sanKey(san: SubjectAltName): string {
  return `${san.kind}:${san.value}`;
}

/**
 * The SAN keys of a certificate, from Node's `X509Certificate.subjectAltName`
 * text ("DNS:a, IP Address:10.0.0.1"). Entries of other kinds, or quoted
 * (unusual) values, are left out: at worst that makes a certificate look as
 * if it covers less, and it is renewed.
 */
export function sanKeysOfCertificate(subjectAltName: string | undefined): Set<string> {
  const keys = new Set<string>();
  for (const entry of (subjectAltName ?? "").split(", ")) {
    const ip = /^IP Address:([0-9A-Fa-f.:]+)$/.exec(entry)?.[1];
    const dns = /^DNS:([A-Za-z0-9.-]+)$/.exec(entry)?.[1];
    if (ip !== undefined && isIP(ip) !== 0) keys.add(sanKey({ kind: "ip", value: canonicalIp(ip) }));
    if (dns !== undefined) keys.add(sanKey({ kind: "dns", value: dns.toLowerCase() }));
  }
  return keys;
}
