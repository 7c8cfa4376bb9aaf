/** The /proc/sys file of a kernel parameter: "net.ipv4.ip_forward" → "/proc/sys/net/ipv4/ip_forward". */
export function sysctlPath(key: string): string {
  return `/proc/sys/${key.replaceAll(".", "/")}`;
}
