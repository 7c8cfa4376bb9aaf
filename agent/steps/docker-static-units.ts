/**
 * What docker.static puts on a host: Docker's static binaries in
 * /usr/local/bin (as Docker's "install from binaries" page does) and
 * groundcrew's own systemd units for them, modelled on upstream's
 * (containerd's containerd.service, moby's contrib/init/systemd/docker.service).
 */

export const STATIC_BIN_DIR = "/usr/local/bin";

/**
 * The members of the static tarball (`docker/<name>`) that are installed,
 * each to /usr/local/bin/<name>. A tarball lacking one fails the install
 * with tar's own message naming it.
 */
export const STATIC_BINARIES = [
  "containerd",
  "containerd-shim-runc-v2",
  "ctr",
  "docker",
  "docker-init",
  "docker-proxy",
  "dockerd",
  "runc",
] as const;

/**
 * Binaries another install may have put there first: k3s links
 * /usr/local/bin/ctr to itself when it is absent. One present before (and
 * not recorded by docker.static) is left as it is: neither installed over
 * nor taken for a foreign Docker.
 */
export const SHARED_BINARIES: readonly string[] = ["ctr"];

export const CONTAINERD_UNIT = "containerd.service";
export const DOCKER_UNIT = "docker.service";
export const UNIT_DIR = "/etc/systemd/system";

export const binaryPath = (name: string): string => `${STATIC_BIN_DIR}/${name}`;
export const unitPath = (unit: string): string => `${UNIT_DIR}/${unit}`;

/**
 * The header of both units. It names the tarball's sha256 (hex only, never
 * its bundle path: a unit file must not take text it cannot trust), so a
 * unit that holds what is wanted also proves that the binaries beside it
 * came from that tarball: the install writes the units only after the
 * binaries, and a new tarball makes both units differ.
 */
function header(tarballSha256: string): string {
  return `# Written by groundcrew (docker.static) for Docker's static binaries, tarball sha256 ${tarballSha256}.`;
}

/** containerd's upstream unit, with the binary in /usr/local/bin. */
export function renderContainerdUnit(tarballSha256: string): string {
  return [
    header(tarballSha256),
    "[Unit]",
    "Description=containerd container runtime",
    "Documentation=https://containerd.io",
    "After=network.target local-fs.target dbus.service",
    "",
    "[Service]",
    "ExecStartPre=-/sbin/modprobe overlay",
    `ExecStart=${binaryPath("containerd")}`,
    "Type=notify",
    "Delegate=yes",
    "KillMode=process",
    "Restart=always",
    "RestartSec=5",
    "LimitNPROC=infinity",
    "LimitCORE=infinity",
    "TasksMax=infinity",
    "OOMScoreAdjust=-999",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/**
 * moby's unit without socket activation: dockerd listens on its default
 * /run/docker.sock (group `docker`, which the install creates) and uses the
 * containerd of containerd.service.
 */
export function renderDockerUnit(tarballSha256: string): string {
  return [
    header(tarballSha256),
    "[Unit]",
    "Description=Docker Application Container Engine",
    "Documentation=https://docs.docker.com",
    `After=network-online.target nss-lookup.target firewalld.service time-set.target ${CONTAINERD_UNIT}`,
    `Wants=network-online.target ${CONTAINERD_UNIT}`,
    "",
    "[Service]",
    "Type=notify",
    `ExecStart=${binaryPath("dockerd")} --containerd=/run/containerd/containerd.sock`,
    "ExecReload=/bin/kill -s HUP $MAINPID",
    "TimeoutStartSec=0",
    "RestartSec=2",
    "Restart=always",
    "StartLimitBurst=3",
    "StartLimitInterval=60s",
    "LimitNOFILE=1048576",
    "LimitNPROC=infinity",
    "LimitCORE=infinity",
    "TasksMax=infinity",
    "Delegate=yes",
    "KillMode=process",
    "OOMScoreAdjust=-500",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/** The unit files docker.static writes, in the order it writes them. */
export function staticUnits(tarballSha256: string): { path: string; content: string; mode: number }[] {
  return [
    { path: unitPath(CONTAINERD_UNIT), content: renderContainerdUnit(tarballSha256), mode: 0o644 },
    { path: unitPath(DOCKER_UNIT), content: renderDockerUnit(tarballSha256), mode: 0o644 },
  ];
}
