/** The release this double impersonates; every version string it prints or serves comes from here. */
export const K3S_VERSION = "v1.36.2+k3s1";
export const K3S_COMMIT = "groundcrew-double";
export const GO_VERSION = "go1.24.4";
export const CONTAINERD_VERSION = "containerd://2.0.5-k3s1";

/** What `k3s --version` prints (two lines, like the real binary). */
export function versionText(): string {
  return `k3s version ${K3S_VERSION} (${K3S_COMMIT})\ngo version ${GO_VERSION}\n`;
}
