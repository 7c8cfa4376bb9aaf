import { stringify } from "yaml";
import { writeFileAtomic } from "./files.js";

export const DEFAULT_KUBECONFIG = "/etc/rancher/k3s/k3s.yaml";

/**
 * Writes the admin kubeconfig as k3s does on every server start: one
 * cluster, context and user, all named "default", the server at
 * https://127.0.0.1:<port> with the cluster CA inline, and (unlike k3s,
 * which uses a client certificate) a bearer token. `mode` is the file's
 * exact mode (write-kubeconfig-mode; 0600 by default).
 */
export async function writeKubeconfig(
  file: string,
  options: { port: number; caPem: string; token: string; mode: number },
): Promise<void> {
  const document = {
    apiVersion: "v1",
    clusters: [
      {
        cluster: {
          "certificate-authority-data": Buffer.from(options.caPem).toString("base64"),
          server: `https://127.0.0.1:${options.port}`,
        },
        name: "default",
      },
    ],
    contexts: [{ context: { cluster: "default", user: "default" }, name: "default" }],
    "current-context": "default",
    kind: "Config",
    preferences: {},
    users: [{ name: "default", user: { token: options.token } }],
  };
  await writeFileAtomic(file, stringify(document), options.mode);
}
