import type { PlanStep } from "../../shared/protocol.js";
import type { ClusterManifests } from "./manifests/cluster-manifests.js";

/** The k3s.manifests step a server runs after k3s.install: the same manifests and charts on every server. */
export function manifestsStep(manifests: ClusterManifests): PlanStep {
  const charts = manifests.charts.length > 0 ? ` and ${manifests.charts.length} chart(s)` : "";
  return {
    id: "k3s.manifests",
    title: `Place ${manifests.manifests.length} auto-deploy manifest(s)${charts} for k3s`,
    params: {
      manifests: manifests.manifests.map(({ name, content }) => ({ name, content })),
      charts: manifests.charts.map(({ file, artifact }) => ({ file, artifact })),
    },
  };
}
