/**
 * The DNS name a host's certificate carries as its subjectAltName, so a
 * host can also serve TLS (the depot serves artifacts to the other hosts).
 * Peers check a host's identity against this name, never against an address:
 * `.internal` is reserved for private use and never resolves publicly, so no
 * real server name can collide with it.
 */
export function hostServerName(host: string): string {
  return `${host}.groundcrew.internal`;
}
