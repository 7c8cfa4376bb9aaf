import { getContainerRuntimeClient, type ContainerRuntimeClient } from "testcontainers";
import { GroundcrewError } from "../../shared/errors.js";

export type DockerClient = ContainerRuntimeClient;
export type Dockerode = ContainerRuntimeClient["container"]["dockerode"];

/**
 * The Docker engine the lab runs on. Ryuk (testcontainers' reaper) is turned
 * off: its image cannot be pulled without a registry, and the lab reaps its
 * own leftovers by label instead (lab.ts).
 * Throws GroundcrewError LAB_DOCKER_UNAVAILABLE when no engine answers.
 */
export async function dockerClient(): Promise<DockerClient> {
  process.env["TESTCONTAINERS_RYUK_DISABLED"] ??= "true";
  try {
    return await getContainerRuntimeClient();
  } catch (cause) {
    throw new GroundcrewError(
      "LAB_DOCKER_UNAVAILABLE",
      "no Docker engine answers: start dockerd (or set DOCKER_HOST) and make sure this user may use it",
      { cause, retryable: true },
    );
  }
}
