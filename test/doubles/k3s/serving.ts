import { hostname } from "node:os";
import type { Server } from "node:https";
import { hostAddresses } from "./host-info.js";
import { listenHttps, type Handler } from "./http-server.js";
import { info } from "./log.js";
import type { ServerOptions } from "./node-options.js";
import { createServingCert, type CertAndKey } from "./pki.js";
import { writeServingCert } from "./server-files.js";

/**
 * Issues this server's serving certificate from the cluster CA (on every
 * start, so tls-san changes apply) and serves `handler` on
 * bind-address:https-listen-port. SANs: the kubernetes service names,
 * localhost, the hostname and node name, 127.0.0.1, ::1, 10.43.0.1, the
 * node IP, every IPv4 address of the host, and each tls-san.
 */
export async function serveApi(options: ServerOptions, ca: CertAndKey, handler: Handler): Promise<Server> {
  const sans = [
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
    "localhost",
    hostname(),
    options.nodeName,
    "127.0.0.1",
    "::1",
    "10.43.0.1",
    ...(options.nodeIp === undefined ? [] : [options.nodeIp]),
    ...hostAddresses(),
    ...options.tlsSans,
  ];
  const serving = await createServingCert(ca, sans);
  await writeServingCert(options.dataDir, serving);
  const server = await listenHttps(serving, options.bindAddress, options.httpsPort, handler);
  info(
    `Serving the supervisor and apiserver on ${options.bindAddress}:${options.httpsPort} (SANs: ${[...new Set(sans)].join(",")})`,
  );
  return server;
}
