import { access } from "node:fs/promises";
import path from "node:path";
import { agentFileName } from "../../server/agent-binary.js";
import { dockerClient } from "../../server/lab/docker.js";
import { ensureMachineImage } from "../../server/lab/image-build.js";
import { reapStaleLabs } from "../../server/lab/lab.js";

/**
 * Runs once before the integration tests: the Docker engine must answer, the
 * agent must be built, and the lab image is built here (once) rather than by
 * whichever test file starts first. Leftovers of killed runs are reaped.
 */
export default async function setup(): Promise<void> {
  const agent = path.resolve("dist", agentFileName());
  await access(agent).catch(() => {
    throw new Error(`integration tests need the agent executable ${agent}: run \`npm run build\` first`);
  });
  const client = await dockerClient();
  await reapStaleLabs(client);
  await ensureMachineImage(client, {
    onProgress: (message) => {
      console.log(`[lab] ${message}`);
    },
  });
}
