import { z } from "zod";
import type { Exec } from "../../../shared/host-io.js";
import { kubectlJson } from "../kubectl.js";

const DAEMONSET = "nvidia-device-plugin-daemonset";

const daemonSetSchema = z.object({
  status: z
    .object({ desiredNumberScheduled: z.number().default(0), numberReady: z.number().default(0) })
    .default({ desiredNumberScheduled: 0, numberReady: 0 }),
});

/** Why GPU nodes offer no nvidia.com/gpu yet, from the device plugin DaemonSet's status (for the report). */
export async function devicePluginNote(server: Exec): Promise<string> {
  const answer = await kubectlJson(
    server,
    ["get", "daemonsets.apps", DAEMONSET, "-n", "kube-system"],
    daemonSetSchema,
  );
  if (answer.kind === "not-found") return `k3s has not applied the ${DAEMONSET} DaemonSet yet`;
  if (answer.kind === "failed") return answer.problem;
  const { desiredNumberScheduled, numberReady } = answer.value.status;
  return `the device plugin runs on ${numberReady} of ${desiredNumberScheduled} GPU node(s) and this node offers no nvidia.com/gpu`;
}
