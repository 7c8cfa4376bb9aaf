/**
 * Where groundcrew puts itself on a host. Everything lives under one root so
 * that `reset` can remove exactly it; the only file outside is the unit.
 */
export const HOST_ROOT = "/var/lib/groundcrew";
export const AGENT_DIR = `${HOST_ROOT}/agent`;
export const AGENT_BINARY = `${AGENT_DIR}/bin/groundcrew-agent`;
export const AGENT_CONFIG = `${AGENT_DIR}/config.json`;
export const AGENT_STATE_DIR = `${AGENT_DIR}/state`;
export const AGENT_TLS_DIR = `${AGENT_DIR}/tls`;
export const AGENT_UNIT_NAME = "groundcrew-agent.service";
export const AGENT_UNIT_PATH = `/etc/systemd/system/${AGENT_UNIT_NAME}`;

/** The agent's systemd unit: restarted when it dies, started again at boot so a reboot mid-run resumes. */
export function agentUnit(): string {
  return [
    "[Unit]",
    "Description=groundcrew agent: runs this host's provisioning plan and reports to the provisioner",
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    "Type=simple",
    `ExecStart=${AGENT_BINARY} serve --config ${AGENT_CONFIG}`,
    "Restart=on-failure",
    "RestartSec=2",
    // The provisioner refused this agent or run: restarting would only be refused again.
    "RestartPreventExitStatus=3",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/** The depot's artifact server: the agent binary in `depot serve` mode, as its own unit. */
export const DEPOT_PORT = 7444;
export const DEPOT_DIR = `${HOST_ROOT}/depot`;
export const DEPOT_CONFIG = `${DEPOT_DIR}/config.json`;
export const DEPOT_UNIT_NAME = "groundcrew-depot.service";
export const DEPOT_UNIT_PATH = `/etc/systemd/system/${DEPOT_UNIT_NAME}`;

/** The depot unit: serves the host's artifact store to the fleet (mutual TLS) until `reset`. */
export function depotUnit(): string {
  return [
    "[Unit]",
    "Description=groundcrew depot: serves this host's artifact store to the other hosts (mutual TLS)",
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    "Type=simple",
    `ExecStart=${AGENT_BINARY} depot serve --config ${DEPOT_CONFIG}`,
    "Restart=always",
    "RestartSec=2",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/**
 * Secrets the provisioner delivers over SSH (0600, root) for steps to read:
 * never plan parameters, so they never travel in a plan or reach the journal.
 */
export const SECRETS_DIR = `${AGENT_DIR}/secrets`;
export const K3S_TOKEN_FILE = `${SECRETS_DIR}/k3s-token`;
export const REGISTRY_TLS_FILES = {
  cert: `${AGENT_TLS_DIR}/registry.pem`,
  key: `${SECRETS_DIR}/registry-key.pem`,
} as const;
