import type { ReadonlyFs } from "../../shared/host-io.js";
import type { RegistryTarget } from "../registry/registry-client.js";
import { fileOp } from "../runner/host-calls.js";

/**
 * The depot registry as seen from the depot itself: loopback (its
 * certificate names 127.0.0.1), trusting only groundcrew's CA (`caFile`,
 * PEM) when it serves TLS; plain HTTP without one.
 */
export async function localRegistryTarget(
  fs: ReadonlyFs,
  port: number,
  caFile: string | undefined,
): Promise<RegistryTarget> {
  if (caFile === undefined) return { url: `http://127.0.0.1:${port}` };
  const ca = await fileOp("read", caFile, () => fs.readText(caFile));
  return { url: `https://127.0.0.1:${port}`, ca };
}

/** Polls `probe` every half second until it resolves true; false when `timeoutMs` passes first. */
export async function waitFor(probe: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
