import type { z } from "zod";
import { K3S } from "../../agent/steps/k3s-files.js";
import type { Exec } from "../../shared/host-io.js";

const KUBECTL_TIMEOUT_MS = 30_000;

/** What one `k3s kubectl` call on a server gave: the parsed object, NotFound, or why it failed. */
export type KubectlAnswer<T> =
  | { readonly kind: "ok"; readonly value: T }
  | { readonly kind: "not-found" }
  | { readonly kind: "failed"; readonly problem: string };

function firstLine(text: string): string {
  return (text.trim().split("\n")[0] ?? "").slice(0, 300);
}

/**
 * `k3s kubectl <args> -o json` on a server (run as root, with its admin
 * kubeconfig), the output parsed by `schema`. kubectl's "(NotFound)" error is
 * its own answer; any other failure (API down, output not matching the
 * schema) is "failed" with kubectl's first line. Never throws for what the
 * cluster answers; rejects only when the command cannot be started.
 */
export async function kubectlJson<S extends z.ZodType>(
  server: Exec,
  args: readonly string[],
  schema: S,
): Promise<KubectlAnswer<z.infer<S>>> {
  const result = await server.run([K3S.binary, "kubectl", ...args, "-o", "json"], {
    timeoutMs: KUBECTL_TIMEOUT_MS,
  });
  if (result.code !== 0) {
    return result.stderr.includes("(NotFound)")
      ? { kind: "not-found" }
      : { kind: "failed", problem: firstLine(result.stderr) || `kubectl exited ${result.code}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(result.stdout);
  } catch {
    return { kind: "failed", problem: `kubectl ${args.join(" ")} printed no JSON` };
  }
  const parsed = schema.safeParse(json);
  return parsed.success
    ? { kind: "ok", value: parsed.data as z.infer<S> }
    : {
        kind: "failed",
        problem: `kubectl ${args.join(" ")}: unexpected output (${parsed.error.issues[0]?.message ?? ""})`,
      };
}

/** `k3s kubectl <args>` for a change (patch, label): resolves undefined on success, else kubectl's first error line. */
export async function kubectlChange(server: Exec, args: readonly string[]): Promise<string | undefined> {
  const result = await server.run([K3S.binary, "kubectl", ...args], { timeoutMs: KUBECTL_TIMEOUT_MS });
  return result.code === 0 ? undefined : firstLine(result.stderr) || `kubectl exited ${result.code}`;
}
