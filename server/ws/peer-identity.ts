import type { TLSSocket } from "node:tls";
import { normalizeSerial } from "../pki/serial.js";

const CLIENT_AUTH_OID = "1.3.6.1.5.5.7.3.2";

/** Who is at the other end of a TLS socket, as its verified certificate says. */
export interface PeerIdentity {
  /** The certificate's CN: an inventory host name. */
  readonly host: string;
  /** Normalized serial (see `normalizeSerial`). */
  readonly serial: string;
  readonly remote: string;
}

export type PeerCheck =
  | { readonly ok: true; readonly peer: PeerIdentity }
  | {
      readonly ok: false;
      readonly status: 401 | 403;
      readonly reason: string;
      readonly remote: string;
      readonly host?: string;
    };

export interface PeerPolicy {
  readonly isKnownHost: (host: string) => boolean;
  readonly isRevoked: (serialHex: string) => boolean;
}

/**
 * Maps a TLS socket to a host, only from its certificate: the chain must be
 * verified against our CA (401 otherwise), the certificate must carry the
 * clientAuth EKU and exactly one CN naming a known host, and its serial must
 * not be revoked (403 otherwise). Never reads anything the peer says.
 */
export function checkPeer(socket: TLSSocket, policy: PeerPolicy): PeerCheck {
  const remote = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? 0}`;
  if (!socket.authorized) {
    const why =
      socket.authorizationError instanceof Error
        ? socket.authorizationError.message
        : "no verified certificate";
    return { ok: false, status: 401, reason: `client certificate not verified: ${why}`, remote };
  }
  const cert = socket.getPeerCertificate();
  const cn: unknown = (cert.subject as { CN?: unknown } | undefined)?.CN;
  if (typeof cn !== "string" || cn === "") {
    return { ok: false, status: 403, reason: "client certificate has no single CN", remote };
  }
  if (!(cert.ext_key_usage ?? []).includes(CLIENT_AUTH_OID)) {
    return {
      ok: false,
      status: 403,
      reason: "client certificate is not for client authentication",
      remote,
      host: cn,
    };
  }
  const serial = normalizeSerial(typeof cert.serialNumber === "string" ? cert.serialNumber : "");
  if (serial === "" || policy.isRevoked(serial)) {
    return { ok: false, status: 403, reason: `client certificate ${serial} is revoked`, remote, host: cn };
  }
  if (!policy.isKnownHost(cn)) {
    return {
      ok: false,
      status: 403,
      reason: "client certificate names a host that is not in the inventory",
      remote,
      host: cn,
    };
  }
  return { ok: true, peer: { host: cn, serial, remote } };
}
