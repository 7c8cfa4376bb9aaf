import { FatalError, messageOf } from "./fatal.js";
import { goArch, kernelVersion, osImage } from "./host-info.js";
import { NotReadyError } from "./join.js";
import { error as logError, info } from "./log.js";
import type { NodeOptions } from "./node-options.js";
import { probeNodeStatus } from "./node-status.js";
import type { Registration } from "./protocol.js";

/** How often nodes heartbeat (the server calls a node Ready while its last heartbeat is under 20 s old). */
export const HEARTBEAT_MS = 5_000;
const RETRY_MS = 5_000;

/** This node's registration: its labels and taints, addresses, node info and status. */
export async function registration(
  role: "server" | "agent",
  options: NodeOptions,
  internalIp: string,
): Promise<Registration> {
  return {
    role,
    labels: { ...options.labels },
    taints: [...options.taints],
    internalIp,
    ...(options.nodeExternalIp === undefined ? {} : { externalIp: options.nodeExternalIp }),
    hostname: options.nodeName,
    arch: goArch(),
    osImage: await osImage(),
    kernelVersion: kernelVersion(),
    status: await probeNodeStatus(options.dataDir),
  };
}

/**
 * Runs `attempt` until it succeeds. A NotReadyError is logged the way k3s
 * logs a server that is not ready yet and retried every 5 s; any other error
 * (a FatalError: a refused token) ends the wait.
 */
export async function retryUntilReady<T>(attempt: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof NotReadyError)) throw error;
      info(`Waiting to retrieve agent configuration; server is not ready: ${error.message}`);
      await sleep(RETRY_MS);
    }
  }
}

/**
 * Calls `beat` now (once the host is set up, so the status it sends is
 * current) and then every 5 s; errors are logged, never thrown. Returns a
 * function that stops it.
 */
export function heartbeatLoop(beat: () => Promise<void>): () => void {
  const once = (): void => {
    beat().catch((error: unknown) => {
      logError(`Failed to update node status, will retry: ${messageOf(error)}`);
    });
  };
  once();
  const timer = setInterval(once, HEARTBEAT_MS);
  return () => {
    clearInterval(timer);
  };
}

/** Logs what a heartbeat answer means, as the kubelet would (200 is silent). */
export function reportHeartbeat(nodeName: string, status: number): void {
  if (status === 200) return;
  if (status === 404) {
    logError(
      `Error updating node status, will retry: error getting node "${nodeName}": nodes "${nodeName}" not found`,
    );
  } else if (status === 401) {
    logError("Error updating node status, will retry: Unauthorized");
  } else {
    logError(`Error updating node status, will retry: ${status}`);
  }
}

/** Resolves on SIGTERM or SIGINT (systemctl stop / restart). */
export function waitForStop(): Promise<string> {
  return new Promise((resolve) => {
    const stop = (signal: string): void => {
      resolve(signal);
    };
    process.once("SIGTERM", () => {
      stop("SIGTERM");
    });
    process.once("SIGINT", () => {
      stop("SIGINT");
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The token or fail as k3s does when none is configured. */
export function requireToken(token: string | undefined): string {
  if (token === undefined || token === "") throw new FatalError("--token is required");
  return token;
}
