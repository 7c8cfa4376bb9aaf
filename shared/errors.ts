/**
 * Errors carry a stable code (match on it, never on message text), the
 * context needed to act on them, an optional cause, and whether retrying the
 * same operation may succeed.
 */
export const ERROR_CODES = {
  LAB_DOCKER_UNAVAILABLE: "the Docker engine cannot be reached",
  LAB_IMAGE_BUILD_FAILED: "the lab machine image could not be built",
  LAB_MACHINE_NOT_READY: "a lab machine did not come up in time",
  SSH_CONNECT_FAILED: "an SSH connection could not be established",
  SSH_HOSTKEY_MISMATCH: "the SSH host key is not the expected one",
  SSH_HOSTKEY_UNKNOWN: "the SSH host key of a host seen for the first time was not accepted",
  SSH_KNOWN_HOSTS_INVALID: "the pinned SSH host keys file is unreadable",
  SSH_COMMAND_FAILED: "a command run over SSH failed",
  SUDO_PASSWORD_MISSING: "sudo needs a password and none was given",
  AGENT_CONFIG_INVALID: "the agent's config file is missing or malformed",
  AGENT_PUSH_FAILED: "the agent could not be pushed to a host",
  FACTS_UNREADABLE: "a host fact could not be read",
  INVENTORY_INVALID: "the inventory file is not valid",
  INVENTORY_UNREADABLE: "the inventory file cannot be read",
  INVENTORY_OUTPUT_EXISTS: "the output file exists (pass --force to overwrite it)",
  JOURNAL_NOT_FOUND: "there is no journal yet",
  JOURNAL_OPEN_FAILED: "the journal could not be opened",
  JOURNAL_IN_USE: "the journal is in use by another groundcrew process",
  JOURNAL_SCHEMA_TOO_NEW: "the journal was written by a newer groundcrew",
  JOURNAL_SCHEMA_OUTDATED: "the journal needs a migration that a read-only open cannot apply",
  JOURNAL_READ_ONLY: "the journal was opened read-only",
  JOURNAL_CLOSED: "the journal is closed",
  JOURNAL_INVALID: "a value given to the journal is invalid",
  JOURNAL_RUN_EXISTS: "a run with this id is already journaled",
  JOURNAL_UNKNOWN_RUN: "the run is not in the journal",
  JOURNAL_UNKNOWN_HOST: "the host does not take part in the run",
  JOURNAL_GAP: "an event does not directly follow the last journaled one",
  JOURNAL_CONFLICT: "an event differs from the one already journaled with the same seq",
  JOURNAL_WRITE_FAILED: "the journal could not be written",
  JOURNAL_READ_FAILED: "the journal could not be read",
  JOURNAL_CORRUPT: "the journal holds a row that is not valid",
  PLAN_INVALID: "the plan is missing or not valid",
  STEP_UNKNOWN: "the plan names a step this agent does not have",
  STEP_PARAMS_INVALID: "a step's parameters are not valid",
  STEP_CHECK_NOT_READ_ONLY: "a step's check ran a command it did not declare as a read-only probe",
  STEP_VERIFY_FAILED: "a step's result on the host is not the expected one",
  STEP_INTERNAL: "a step failed with an unexpected error",
  HOST_IO_FAILED: "a file on the host could not be read or written",
  HOST_COMMAND_FAILED: "a command on the host failed or could not be started",
  SWAP_STILL_ACTIVE: "swap is still active after turning it off",
  KERNEL_MODULE_UNAVAILABLE: "a kernel feature is absent and its module could not be loaded",
  SYSCTL_UNAVAILABLE: "a kernel parameter does not exist on this host",
  SYSCTL_MISMATCH: "a kernel parameter does not have the wanted value",
  AGENT_STATE_CORRUPT: "a file in the agent's state directory is not valid",
  PKI_STATE_INVALID: "the PKI files in the state directory are missing, damaged or inconsistent",
  PKI_NAME_INVALID: "a host name or address cannot be put in a certificate",
  PKI_HOST_UNKNOWN: "no certificate was ever issued to this host from this state directory",
  PKI_BUSY: "another groundcrew process kept the PKI registry locked too long",
  AGENT_TLS_REFUSED: "an agent connection was refused: its certificate is invalid, unknown or revoked",
  AGENT_PROTOCOL_VIOLATION: "an agent broke the protocol; its connection was dropped",
  AGENT_DUPLICATE: "a second agent claimed a host that already has a live connection",
  AGENT_JOURNAL_FAILED: "an agent's event could not be committed to the journal",
  AGENT_CALLBACK_FAILED: "a provisioner callback failed while serving an agent",
  AGENT_CONNECTION_FAILED: "the agent's connection to the provisioner failed",
  BUNDLE_UNREADABLE: "the bundle cannot be read",
  BUNDLE_INVALID: "the bundle's manifest is not valid",
  BUNDLE_UNSAFE_PATH: "a bundle path would escape the bundle or is not a plain relative path",
  BUNDLE_ARTIFACT_MISSING: "an artifact named in the manifest is not in the bundle",
  BUNDLE_ARTIFACT_MISMATCH: "an artifact's size or sha256 differs from the manifest",
  BUNDLE_UNLISTED_FILE: "the bundle holds a file its manifest does not list",
  BUNDLE_SIGNATURE_MISSING: "a signature is required and the bundle has none",
  BUNDLE_SIGNATURE_INVALID: "the bundle's signature does not match the manifest and the trusted key",
  BUNDLE_KEY_INVALID: "a bundle signing key cannot be read",
  BUNDLE_LOCK_INVALID: "the bundle lock file is not valid",
  BUNDLE_DOWNLOAD_FAILED: "an artifact could not be downloaded",
  BUNDLE_OUTPUT_EXISTS: "the bundle output exists (pass --force to replace it)",
  BUNDLE_IMAGES_MISSING: "a chart needs images that no image archive of the bundle holds",
  CAS_INVALID_REQUEST: "a content store request is malformed",
  CAS_WRITE_FAILED: "an artifact could not be stored on the host",
  CAS_VERIFY_FAILED: "an artifact arrived with the wrong size or sha256",
  CAS_FETCH_FAILED: "an artifact could not be fetched from any source",
  RESET_NOT_CONFIRMED: "reset was not confirmed",
  IMAGE_ARCHIVE_INVALID: "an image archive is not a docker-save or OCI layout archive, or is damaged",
  IMAGE_REFERENCE_INVALID: "an image name or tag does not follow the OCI grammar",
  IMAGE_SPEC_INVALID: "an image to build has an unsafe or conflicting path, or an invalid mode or setting",
  IMAGE_SOURCE_INVALID:
    "a file an image is built from is missing, or is not the package or architecture wanted",
  REGISTRY_UNREACHABLE: "the depot registry does not answer",
  REGISTRY_PUSH_FAILED: "the registry refused a blob or manifest",
  K3S_NOT_READY: "k3s did not become ready on a host",
  K3S_PRESENT: "a k3s groundcrew did not install is on the host",
  HOST_REBOOT_TIMEOUT: "a step asked the host to reboot and the host did not go down in time",
  NVIDIA_NOUVEAU_LOADED: "the nouveau driver is loaded where the NVIDIA driver must run",
  NVIDIA_HEADERS_MISSING:
    "the running kernel has no headers, and the bundle has none for it, to build the NVIDIA driver",
  NVIDIA_DRIVER_FOREIGN: "an NVIDIA driver groundcrew did not install is on the host and does not work",
  NVIDIA_DRIVER_NOT_WORKING: "nvidia-smi does not list the host's GPUs",
  NVIDIA_RUNTIME_MISSING: "k3s's containerd config has no nvidia runtime",
  CLUSTER_NOT_READY: "not every node of the cluster became Ready",
  KUBECONFIG_UNAVAILABLE: "the cluster's kubeconfig could not be fetched",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface GroundcrewErrorOptions {
  readonly context?: Readonly<Record<string, string | number | boolean>>;
  readonly cause?: unknown;
  readonly retryable?: boolean;
}

export class GroundcrewError extends Error {
  readonly code: ErrorCode;
  readonly context: Readonly<Record<string, string | number | boolean>>;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: GroundcrewErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "GroundcrewError";
    this.code = code;
    this.context = options.context ?? {};
    this.retryable = options.retryable ?? false;
  }
}

export function isGroundcrewError(error: unknown, code?: ErrorCode): error is GroundcrewError {
  return error instanceof GroundcrewError && (code === undefined || error.code === code);
}
